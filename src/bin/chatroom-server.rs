//! `chatroom-server`: `chatroom server` without OpenCV. `chatroom server` runs this program in
//! its place (same process id, same arguments) whenever `--decoder` is `ffmpeg`, the default,
//! so a server process never loads OpenCV's libraries unless it reads video with OpenCV
//! (src/cli.rs says why). Its flags are exactly `chatroom server`'s.

use clap::Parser;
use std::process::ExitCode;

use chatroom::cli::{self, ServerArgs};
use chatroom::report::Chain;
use chatroom::video::source::{Decoder, Engine};

/// The chat room's server without OpenCV: what `chatroom server` runs for the default decoder.
#[derive(Parser)]
#[command(name = "chatroom server", version)]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let result = match cli.args.decoder {
        Decoder::Ffmpeg => cli::run_server(cli.args, Engine::Ffmpeg),
        Decoder::OpenCv => {
            Err("--decoder opencv: run `chatroom server`, which links OpenCV".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatroom: error: {}", Chain(&*e));
            ExitCode::FAILURE
        }
    }
}
