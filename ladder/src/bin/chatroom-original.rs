//! `chatroom-original`: step 0's server (the Python original's design in Rust) under the name
//! `make compare` runs it by. Same as `chatroom-step 0 server`.

fn main() -> std::process::ExitCode {
    chatroom_ladder::run_named("chatroom-original", "--bind ADDR --videos DIR", |args| {
        chatroom_ladder::step0::server::run(args)
    })
}
