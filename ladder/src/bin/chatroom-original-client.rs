//! `chatroom-original-client`: step 0's client (the Python original's client in Rust) under the
//! name `make compare` runs it by. Same as `chatroom-step 0 client`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flags: Vec<String> = std::env::args().skip(1).collect();
    chatroom_ladder::step0::client::run(&chatroom_ladder::common::Args::parse(&flags)?)
}
