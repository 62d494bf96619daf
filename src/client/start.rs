//! Starting the terminal client: its settings, where its key comes from, asking the name,
//! connecting and joining, then the session's threads (`send_chat`, `recv_chat`, `stream`)
//! and the main thread's last job, ending the process through `process::exit`.

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::ClientError;
use super::input::Input;
use super::link::{self, Joined, LinkReader, LinkWriter, connect, join};
use super::menu;
use super::peers::{Directory, Opener, Sealer, Trust};
use super::player::{self, PlayerConfig, Render};
use super::profile::{self, Profile};
use super::session::{Crypto, Links, Session, recv_chat};
use crate::keys::{Identity, KeyError};
use crate::names;
use crate::say;
use crate::wire::{ClientMsg, ErrorCode};

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
/// read from (or made into) a file once the name is known.
struct Keys {
    source: KeySource,
    bits: usize,
    thread: Option<thread::JoinHandle<Result<Identity, KeyError>>>,
    /// The key for the name last asked for.
    cached: Option<(String, Arc<Identity>)>,
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

    /// The key to join as `name` with.
    fn for_name(&mut self, name: &str) -> Result<Arc<Identity>, ClientError> {
        let path = match &self.source {
            KeySource::Ephemeral => name.to_owned(),
            KeySource::File(path) => path.display().to_string(),
            KeySource::Profile => Profile::open()?.identity_path(name).display().to_string(),
        };
        if let Some((cached_for, identity)) = &self.cached
            && (*cached_for == path || self.source == KeySource::Ephemeral)
        {
            return Ok(identity.clone());
        }
        let identity = match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| KeyError::Generate("the key thread panicked".into()))??,
            None => {
                let (identity, created) = profile::load_or_create(path.as_ref(), self.bits)?;
                if created {
                    say!("Made a new key for {name}, kept in {path}");
                }
                identity
            }
        };
        let identity = Arc::new(identity);
        self.cached = Some((path, identity.clone()));
        Ok(identity)
    }
}

/// Runs the terminal client. Returns only on an error before the session starts; a session
/// ends through `process::exit` (0 after QUIT or end of input, 1 when the server is lost).
pub fn run(config: ClientConfig) -> Result<(), ClientError> {
    let mut key = Keys::new(config.keys.clone(), config.key_bits)?;
    let mut input = Input::open()?;
    // The name is asked before connecting: the time a person takes to type it never counts
    // against the server's handshake deadline.
    let first = match config.name.clone() {
        Some(name) => name,
        None => match ask_name(&mut input) {
            Some(name) => name,
            None => return Ok(()),
        },
    };
    let Some((reader, writer, joined)) = first_join(&config, first, &mut input, &mut key)? else {
        return Ok(());
    };
    let identity = key.for_name(&joined.name)?;
    say!("Welcome, {}! Your key fingerprint is {}.", joined.name, identity.fingerprint());
    let exit = start_threads(&config, joined, identity, input, reader, writer)?;
    exit_when_told(exit.0, exit.1)
}

/// Asks for a name until one follows the rules (said before anything is sent). `None` at end
/// of input.
fn ask_name(input: &mut Input) -> Option<String> {
    loop {
        input.ask(menu::ASK_NAME, Vec::new(), "");
        let name = input.line()?.trim().to_owned();
        match names::check(&name) {
            Ok(()) => return Some(name),
            Err(e) => {
                say!(
                    "Name rejected: invalid name: {e} (names are 1-32 letters, digits, _ . - and start with a letter, digit or _)"
                )
            }
        }
    }
}

/// Connects and joins as `first` (then as names asked for). With `--reconnect`, a server that
/// is not there yet, goes away, or refuses for a reason that is not the name (it is stopping,
/// or this address joined too often) is tried again, waiting 1, 2, 4... at most 60 s. `None`
/// at end of input.
fn first_join(
    config: &ClientConfig,
    first: String,
    input: &mut Input,
    key: &mut Keys,
) -> Result<Option<(LinkReader, LinkWriter, Joined)>, ClientError> {
    let mut wait = Duration::from_secs(1);
    loop {
        let attempt = connect(&config.server, config.trace).and_then(|(mut reader, writer)| {
            let joined = join_as(first.clone(), &mut reader, &writer, input, key);
            if let Ok(None) = joined {
                let _ = writer.send(&ClientMsg::Quit);
            }
            Ok(joined?.map(|joined| (reader, writer, joined)))
        });
        match attempt {
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
        match join(reader, writer, &name, &*key.for_name(&name)?) {
            Ok(joined) => return Ok(Some(joined)),
            // Not about the name: another name would fare no better.
            Err(
                e @ ClientError::Refused {
                    code: ErrorCode::ShuttingDown | ErrorCode::RateLimited,
                    ..
                },
            ) => return Err(e),
            Err(ClientError::Refused { text, .. }) => say!("Name rejected: {text}"),
            Err(e) => return Err(e),
        }
        let Some(next) = ask_name(input) else { return Ok(None) };
        name = next;
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
    let (sealer, opener) = match profile {
        Some(p) => (
            Sealer::counting(identity.clone(), me, p.counter_path(me)),
            Opener::remembering(identity.clone(), me, p.seen_path(me)),
        ),
        None => (Sealer::new(identity.clone(), me), Opener::new(identity.clone(), me)),
    };
    let links = Links { input, writer, incoming, incoming_tx, readers, events, player, exit };
    let reconnect = config.reconnect.then(|| config.server.clone());
    let directory = Directory::new(joined.directory);
    let crypto = Crypto { sealer, opener, trust };
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
