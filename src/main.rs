//! The `chatroom` command: parses the command line (SPEC §3) and dispatches. Errors are printed
//! once, here, as `chatroom: error: ...`, and become exit code 1.

use clap::{Parser, Subcommand};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use chatroom::client::{self, ClientConfig};
use chatroom::keys;
use chatroom::server::{self, ServerConfig};
use chatroom::video;

#[derive(Parser)]
#[command(
    version,
    about = "A terminal chat room with end-to-end encrypted direct messages and video streaming over TCP."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: the user directory, the chat relay and the video streams.
    Server {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:1234")]
        bind: String,
        /// Folder of NAME_RESOLUTION.mp4 videos to offer.
        #[arg(long, default_value = "videos")]
        videos: PathBuf,
        /// JPEG quality of streamed frames (1-100).
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(i32).range(1..=100))]
        jpeg_quality: i32,
        /// Send frames as fast as possible instead of at the video's frame rate.
        #[arg(long)]
        no_pace: bool,
        /// Most connections at once; one more is refused.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_clients: u32,
        /// Memory for the shared cache of encoded frames, in MiB.
        #[arg(long, default_value_t = 256)]
        cache_mb: usize,
        /// Chat messages a second each client may send (0: no limit, for benchmarks).
        #[arg(long, default_value_t = 1000)]
        chat_rate: u32,
    },
    /// Run the terminal client.
    Client {
        /// Server address.
        #[arg(long, default_value = "127.0.0.1:1234")]
        server: String,
        /// User name; prompted for when absent.
        #[arg(long)]
        name: Option<String>,
        /// Never open a video window; print progress lines instead.
        #[arg(long)]
        headless: bool,
        /// Save every received video frame as DIR/{index:06}_{label}.jpg.
        #[arg(long, value_name = "DIR")]
        save_frames: Option<PathBuf>,
        /// RSA key size in bits.
        #[arg(long, default_value_t = keys::DEFAULT_KEY_BITS as u32,
              value_parser = clap::value_parser!(u32).range(keys::MIN_KEY_BITS as i64..=keys::MAX_KEY_BITS as i64))]
        key_bits: u32,
        /// Print every frame sent and received (direction, tag, length, first bytes) to stderr.
        #[arg(long)]
        trace: bool,
    },
    /// Write the synthetic demo videos (two videos, three resolutions each) into DIR.
    MakeVideos {
        /// Folder to write into (created if missing).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatroom: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Server { bind, videos, jpeg_quality, no_pace, max_clients, cache_mb, chat_rate } => {
            let listener = TcpListener::bind(&bind).map_err(|e| format!("cannot listen on {bind}: {e}"))?;
            println!("Server listening on {}", listener.local_addr()?);
            let config = ServerConfig {
                max_clients: max_clients as usize,
                videos,
                jpeg_quality,
                pace: !no_pace,
                cache_mb,
                chat_rate,
                chat_burst: chat_rate.max(1),
                ..ServerConfig::default()
            };
            server::run(listener, config)?;
        }
        Command::Client { server, name, headless, save_frames, key_bits, trace } => {
            client::run(ClientConfig { server, name, headless, save_frames, key_bits: key_bits as usize, trace })?;
        }
        Command::MakeVideos { dir } => {
            for path in video::make_demo_videos(&dir)? {
                let size = std::fs::metadata(&path)?.len();
                println!("wrote {} ({} KB)", path.display(), size.div_ceil(1024));
            }
        }
    }
    Ok(())
}
