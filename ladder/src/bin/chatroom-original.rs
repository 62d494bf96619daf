//! `chatroom-original`: step 0's server (the Python original's design in Rust) under the name
//! `make compare` runs it by. Same as `chatroom-step 0 server`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flags: Vec<String> = std::env::args().skip(1).collect();
    chatroom_ladder::step0::server::run(&chatroom_ladder::common::Args::parse(&flags)?)
}
