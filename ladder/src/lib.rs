//! The ladder: from the Python original to the chatroom product, one idea a step.
//!
//! Each step is a whole small server and client in `ladder/stepN/`, standalone, and one idea
//! away from the step before; `scripts/ladder-diff.sh N` shows that idea as a plain diff.
//! `ladder/common/` holds what no step teaches (the command line, the original's `input()`,
//! opening and showing a video as the original did). docs/LADDER.md says which bug of the
//! original each step fixes, as `make ladder` measured it.
//!
//! # Layout
//! - `step0`: the literal port (the original's design, protocol and bugs);
//! - `step1`: framing (every message a tagged, length-prefixed frame, read whole);
//! - `step2`: routing (a chat to its recipient only, stamped with its sender by the server);
//! - `step3`: a writer thread per client (a bounded queue; no socket written by two threads);
//! - `step4`: sealing done right (a hybrid envelope, signed, with a replay guard);
//! - `step5`: streaming done right (the exact split, labelled frames, pacing, stop).

#[path = "../common/mod.rs"]
pub mod common;
#[path = "../step0/mod.rs"]
pub mod step0;
#[path = "../step1/mod.rs"]
pub mod step1;
#[path = "../step2/mod.rs"]
pub mod step2;
#[path = "../step3/mod.rs"]
pub mod step3;
#[path = "../step4/mod.rs"]
pub mod step4;
#[path = "../step5/mod.rs"]
pub mod step5;

use std::process::ExitCode;

use common::Args;

/// One rung: its one idea, its server and its client (its number is its place in [`STEPS`]).
pub struct Step {
    pub idea: &'static str,
    pub server: fn(&Args) -> Result<(), Box<dyn std::error::Error>>,
    pub client: fn(&Args) -> Result<(), Box<dyn std::error::Error>>,
}

/// The steps in order, step 0 first.
pub const STEPS: &[Step] = &[
    Step { idea: step0::IDEA, server: step0::server::run, client: step0::client::run },
    Step { idea: step1::IDEA, server: step1::server::run, client: step1::client::run },
    Step { idea: step2::IDEA, server: step2::server::run, client: step2::client::run },
    Step { idea: step3::IDEA, server: step3::server::run, client: step3::client::run },
    Step { idea: step4::IDEA, server: step4::server::run, client: step4::client::run },
    Step { idea: step5::IDEA, server: step5::server::run, client: step5::client::run },
];

/// After the last step: the product, and what the steps leave out.
pub const PRODUCT: &str = "the product (`chatroom server`, `chatroom client`): adds the store \
and delivery that lose nothing, identity and trust on first use, rooms, the frame cache, video \
in the terminal, and a budget for every request";

/// The end of a `main` that runs one side of a step (`chatroom-step N server`,
/// `chatroom-original`): `--help` among `flags` prints `usage` and exits 0, a bad flag exits 2
/// with `usage`, an error prints once, `NAME: error: ...`, and exits 1.
pub fn run_named(
    name: &str,
    usage: &str,
    flags: &[String],
    run: impl FnOnce(&Args) -> Result<(), Box<dyn std::error::Error>>,
) -> ExitCode {
    if flags.iter().any(|f| f == "-h" || f == "--help") {
        println!("{usage}");
        return ExitCode::SUCCESS;
    }
    let args = match Args::parse(flags) {
        Ok(args) => args,
        Err(why) => {
            eprintln!("{name}: {why}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e}");
            ExitCode::FAILURE
        }
    }
}
