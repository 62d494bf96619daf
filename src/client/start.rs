//! Starting the terminal client: its settings, where its key comes from, asking the name,
//! connecting and joining, then the session's threads (`send_chat`, `recv_chat`, `stream`)
//! and the main thread's last job, ending the process through `process::exit`.

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::ClientError;
use super::core::Crypto;
use super::input::Input;
use super::link::{self, Joined, LinkReader, LinkWriter, connect, join};
use super::menu;
use super::peers::{Directory, Opener, Sealer, Trust};
use super::player::{self, PlayerConfig, Render};
use super::profile::{self, Profile};
use super::rosters::Rosters;
use super::session::{Links, Session, recv_chat};
use crate::cmd;
use crate::keys::{Identity, KeyError};
use crate::names;
use crate::say;
use crate::wire::ErrorCode;

/// Where the client's key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// One key per user name in the config folder (the default).
    Profile,
    /// This file (`--identity PATH`).
    File(PathBuf),
    /// A throwaway key (`--ephemeral`).
    Ephemeral,
}

/// The client's command-line settings (`chatroom client --help`).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub server: String,
    pub name: Option<String>,
    pub render: Render,
    pub save_frames: Option<PathBuf>,
    pub key_bits: usize,
    /// Where the key comes from.
    pub keys: KeySource,
    /// Reconnect when the server goes away, instead of exiting.
    pub reconnect: bool,
    pub trace: bool,
}

/// The user's key: made on a `keygen` thread while the name is typed (`--ephemeral`), or
/// read from a file once the name is known, or made and written to that file once the server
/// has accepted the name (never before: a refused name leaves no file behind).
struct Keys {
    source: KeySource,
    bits: usize,
    thread: Option<thread::JoinHandle<Result<Identity, KeyError>>>,
    /// The key for the file last asked for (any name, for a throwaway key).
    cached: Option<Cached>,
}

struct Cached {
    /// Where the key is kept; `None` for a throwaway key.
    path: Option<PathBuf>,
    identity: Arc<Identity>,
    /// Made here and not yet written to `path`: [`Keys::keep`] writes it.
    unsaved: bool,
}

impl Keys {
    fn new(source: KeySource, bits: usize) -> io::Result<Keys> {
        // Key generation takes tens of milliseconds (seconds at 4096 bits): a throwaway key
        // is made while we connect and the user types a name.
        let thread = match source {
            KeySource::Ephemeral => Some(
                thread::Builder::new()
                    .name("keygen".into())
                    .spawn(move || Identity::generate(bits))?,
            ),
            _ => None,
        };
        Ok(Keys { source, bits, thread, cached: None })
    }

    /// Where the key to join as `name` with is kept; `None` for a throwaway key.
    fn path_for(&self, name: &str) -> Result<Option<PathBuf>, ClientError> {
        Ok(match &self.source {
            KeySource::Ephemeral => None,
            KeySource::File(path) => Some(path.clone()),
            KeySource::Profile => Some(Profile::open()?.identity_path(name).map_err(|e| {
                ClientError::NameRefused { name: name.to_owned(), reason: e.to_string() }
            })?),
        })
    }

    /// The key to join as `name` with. Nothing is written here.
    fn for_name(&mut self, name: &str) -> Result<Arc<Identity>, ClientError> {
        let path = self.path_for(name)?;
        if let Some(cached) = &self.cached
            && (cached.path == path || (cached.unsaved && path.as_deref().is_some_and(absent)))
        {
            // The same file, or a key made for a name the server refused that nobody has
            // seen: it serves the next name as well as a new one would.
            let identity = cached.identity.clone();
            self.cached =
                Some(Cached { path, identity: identity.clone(), unsaved: cached.unsaved });
            return Ok(identity);
        }
        let kept = match &path {
            Some(path) => profile::load(path)?,
            None => None,
        };
        let unsaved = kept.is_none() && path.is_some();
        let identity = match (kept, self.thread.take()) {
            (Some(identity), _) => identity,
            (None, Some(thread)) => thread
                .join()
                .map_err(|_| KeyError::Generate("the key thread panicked".into()))??,
            (None, None) => Identity::generate(self.bits)?,
        };
        let identity = Arc::new(identity);
        self.cached = Some(Cached { path, identity: identity.clone(), unsaved });
        Ok(identity)
    }

