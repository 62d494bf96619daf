//! `chatroom-step`: runs one step of the ladder, or lists them.
//!
//! ```text
//! chatroom-step list
//! chatroom-step N server [--bind 127.0.0.1:1234] [--videos videos]
//! chatroom-step N client [--server 127.0.0.1:1234]
//! ```

use std::process::ExitCode;

use chatroom_ladder::{PRODUCT, STEPS, run_named};

const USAGE: &str = "usage: chatroom-step list
       chatroom-step N server [--bind 127.0.0.1:1234] [--videos videos]
       chatroom-step N client [--server 127.0.0.1:1234] [--headless]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for (n, step) in STEPS.iter().enumerate() {
                println!("step {n}: {}", step.idea);
            }
            println!("then: {PRODUCT}");
            ExitCode::SUCCESS
        }
        Some("-h" | "--help") => {
            println!("The ladder: the Python original's port, then one idea a step.\n\n{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("chatroom-step {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => run(&args),
    }
}

fn run(args: &[String]) -> ExitCode {
    let usage = |why: &str| {
        eprintln!("chatroom-step: {why}\n{USAGE}");
        ExitCode::from(2)
    };
    let step = match args.first().map(|n| n.parse::<usize>()) {
        Some(Ok(n)) if n < STEPS.len() => &STEPS[n],
        Some(_) => return usage(&format!("no step {}: 0 to {}", args[0], STEPS.len() - 1)),
        None => return usage("which step?"),
    };
    let side = match args.get(1).map(String::as_str) {
        Some("server") => step.server,
        Some("client") => step.client,
        _ => return usage("server or client?"),
    };
    run_named("chatroom-step", USAGE, args.get(2..).unwrap_or_default(), side)
}
