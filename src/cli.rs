//! The server's command line, shared by the two binaries that run it: `chatroom server`
//! (`src/main.rs`) and `chatroom-server` (`src/bin/chatroom-server.rs`), which `chatroom server`
//! becomes for the default decoder. Here: the flags, `--forget`, the open-files limit, and
//! Ctrl-C turned into a clean stop. Errors are returned, to be printed once by `main`.
//!
//! Why two binaries: `chatroom` links OpenCV for the client's window and `--decoder opencv`,
//! and a process that links it loads its libraries (and theirs: GDAL, Qt...) at start, about
//! 40 MB of memory (their pages, and what they allocate as they start), used or not.
//! `chatroom-server` has no call into OpenCV, so it loads none.

use clap::Args;
use log::info;
use std::error::Error;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::config::{self, ServerConfig};
use crate::keys;
use crate::server::Server;
use crate::store::{Opening, Store, SyncMode};
use crate::video::source::{Decoder, Engine};

#[derive(Args)]
pub struct ServerArgs {
    /// Address to listen on, host[:port] (port 1234 if none is given).
    #[arg(long, default_value = config::DEFAULT_ADDR, value_parser = config::address)]
    pub bind: String,
    /// Folder of NAME_RESOLUTION.mp4 videos to offer.
    #[arg(long, default_value = config::DEFAULT_VIDEOS)]
    pub videos: PathBuf,
    /// JPEG quality of streamed frames (1-100).
    #[arg(long, default_value_t = config::DEFAULT_JPEG_QUALITY,
          value_parser = clap::value_parser!(i32).range(1..=100))]
    pub jpeg_quality: i32,
    /// Send frames as fast as possible instead of at the video's frame rate.
    #[arg(long)]
    pub no_pace: bool,
    /// Most connections at once; one more is refused.
    #[arg(long, default_value_t = config::DEFAULT_MAX_CLIENTS,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_clients: u32,
    /// Memory for the shared cache of encoded frames, in MiB.
    #[arg(long, default_value_t = config::DEFAULT_CACHE_MB)]
    pub cache_mb: usize,
    /// Chat messages a second each client may send (0: no limit, for benchmarks).
    #[arg(long, default_value_t = config::DEFAULT_CHAT_RATE)]
    pub chat_rate: u32,
    /// Joins a minute from one address once it has used its burst (as many joins as it may
    /// hold connections): no endless join-and-leave, no endless new names (0: no limit).
    #[arg(long, default_value_t = config::DEFAULT_JOIN_RATE)]
    pub join_rate: u32,
    /// What decodes videos and encodes JPEGs: ffmpeg (FFmpeg to YUV, libjpeg-turbo from
    /// the planes) or opencv (the original's engine: OpenCV's VideoCapture and imencode).
    #[arg(long, value_enum, default_value_t = Decoder::Ffmpeg)]
    pub decoder: Decoder,
    /// SQLite file of registered names and messages held for offline users (`:memory:`:
    /// keep nothing).
    #[arg(long, default_value = config::DEFAULT_DB)]
    pub db: PathBuf,
    /// Smallest RSA key a client may join with, in bits.
    #[arg(long, default_value_t = config::DEFAULT_MIN_KEY_BITS as u32, value_parser = key_bits())]
    pub min_key_bits: u32,
    /// Release NAME in the database (its key, the messages waiting for it, and those it sent
    /// that wait for others), say what was deleted, then exit without serving.
    #[arg(long, value_name = "NAME", value_parser = user_name)]
    pub forget: Option<String>,
    /// Begin a new, empty database where one that held names is missing or empty (otherwise
    /// the server refuses to start, rather than lose every name binding without a word).
    #[arg(long)]
    pub init_db: bool,
    /// How each commit reaches the disk: full (synced before the sender hears SENT: a power
    /// cut loses nothing answered) or normal (synced at checkpoints: a killed server loses
    /// nothing, a power cut may lose the last messages).
    #[arg(long, value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,
}

/// The key sizes `keys` accepts.
pub fn key_bits() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(keys::MIN_KEY_BITS as i64..=keys::MAX_KEY_BITS as i64)
}

/// A user name on the command line: one that breaks the rules is a usage error, before
/// anything is connected to or written.
pub fn user_name(name: &str) -> Result<String, String> {
    crate::names::check(name).map(|()| name.to_owned()).map_err(|e| format!("invalid name: {e}"))
}

/// What `main` was doing when an error happened; the error itself is its source.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
pub struct Failed {
    doing: String,
    #[source]
    source: Box<dyn Error + Send + Sync>,
}

/// For `map_err`: the error, with what we were doing.
pub fn failed<E: Error + Send + Sync + 'static>(doing: String) -> impl FnOnce(E) -> Failed {
    move |e| Failed { doing, source: Box::new(e) }
}

/// `chatroom server`: `--forget`, or serve until Ctrl-C with `engine` reading the videos.
pub fn run_server(args: ServerArgs, engine: Engine) -> Result<(), Box<dyn Error>> {
    if let Some(name) = args.forget {
        return forget(&args.db, &name);
    }
    // A mistyped folder is said at once, not found later as a server with nothing to play.
    if !args.videos.is_dir() {
        let dir = args.videos.display();
        return Err(format!(
            "no videos folder at {dir}: pass --videos DIR, or make one with `chatroom make-videos {dir}`"
        )
        .into());
    }
    let config = ServerConfig {
        max_clients: args.max_clients as usize,
        videos: args.videos,
        jpeg_quality: args.jpeg_quality,
        pace: !args.no_pace,
        cache_mb: args.cache_mb,
        join_rate: args.join_rate,
        engine,
        min_key_bits: args.min_key_bits as usize,
        db: args.db,
        init_db: args.init_db,
        sync: args.sync,
        ..ServerConfig::default()
    }
    .with_chat_rate(args.chat_rate);
    serve(&args.bind, config)
}

/// `--forget NAME`: releases the name and says exactly what went with it.
fn forget(db: &Path, name: &str) -> Result<(), Box<dyn Error>> {
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
    // Ctrl-C is ours before the line is said: a script (or a test) that interrupts the
    // server as soon as it reads it gets the clean stop, not the default death by signal.
    let stopper = server.stopper();
    ctrlc::set_handler(move || stopper.stop())?;
    println!("Server listening on {local}");
    server.wait();
    info!("server stopped");
    Ok(())
}

/// Runs `chatroom-server` in place of this process, with this process's arguments after
/// `server`, if it sits beside this program; returns only if it could not (then this
/// process serves). The same process id, descriptors and environment: to a shell or a test,
/// nothing but the memory changes.
pub fn become_lean_server() {
    use std::os::unix::process::CommandExt;
    let Ok(me) = std::env::current_exe() else { return };
    let lean = me.with_file_name("chatroom-server");
    if !lean.is_file() {
        log::debug!("no {} beside this program: serving in this process", lean.display());
        return;
    }
    // The server's flags are what follows the `server` subcommand.
    let flags = std::env::args_os().skip(1).skip_while(|a| a != "server").skip(1);
    let error = std::process::Command::new(&lean).args(flags).exec();
    log::warn!("cannot run {}: {error}; serving in this process", lean.display());
}