    /// The key just joined as `name` with, written to its file if it was made for this
    /// session: the server has accepted the name and bound it to this key.
    fn keep(&mut self, name: &str) -> Result<Arc<Identity>, ClientError> {
        let Some(cached) = &mut self.cached else { return self.for_name(name) };
        if let Cached { path: Some(path), unsaved: unsaved @ true, identity } = cached {
            profile::save_new(path, identity)?;
            *unsaved = false;
            say!("Made a new key for {name}, kept in {}", path.display());
        }
        Ok(cached.identity.clone())
    }
}

/// Whether no file is at `path` (a new key may go there).
fn absent(path: &Path) -> bool {
    matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == io::ErrorKind::NotFound)
}

/// Runs the terminal client. Returns only on an error before the session starts; a session
/// ends through `process::exit` (0 after QUIT or end of input, 1 when the server is lost).
pub fn run(config: ClientConfig) -> Result<(), ClientError> {
    let mut key = Keys::new(config.keys.clone(), config.key_bits)?;
    let mut input = Input::open()?;
    // Connected first: a server that is not there is said before a name is asked for.
    let early = first_connect(&config)?;
    let first = match config.name.clone() {
        Some(name) => name,
        None => match ask_name(&mut input)? {
            Some(name) => name,
            None => {
                let _ = early.1.send(&cmd::Quit);
                return Ok(());
            }
        },
    };
    let early = Some(early);
    let Some((reader, writer, joined)) = first_join(&config, first, &mut input, &mut key, early)?
    else {
        return Ok(());
    };
    let identity = key.keep(&joined.name)?;
    say!("Welcome, {}! Your key fingerprint is {}.", joined.name, identity.fingerprint());
    if key.source == KeySource::Ephemeral {
        say!(
            "Your key is a throwaway (--ephemeral): the name {} is yours for this session only, \
             and nothing is kept on this machine.",
            joined.name
        );
    }
    let exit = start_threads(&config, joined, identity, input, reader, writer)?;
    exit_when_told(exit.0, exit.1)
}

/// Asks for a name until one follows the rules (said before anything is sent). `Ok(None)` at
/// end of input. Piped, a name that breaks them ends the client (`refused`).
fn ask_name(input: &mut Input) -> Result<Option<String>, ClientError> {
    loop {
        input.ask(menu::ASK_NAME, Vec::new(), "");
        let Some(name) = input.line() else { return Ok(None) };
        let name = name.trim().to_owned();
        match names::check(&name) {
            Ok(()) => return Ok(Some(name)),
            Err(e) => refused(input, &name, format!("invalid name: {e} ({})", menu::NAME_RULES))?,
        }
    }
}

/// A name refused, by the rules or by the server: on a terminal the user is told and asked
/// again; piped, the client ends (exit status 2), so that the script's next lines, meant
/// for the menu and the prompts, are never read as names.
fn refused(input: &Input, name: &str, reason: String) -> Result<(), ClientError> {
    if !input.editing() {
        return Err(ClientError::NameRefused { name: name.to_owned(), reason });
    }
    say!("Name rejected: {reason}");
    Ok(())
}

/// A connection made at the start, and when.
type Early = (LinkReader, LinkWriter, Instant);

/// How long a connection made before the name is asked for is used for the join: the server
/// cuts one that has not joined within 10 s, and a person may take longer to type.
const FRESH: Duration = Duration::from_secs(5);

