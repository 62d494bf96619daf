//! The `chatroom` command: parses the command line (`chatroom --help`) and dispatches. Errors
//! are printed once, here, as `chatroom: error: ...` with their causes on the same line, and
//! become exit code 1. Ctrl-C is turned into a clean server stop here, not in the library.

use clap::{Args, Parser, Subcommand};
use log::info;
use std::error::Error;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chatroom::bench;
use chatroom::client::ClientError;
use chatroom::client::player::Render;
use chatroom::client::start::{self, ClientConfig, KeySource};
use chatroom::config::{self, ServerConfig};
use chatroom::keys;
use chatroom::report::Chain;
use chatroom::server::Server;
use chatroom::store::{Opening, Store};
use chatroom::video::demo;
use chatroom::video::source::Decoder;

/// A terminal chat room with end-to-end encrypted direct messages and video streaming over TCP.
#[derive(Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = config::DEFAULT_ADDR)]
    bind: String,
    /// Folder of NAME_RESOLUTION.mp4 videos to offer.
    #[arg(long, default_value = config::DEFAULT_VIDEOS)]
    videos: PathBuf,
    /// JPEG quality of streamed frames (1-100).
    #[arg(long, default_value_t = config::DEFAULT_JPEG_QUALITY,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    jpeg_quality: i32,
    /// Send frames as fast as possible instead of at the video's frame rate.
    #[arg(long)]
    no_pace: bool,
    /// Most connections at once; one more is refused.
    #[arg(long, default_value_t = config::DEFAULT_MAX_CLIENTS,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_clients: u32,
    /// Memory for the shared cache of encoded frames, in MiB.
    #[arg(long, default_value_t = config::DEFAULT_CACHE_MB)]
    cache_mb: usize,
    /// Chat messages a second each client may send (0: no limit, for benchmarks).
    #[arg(long, default_value_t = config::DEFAULT_CHAT_RATE)]
    chat_rate: u32,
    /// Joins a minute from one address once it has used its burst (as many joins as it may
    /// hold connections): no endless join-and-leave, no endless new names (0: no limit).
    #[arg(long, default_value_t = config::DEFAULT_JOIN_RATE)]
    join_rate: u32,
    /// What decodes videos and encodes JPEGs: ffmpeg (FFmpeg to YUV, libjpeg-turbo from
    /// the planes) or opencv (the original's engine: OpenCV's VideoCapture and imencode).
    #[arg(long, value_enum, default_value_t = Decoder::Ffmpeg)]
    decoder: Decoder,
    /// SQLite file of registered names and messages held for offline users (`:memory:`:
    /// keep nothing).
    #[arg(long, default_value = config::DEFAULT_DB)]
    db: PathBuf,
    /// Smallest RSA key a client may join with, in bits.
    #[arg(long, default_value_t = config::DEFAULT_MIN_KEY_BITS as u32, value_parser = key_bits())]
    min_key_bits: u32,
    /// Release NAME in the database (its key, the messages waiting for it, and those it sent
    /// that wait for others), say what was deleted, then exit without serving.
    #[arg(long, value_name = "NAME", value_parser = user_name)]
    forget: Option<String>,
    /// Begin a new, empty database where one that held names is missing or empty (otherwise
    /// the server refuses to start, rather than lose every name binding without a word).
    #[arg(long)]
    init_db: bool,
}

#[derive(Args)]
struct ClientArgs {
    /// Server address.
    #[arg(long, default_value = config::DEFAULT_ADDR)]
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
        #[arg(long, default_value = config::DEFAULT_ADDR)]
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
        #[arg(long, default_value = config::DEFAULT_ADDR)]
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
}

/// The key sizes `keys` accepts.
fn key_bits() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(keys::MIN_KEY_BITS as i64..=keys::MAX_KEY_BITS as i64)
}

/// What `main` was doing when an error happened; the error itself is its source.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
struct Failed {
    doing: String,
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

/// For `map_err`: the error, with what we were doing.
fn failed<E: Error + Send + Sync + 'static>(doing: String) -> impl FnOnce(E) -> Failed {
    move |e| Failed { doing, source: Box::new(e) }
}

/// A user name on the command line: one that breaks the rules is a usage error, before
/// anything is connected to or written.
fn user_name(name: &str) -> Result<String, String> {
    chatroom::names::check(name).map(|()| name.to_owned()).map_err(|e| format!("invalid name: {e}"))
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
        Command::Server(args) => run_server(args),
        Command::Client(args) => {
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

fn run_server(args: ServerArgs) -> Result<(), Box<dyn Error>> {
    if let Some(name) = args.forget {
        return forget(&args.db, &name);
    }
    let config = ServerConfig {
        max_clients: args.max_clients as usize,
        videos: args.videos,
        jpeg_quality: args.jpeg_quality,
        pace: !args.no_pace,
        cache_mb: args.cache_mb,
        join_rate: args.join_rate,
        decoder: args.decoder,
        min_key_bits: args.min_key_bits as usize,
        db: args.db,
        init_db: args.init_db,
        ..ServerConfig::default()
    }
    .with_chat_rate(args.chat_rate);
    serve(&args.bind, config)
}

/// `--forget NAME`: releases the name and says exactly what went with it.
fn forget(db: &std::path::Path, name: &str) -> Result<(), Box<dyn Error>> {
    let store = Store::open_as(db, Opening::Existing)?;
    let gone = store.forget(name)?;
    if !gone.released {
        return Err(format!("no name {name} is registered in {}", db.display()).into());
    }
    println!("Released the name {name} in {}.", db.display());
    println!(
        "Deleted {} messages waiting for {name}, and {} from {name} that waited for others \
         (they could no longer be checked without {name}'s key).",
        gone.to, gone.from
    );
    Ok(())
}

/// Descriptors the server needs besides one a client: the listener, the database, the
/// videos being read, the libraries' own.
const SPARE_FILES: u64 = 64;

/// Raises the process's limit of open files to its hard limit (a shell's default soft limit,
/// 1024, is less than 1024 clients need), and lowers `max_clients` to what the limit allows,
/// with a warning, rather than fail at the thousandth connection.
fn fit_file_limit(config: &mut ServerConfig) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let wanted = config.max_clients as u64 + SPARE_FILES;
    if limit < wanted {
        let fits = limit.saturating_sub(SPARE_FILES).max(1);
        log::warn!(
            "--max-clients {} needs about {wanted} open files, but this process may open {limit} \
             (ulimit -n): serving at most {fits} clients",
            config.max_clients
        );
        config.max_clients = fits as usize;
    }
}

/// Runs a server until Ctrl-C (or SIGTERM): it tells the clients, then returns once every
/// thread has ended.
fn serve(bind: &str, mut config: ServerConfig) -> Result<(), Box<dyn Error>> {
    fit_file_limit(&mut config);
    let listener = TcpListener::bind(bind).map_err(failed(format!("cannot listen on {bind}")))?;
    let local = listener.local_addr()?;
    // Said once the database is open and the threads run: a bad --db fails before it.
    let server = Server::spawn(listener, config)?;
    println!("Server listening on {local}");
    let stopper = server.stopper();
    ctrlc::set_handler(move || stopper.stop())?;
    server.wait();
    info!("server stopped");
    Ok(())
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
    }
    Ok(())
}
