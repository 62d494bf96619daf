//! The `chatroom` command: parses the command line (`chatroom --help`) and dispatches. Errors
//! are printed once, here, as `chatroom: error: ...` with their causes on the same line, and
//! become exit code 1. `chatroom server` is in `cli.rs`, shared with `chatroom-server`, which
//! it runs in its place for the default decoder.

use clap::{Args, Parser, Subcommand};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chatroom::cli::{ServerArgs, failed, key_bits, user_name};
use chatroom::client::ClientError;
use chatroom::client::player::Render;
use chatroom::client::start::{self, ClientConfig, KeySource};
use chatroom::config;
use chatroom::keys;
use chatroom::report::Chain;
use chatroom::video::demo;
use chatroom::video::opencv::OpenCv;
use chatroom::video::source::{Decoder, Engine};
use chatroom::{bench, cli};

/// A terminal chat room with end-to-end encrypted direct messages and video streaming over TCP.
#[derive(Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ClientArgs {
    /// Server address, host[:port] (port 1234 if none is given).
    #[arg(long, default_value = config::DEFAULT_ADDR, value_parser = config::address)]
    server: String,
    /// User name (1-32 ASCII letters, digits, _ . -, not starting with . or -); prompted for
    /// when absent.
    #[arg(long, value_parser = user_name)]
    name: Option<String>,
    /// Never draw video; print progress lines instead.
    #[arg(long)]
    headless: bool,
    /// Where video is drawn: an OpenCV window, or the terminal with half blocks. Default:
    /// the window when there is a display, else the terminal when stdout is one.
    #[arg(long, value_enum, conflicts_with = "headless")]
    render: Option<Render>,
    /// Save every received video frame as DIR/{index:06}_{label}.jpg.
    #[arg(long, value_name = "DIR")]
    save_frames: Option<PathBuf>,
    /// RSA key size in bits, for a new key.
    #[arg(long, default_value_t = keys::DEFAULT_KEY_BITS as u32, value_parser = key_bits())]
    key_bits: u32,
    /// The key file to use (made if missing). Default: one key per user name in the config
    /// folder (~/.config/chatroom/identities/NAME.pem).
    #[arg(long, value_name = "PATH", conflicts_with = "ephemeral")]
    identity: Option<PathBuf>,
    /// A throwaway key: nothing is read from or written to the config folder.
    #[arg(long)]
    ephemeral: bool,
    /// When the server is not there yet, or goes away, try again (with backoff, up to 60 s
    /// between tries) instead of exiting; a message not yet confirmed is sent again.
    #[arg(long)]
    reconnect: bool,
    /// Print every frame sent and received (direction, tag, length, first bytes) to stderr.
    #[arg(long)]
    trace: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the user directory, the chat relay and the video streams.
    Server(ServerArgs),
    /// Run the terminal client.
    Client(ClientArgs),
    /// Measure a running server with real clients (see docs/BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Write the synthetic demo videos (two videos, three resolutions each) into DIR.
    MakeVideos {
        /// Folder to write into (created if missing).
        dir: PathBuf,
        /// Write the benchmark videos instead, H.264: `bench` in 320x240, 640x480 and 1280x720,
        /// and `hd` in 1920x1080.
        #[arg(long)]
        bench: bool,
        /// Frames in each benchmark file (30 a second).
        #[arg(long, default_value_t = 900, requires = "bench")]
        frames: u32,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// N clients join; S of them send M messages each to the others. Run the server with
    /// --chat-rate 0 to measure it, not its rate limit.
    Chat {
        #[arg(long, default_value = config::DEFAULT_ADDR, value_parser = config::address)]
        server: String,
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Messages each sender sends.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// relay: pre-built envelopes (measures the server); e2e: real encryption and signatures.
        #[arg(long, value_enum, default_value_t = bench::ChatMode::Relay)]
        mode: bench::ChatMode,
        /// Messages a second per sender (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u32,
        #[arg(long, default_value_t = 2048)]
        key_bits: usize,
        /// Keep the clients joined and idle this many seconds after the run (to read the
        /// server's memory with them connected).
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Speak the Python original's protocol, to run the same workload against its server
        /// (relay mode only).
        #[arg(long)]
        original: bool,
        /// Measure a room of N members instead (2-32): one member seals --messages messages
        /// for the others; reports the sealing cost per member and the envelopes delivered a
        /// second.
        #[arg(long, value_name = "N", conflicts_with = "original",
              value_parser = clap::value_parser!(u32).range(2..=chatroom::wire::MAX_ROOM_MEMBERS as i64))]
        room: Option<u32>,
    },
    /// N clients stream the same video at once (run the server with --no-pace).
    Stream {
        #[arg(long, default_value = config::DEFAULT_ADDR, value_parser = config::address)]
        server: String,
        #[arg(long, default_value_t = 1)]
        clients: usize,
        #[arg(long)]
        video: String,
        #[arg(long)]
        json: bool,
        /// Speak the Python original's protocol, to run the same workload against its server.
        #[arg(long)]
        original: bool,
    },
    /// One room of N members watches VIDEO together (run the server with --min-key-bits
    /// 1024): how far apart each frame reaches them, and what each missed.
    Watch {
        #[arg(long, default_value = config::DEFAULT_ADDR, value_parser = config::address)]
        server: String,
        /// Members in the room.
        #[arg(long, default_value_t = 4)]
        room: usize,
        #[arg(long)]
        video: String,
        #[arg(long)]
        json: bool,
    },
    /// The yardstick for `bench stream`: FFmpeg decodes the frames a split stream of VIDEO
    /// sends, on the server's two decoder threads, with no JPEG and no socket (no server).
    Decode {
        /// The videos folder the server would serve.
        #[arg(long, default_value = config::DEFAULT_VIDEOS)]
        videos: PathBuf,
        #[arg(long)]
        video: String,
        /// Runs; the report gives the fastest.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatroom: error: {}", Chain(&*e));
            // A refused name is a usage error (2, as clap's), not a failure (1).
            match e.downcast_ref::<ClientError>() {
                Some(ClientError::NameRefused { .. }) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    match cli.command {
        Command::Server(args) => {
            let engine = match args.decoder {
                Decoder::Ffmpeg => {
                    // Returns only if chatroom-server could not take this process's place.
                    cli::become_lean_server();
                    Engine::Ffmpeg
                }
                Decoder::OpenCv => Engine::Plugged(&OpenCv),
            };
            cli::run_server(args, engine)
        }
        Command::Client(args) => {
            give_qt_a_runtime_dir();
            let render = match (args.headless, args.render) {
                (true, _) => Render::Headless,
                (false, render) => render.unwrap_or(Render::Auto),
            };
            let keys = match (args.ephemeral, args.identity) {
                (true, _) => KeySource::Ephemeral,
                (false, Some(path)) => KeySource::File(path),
                (false, None) => KeySource::Profile,
            };
            let config = ClientConfig {
                server: args.server,
                name: args.name,
                render,
                save_frames: args.save_frames,
                key_bits: args.key_bits as usize,
                keys,
                reconnect: args.reconnect,
                trace: args.trace,
            };
            Ok(start::run(config)?)
        }
        Command::Bench(command) => run_bench(command),
        Command::MakeVideos { dir, bench, frames } => {
            let written = if bench {
                demo::make_bench_video(&dir, frames)?
            } else {
                demo::make_demo_videos(&dir)?
            };
            for path in written {
                let size = std::fs::metadata(&path)?.len();
                println!("wrote {} ({} KB)", path.display(), size.div_ceil(1024));
            }
            Ok(())
        }
    }
}

/// Qt, which draws OpenCV's window, warns on stderr (the terminal, among the chat lines) when
/// `XDG_RUNTIME_DIR` is not set (`QStandardPaths: XDG_RUNTIME_DIR not set, defaulting to
/// ...`, over SSH or under `su`). It is given the folder it would use, made as it wants it:
/// ours, mode 0700. Called before any thread starts: setting the environment is safe then.
fn give_qt_a_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else { return };
    let dir = std::env::temp_dir().join(format!("runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let ours = std::fs::symlink_metadata(&dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o777 == 0o700);
    if ours {
        // SAFETY: no other thread runs yet, so nothing reads the environment meanwhile.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn run_bench(command: BenchCommand) -> Result<(), Box<dyn Error>> {
    match command {
        BenchCommand::Chat {
            server,
            clients,
            messages,
            senders,
            mode,
            rate,
            key_bits,
            hold,
            json,
            original,
            room,
        } => {
            let wait = Duration::from_secs(10);
            let hold =
                Duration::try_from_secs_f64(hold).map_err(failed(format!("--hold {hold}")))?;
            let bench = bench::ChatBench {
                server,
                clients,
                messages,
                senders,
                mode,
                rate,
                key_bits,
                wait,
                hold,
            };
            if let Some(members) = room {
                let report = bench::room::run(&bench, members as usize)?;
                println!("{}", if json { report.json() } else { report.text() });
                return Ok(());
            }
            let report =
                if original { bench::original::chat(&bench)? } else { bench::chat::run(&bench)? };
            println!("{}", if json { report.json() } else { report.text() });
        }
        BenchCommand::Stream { server, clients, video, json, original } => {
            let bench = bench::StreamBench { server, clients, video };
            let report = if original {
                bench::original::stream(&bench)?
            } else {
                bench::stream::run(&bench)?
            };
            println!("{}", if json { report.json() } else { report.text() });
        }
        BenchCommand::Watch { server, room, video, json } => {
            let report = bench::watch::run(&bench::WatchBench { server, members: room, video })?;
            println!("{}", if json { report.json() } else { report.text() });
        }
        BenchCommand::Decode { videos, video, runs, json } => {
            let report = bench::decode::run(&bench::DecodeBench { videos, video, runs })?;
            println!("{}", if json { report.json() } else { report.text() });
        }
    }
    Ok(())
}
