//! `chatroom-original-client`: step 0's client (the Python original's client in Rust) under
//! the name `make compare` runs it by. Same as `chatroom-step 0 client`.

fn main() -> std::process::ExitCode {
    let flags: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: chatroom-original-client --server ADDR [--headless]";
    chatroom_ladder::run_named(
        "chatroom-original-client",
        usage,
        &flags,
        chatroom_ladder::step0::client::run,
    )
}
