//! `chatroom-original`: step 0's server (the Python original's design in Rust) under the name
//! `make compare` runs it by. Same as `chatroom-step 0 server`.

fn main() -> std::process::ExitCode {
    let flags: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: chatroom-original --bind ADDR --videos DIR";
    chatroom_ladder::run_named(
        "chatroom-original",
        usage,
        &flags,
        chatroom_ladder::step0::server::run,
    )
}