/// Connects, trying again as `first_join` does with `--reconnect`.
fn first_connect(config: &ClientConfig) -> Result<Early, ClientError> {
    let mut wait = Duration::from_secs(1);
    loop {
        match connect(&config.server, config.trace) {
            Ok((reader, writer)) => return Ok((reader, writer, Instant::now())),
            Err(e) if config.reconnect && worth_retrying(&e) => {
                say!("{}; trying again in {} s", crate::report::Chain(&e), wait.as_secs());
                thread::sleep(wait);
                wait = (wait * 2).min(link::RECONNECT_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Joins as `first` (then as names asked for) on the `early` connection if it is still
/// fresh, else on a new one. With `--reconnect`, a server that is not there yet, goes away,
/// or refuses for a reason that is not the name (it is stopping, or this address joined too
/// often) is tried again, waiting 1, 2, 4... at most 60 s. `None` at end of input.
fn first_join(
    config: &ClientConfig,
    first: String,
    input: &mut Input,
    key: &mut Keys,
    mut early: Option<Early>,
) -> Result<Option<(LinkReader, LinkWriter, Joined)>, ClientError> {
    let mut wait = Duration::from_secs(1);
    loop {
        let reused = early.take().filter(|(_, _, at)| at.elapsed() < FRESH);
        let was_early = reused.is_some();
        let connection = match reused {
            Some((reader, writer, _)) => Ok((reader, writer)),
            None => connect(&config.server, config.trace),
        };
        let attempt = connection.and_then(|(mut reader, writer)| {
            let joined = join_as(first.clone(), &mut reader, &writer, input, key);
            if let Ok(None) = joined {
                let _ = writer.send(&cmd::Quit);
            }
            Ok(joined?.map(|joined| (reader, writer, joined)))
        });
        match attempt {
            // The early connection was cut while the name was typed: a new one, at once.
            Err(
                ClientError::Closed
                | ClientError::Io(_)
                | ClientError::Refused { code: ErrorCode::Timeout, .. },
            ) if was_early => {}
            Err(e) if config.reconnect && worth_retrying(&e) => {
                say!("{}; trying again in {} s", crate::report::Chain(&e), wait.as_secs());
                thread::sleep(wait);
                wait = (wait * 2).min(link::RECONNECT_MAX);
            }
            other => return other,
        }
    }
}

/// Whether trying again later may succeed: the server is not there, or says so.
fn worth_retrying(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Connect { .. }
            | ClientError::Closed
            | ClientError::Io(_)
            | ClientError::Refused { code: ErrorCode::ShuttingDown | ErrorCode::RateLimited, .. }
    )
}

/// Joins as `name`, then as names asked for, until one is accepted. `None` at end of input.
fn join_as(
    mut name: String,
    reader: &mut LinkReader,
    writer: &LinkWriter,
    input: &mut Input,
    key: &mut Keys,
) -> Result<Option<Joined>, ClientError> {
    loop {
        let throwaway = key.source == KeySource::Ephemeral;
        match join(reader, writer, &name, &*key.for_name(&name)?, throwaway) {
            Ok(joined) => return Ok(Some(joined)),
            // Not about the name: another name would fare no better.
            Err(
                e @ ClientError::Refused {
                    code: ErrorCode::ShuttingDown | ErrorCode::RateLimited | ErrorCode::Timeout,
                    ..
                },
            ) => return Err(e),
            Err(ClientError::Refused { code, text }) => {
                refused(input, &name, lockout_hint(code, text, key))?
            }
            Err(e) => return Err(e),
        }
        let Some(next) = ask_name(input)? else { return Ok(None) };
        name = next;
    }
}

/// The server's refusal of a name, and for the refusals a user cannot get past by typing
/// the name again (a name bound to another key, a key too small) the way out.
fn lockout_hint(code: ErrorCode, text: String, key: &Keys) -> String {
    let cached = key.cached.as_ref();
    // Kept in this file; `None` for a throwaway key or one just made (no file yet).
    let kept = cached.filter(|c| !c.unsaved).and_then(|c| c.path.as_ref()).map(|p| p.display());
    let wanted = cached.and_then(|c| c.path.as_ref()).map(|p| p.display());
    let release = "or have the server's operator release the name (chatroom server --forget \
                   NAME). Or choose another name";
    let too_small = code == ErrorCode::BadKey && text.contains("at least");
    match (code, kept, wanted) {
        (ErrorCode::NameRegistered, _, None) => {
            format!(
                "{text}. A throwaway key (--ephemeral) cannot use a registered name: choose another"
            )
        }
        (ErrorCode::NameRegistered, None, Some(path)) => format!(
            "{text}. If the name is yours, its key is not on this machine: put the key file \
             back as {path}, {release}"
        ),
        (ErrorCode::NameRegistered, Some(path), _) => format!(
            "{text}. If the name is yours, {path} is not the key it was registered with: put \
             the old file back, {release}"
        ),
        (_, Some(path), _) if too_small => format!(
            "{text}. The key in {path} is too small for this server: choose a new name (its \
             key is made with --key-bits, default 2048), or start with --identity NEW_FILE"
        ),
        _ if too_small => format!("{text}. Start again with a larger --key-bits (default 2048)"),
        _ => text,
    }
}

/// Starts the session's threads: `stream` (the player), `recv_chat` and `send_chat` (the
/// session). Returns where the exit code will come from, and where to hand it to the
/// `stream` thread.
fn start_threads(
    config: &ClientConfig,
    joined: Joined,
    identity: Arc<Identity>,
    input: Input,
    reader: LinkReader,
    writer: LinkWriter,
) -> Result<(Receiver<i32>, Sender<i32>), ClientError> {
    let (exit, exit_rx) = unbounded();
    let (gui_exit_tx, gui_exit) = bounded(1);
    // Bounded: a session that falls behind holds `recv_chat` back, and so the server.
    let (incoming_tx, incoming) = bounded(64);
    let (readers, readers_rx) = bounded(1);
    let (events_tx, events) = unbounded();
    let (player, frames) = bounded(32);
    let player_config = PlayerConfig {
        render: config.render,
        save_frames: config.save_frames.clone(),
        writer: writer.clone(),
        exit: gui_exit,
    };
    let notify = move |event| {
        let _ = events_tx.send(event);
    };
    thread::Builder::new()
        .name("stream".into())
        .spawn(move || player::run(frames, notify, player_config))?;
    let to_session = incoming_tx.clone();
    thread::Builder::new()
        .name("recv_chat".into())
        .spawn(move || recv_chat(reader, to_session, readers_rx))?;

    let profile = match config.keys {
        KeySource::Ephemeral => None,
        _ => Some(Profile::open()?),
    };
    let me = &joined.name;
    let trust = Trust::new(profile.as_ref().map(Profile::known_users_path));
    let rosters = Rosters::load(profile.as_ref().map(|p| p.rooms_dir(me)));
    let (mut sealer, opener) = match profile {
        Some(p) => (
            Sealer::counting(identity.clone(), me, p.counter_path(me)),
            Opener::remembering(identity.clone(), me, p.seen_path(me)),
        ),
        None => (Sealer::new(identity.clone(), me), Opener::new(identity.clone(), me)),
    };
    if !sealer.above(joined.last_seq) {
        log::warn!("ignored the server's last message number {}: out of range", joined.last_seq);
    }
    let links = Links { input, writer, incoming, incoming_tx, readers, events, player, exit };
    let reconnect = config.reconnect.then(|| link::Rejoin {
        server: config.server.clone(),
        throwaway: config.keys == KeySource::Ephemeral,
    });
    let directory = Directory::new(joined.directory);
    let crypto = Crypto { sealer, opener, trust, rosters };
    let session = Session::new(joined.name, identity, directory, crypto, reconnect, links);
    thread::Builder::new().name("send_chat".into()).spawn(move || session.run())?;
    Ok((exit_rx, gui_exit_tx))
}

/// Waits for the exit code, then has the `stream` thread end the process (the window's
/// libraries must be cleaned up on the thread that used them); ends it here if that thread
/// has not within 2 s.
fn exit_when_told(exit: Receiver<i32>, stream_thread: Sender<i32>) -> ! {
    let code = exit.recv().unwrap_or(1);
    let _ = io::stdout().flush();
    super::screen::restore_terminal();
    if stream_thread.send(code).is_ok() {
        thread::sleep(Duration::from_secs(2));
    }
    std::process::exit(code)
}
