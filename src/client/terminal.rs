//! The terminal client: the original's flow (name, home menu, chat, stream, quit) over the
//! framed protocol, with a `send_chat` thread reading the terminal and a `recv_chat` thread
//! reading the server, so incoming messages print at any time. The `stream` thread is in
//! `player.rs`. A session ends through `process::exit`.

use crossbeam_channel::{Receiver, Sender, unbounded};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::ClientError;
use super::input::Input;
use super::link::{Joined, LinkReader, LinkWriter, REPLY_TIMEOUT, connect, join};
use super::peers::{Directory, Opener, Peer, Sealer, Seen, Trust};
use super::player::{self, Feed, PlayerConfig, Render, StreamEvent};
use super::profile::{self, Profile};
use crate::keys::{Identity, KeyError};
use crate::report::Chain;
use crate::say;
use crate::wire::{self, ClientMsg, ErrorCode, PlayMode, ReadError, ServerMsg, VideoInfo};

/// How long `QUIT` waits for the server to close the connection before exiting anyway.
const QUIT_GRACE: Duration = Duration::from_secs(3);

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

/// What the terminal threads share.
struct Shared {
    writer: LinkWriter,
    directory: Mutex<Directory>,
    /// Keys of users who are offline, as the server sent them (to write to them, or to
    /// check messages they left for us).
    offline: Mutex<Directory>,
    /// The keys pinned for each user (trust on first use).
    trust: Mutex<Trust>,
    identity: Arc<Identity>,
    /// Where sequence numbers seen are kept between sessions (not with `--ephemeral`).
    seen: Option<PathBuf>,
    /// The server to reconnect to when the connection is lost (`--reconnect`).
    reconnect: Option<String>,
    me: String,
    /// Set once we have sent `QUIT`, so the closing connection is not reported as a loss.
    quitting: AtomicBool,
    /// A stream is playing (set by the player's events): the menu offers `4. STOP`.
    streaming: AtomicBool,
    /// The process exit code, sent by whichever thread decides the client is done.
    exit: Sender<i32>,
}

/// Answers to the `send_chat` thread's requests, passed on by `recv_chat` and the player.
enum Reply {
    Videos(Vec<VideoInfo>),
    /// A play request was refused (the reason is already printed).
    Refused,
    Stream(StreamEvent),
    /// The server took the last chat message: relayed, or held for an offline user.
    Sent {
        queued: bool,
    },
    /// A registered user's key, asked for to write to them while they are offline.
    Key(Peer),
    /// The server did not take a chat message, and says why.
    NotSent(String),
}

impl Shared {
    fn directory(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn trust(&self) -> std::sync::MutexGuard<'_, Trust> {
        self.trust.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A user online, or else one whose key the server sent while they are offline.
    fn peer(&self, name: &str) -> Option<Peer> {
        if let Some(peer) = self.directory().get(name) {
            return Some(peer.clone());
        }
        self.offline.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

/// Checks a user's key against the one pinned for them, and warns, so it cannot be missed,
/// if it changed.
fn check_key(shared: &Shared, name: &str, key: &[u8]) {
    if name.eq_ignore_ascii_case(&shared.me) {
        return;
    }
    match shared.trust().see(name, key) {
        Ok(Seen::Changed { pinned }) => {
            let now = crate::keys::full_fingerprint(key);
            say!(
                "WARNING: {name}'s key has CHANGED: it was {}..., it is now {}...",
                &pinned[..16],
                &now[..16]
            );
            say!(
                "WARNING: someone may be posing as {name}. Nothing is sent to {name} until you type /trust {name}"
            );
            say!("WARNING: (compare /verify {name} with them, in person or on a call, first).");
        }
        Ok(_) => {}
        Err(e) => say!("Cannot save {name}'s key: {}", Chain(&e)),
    }
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
    let (mut reader, writer) = connect(&config.server, config.trace)?;
    let Some(joined) = join_as(first, &mut reader, &writer, &mut input, &mut key)? else {
        let _ = writer.send(&ClientMsg::Quit);
        return Ok(());
    };
    let identity = key.for_name(&joined.name)?;
    say!("Welcome, {}! Your key fingerprint is {}.", joined.name, identity.fingerprint());
    let (exit_tx, exit_rx) = unbounded();
    let profile = match config.keys {
        KeySource::Ephemeral => None,
        _ => Some(Profile::open()?),
    };
    let trust = Trust::new(profile.as_ref().map(Profile::known_users_path));
    let shared = Arc::new(Shared {
        writer,
        directory: Mutex::new(Directory::default()),
        offline: Mutex::new(Directory::default()),
        trust: Mutex::new(trust),
        identity: identity.clone(),
        seen: profile.map(|p| p.seen_path(&joined.name)),
        reconnect: config.reconnect.then(|| config.server.clone()),
        me: joined.name.clone(),
        quitting: AtomicBool::new(false),
        streaming: AtomicBool::new(false),
        exit: exit_tx,
    });
    let directory = Directory::new(joined.directory);
    for peer in directory.peers() {
        check_key(&shared, &peer.name, &peer.key);
    }
    *shared.directory() = directory;
    let (gui_exit_tx, gui_exit) = crossbeam_channel::bounded(1);
    start_threads(&config, reader, input, identity, shared, gui_exit)?;
    exit_when_told(exit_rx, gui_exit_tx)
}

/// Asks for a name until one follows the rules (said before anything is sent). `None` at end
/// of input.
fn ask_name(input: &mut Input) -> Option<String> {
    loop {
        input.prompt("Enter your username : ", Vec::new());
        let name = input.line()?.trim().to_owned();
        match wire::check_name(&name) {
            Ok(()) => return Some(name),
            Err(e) => {
                say!(
                    "Name rejected: invalid name: {e} (names are 1-32 letters, digits, _ . - and start with a letter, digit or _)"
                )
            }
        }
    }
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

/// Starts the session's threads: `stream` (the player), `recv_chat` and `send_chat`.
fn start_threads(
    config: &ClientConfig,
    reader: LinkReader,
    input: Input,
    identity: Arc<Identity>,
    shared: Arc<Shared>,
    gui_exit: Receiver<i32>,
) -> io::Result<()> {
    let (reply_tx, replies) = unbounded();
    // Bounded: if the player falls behind, reading from the server waits for it, and the
    // server's own queues hold the stream back (TCP flow control does the rest).
    let (frames_tx, frames) = crossbeam_channel::bounded(32);
    let player = PlayerConfig {
        render: config.render,
        save_frames: config.save_frames.clone(),
        writer: shared.writer.clone(),
        exit: gui_exit,
    };
    let (events, state) = (reply_tx.clone(), shared.clone());
    let notify = move |event| {
        state.streaming.store(event == StreamEvent::Started, Ordering::SeqCst);
        let _ = events.send(Reply::Stream(event));
    };
    thread::Builder::new()
        .name("stream".into())
        .spawn(move || player::run(frames, notify, player))?;

    let opener = match &shared.seen {
        Some(file) => Opener::remembering(identity.clone(), &shared.me, file.clone()),
        None => Opener::new(identity.clone(), &shared.me),
    };
    let recv_shared = shared.clone();
    thread::Builder::new()
        .name("recv_chat".into())
        .spawn(move || recv_chat(reader, opener, recv_shared, reply_tx, frames_tx))?;
    let sealer = Sealer::new(identity, &shared.me);
    thread::Builder::new()
        .name("send_chat".into())
        .spawn(move || send_chat(input, sealer, shared, replies))?;
    Ok(())
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

/// The `recv_chat` thread: everything the server sends, printed as it comes.
fn recv_chat(
    mut reader: LinkReader,
    mut opener: Opener,
    shared: Arc<Shared>,
    replies: Sender<Reply>,
    frames: Sender<Feed>,
) {
    loop {
        match reader.recv() {
            // The server checks we are still here.
            Ok(ServerMsg::Ping) => {
                let _ = shared.writer.send(&ClientMsg::Pong);
            }
            Ok(ServerMsg::Chat { from, envelope }) => {
                let peer = shared.peer(&from);
                match opener.open_from(peer.as_ref(), &envelope) {
                    Ok(text) => say!("[CHAT] {from}: {}", text),
                    Err(why) => say!(
                        "Warning: dropped a message claiming to be from {from}: {}",
                        Chain(&why)
                    ),
                }
            }
            Ok(
                msg @ (ServerMsg::StreamStart { .. }
                | ServerMsg::Frame { .. }
                | ServerMsg::StreamEnd { .. }),
            ) => {
                let _ = frames.send(Feed::Server(msg));
            }
            Ok(msg) => show(msg, &shared, &replies),
            Err(e) => {
                if shared.quitting.load(Ordering::SeqCst) {
                    let _ = shared.exit.send(0);
                    return;
                }
                if !matches!(e, ReadError::Closed) {
                    log::debug!("connection lost: {}", Chain(&e));
                }
                if let Some(server) = &shared.reconnect {
                    let _ = frames.send(Feed::Lost);
                    if let Some(again) = reconnect(&shared, server) {
                        reader = again;
                        continue;
                    }
                    // Quit while reconnecting.
                    let _ = shared.exit.send(0);
                    return;
                }
                crate::client::screen::say_last(format_args!("Disconnected from server"));
                let _ = shared.exit.send(1);
                return;
            }
        }
    }
}

/// The longest wait between two tries to reconnect.
const RECONNECT_MAX: Duration = Duration::from_secs(60);

/// Connects and joins again as the same user with the same key, waiting 1, 2, 4... and at
/// most 60 s between tries, until it works (`[RECONNECTED]`) or the user quits (`None`).
/// What was held for us meanwhile then arrives as on any join.
fn reconnect(shared: &Shared, server: &str) -> Option<LinkReader> {
    say!("Connection to the server lost; reconnecting...");
    let mut wait = Duration::from_secs(1);
    loop {
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if shared.quitting.load(Ordering::SeqCst) {
                return None;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let attempt = connect(server, shared.writer.tracing()).and_then(|(mut reader, writer)| {
            let joined = join(&mut reader, &writer, &shared.me, &shared.identity)?;
            Ok((reader, writer, joined))
        });
        match attempt {
            Ok((reader, writer, joined)) => {
                shared.writer.take_over(&writer);
                let directory = Directory::new(joined.directory);
                for peer in directory.peers() {
                    check_key(shared, &peer.name, &peer.key);
                }
                *shared.directory() = directory;
                say!("[RECONNECTED]");
                return Some(reader);
            }
            Err(e) => log::debug!("reconnecting: {}", Chain(&e)),
        }
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// Directory changes, errors and replies: printed, or passed on to `send_chat`.
fn show(msg: ServerMsg, shared: &Shared, replies: &Sender<Reply>) {
    match msg {
        ServerMsg::Joined(user) => {
            let name = user.name.clone();
            check_key(shared, &user.name, &user.key);
            if shared.directory().add(user) {
                say!("[JOINED] {name}");
            } else {
                say!("Warning: ignored a user the server announced with an invalid name: {name:?}");
            }
        }
        ServerMsg::Left { name } => {
            shared.directory().remove(&name);
            say!("[LEFT] {name}");
        }
        ServerMsg::Directory(users) => {
            let listed = users.len();
            let directory = Directory::new(users);
            if directory.peers().len() < listed {
                say!("Warning: ignored users the server listed with invalid or repeated names.");
            }
            for peer in directory.peers() {
                check_key(shared, &peer.name, &peer.key);
            }
            *shared.directory() = directory;
        }
        ServerMsg::Error { code, text } => show_error(code, text, replies),
        ServerMsg::Sent { queued, .. } => {
            let _ = replies.send(Reply::Sent { queued });
        }
        ServerMsg::UserKey(user) => {
            check_key(shared, &user.name, &user.key);
            if wire::check_name(&user.name).is_ok() {
                shared.offline.lock().unwrap_or_else(|p| p.into_inner()).add(user.clone());
                let _ = replies.send(Reply::Key(Peer::from(user)));
            }
        }
        ServerMsg::VideoList(videos) => {
            let _ = replies.send(Reply::Videos(videos));
        }
        other => log::debug!("ignoring unexpected {} frame", other.tag()),
    }
}

/// An error from the server: printed, or handed to `send_chat` when it answers a request.
fn show_error(code: ErrorCode, text: String, replies: &Sender<Reply>) {
    match code {
        ErrorCode::ShuttingDown => say!("Server is shutting down"),
        ErrorCode::UnknownVideo | ErrorCode::VideoFailed => {
            say!("Error: {}", text);
            log::debug!("stream refused: {code:?}");
            let _ = replies.send(Reply::Refused);
        }
        // What became of a chat message (or a key lookup): send_chat says it.
        ErrorCode::UnknownUser
        | ErrorCode::RateLimited
        | ErrorCode::RecipientTooSlow
        | ErrorCode::MailboxFull => {
            let _ = replies.send(Reply::NotSent(text));
        }
        _ => say!("Error: {}", text),
    }
}

/// The `send_chat` thread: the home menu and the chat prompts, driven by the terminal.
fn send_chat(mut input: Input, mut sealer: Sealer, shared: Arc<Shared>, replies: Receiver<Reply>) {
    while let Some(choice) = home_menu(&mut input, &shared, &replies) {
        let streaming = shared.streaming.load(Ordering::SeqCst);
        match choice.trim() {
            "1" => {
                if chat_mode(&mut input, &mut sealer, &shared, &replies).is_none() {
                    break;
                }
            }
            // While one plays, a new stream replaces it (the server stops the first).
            "2" => {
                if stream_mode(&mut input, &shared, &replies).is_none() {
                    break;
                }
            }
            "3" => break,
            line if line.starts_with('/') => command(line, &shared),
            "4" | "q" | "Q" if streaming => {
                let _ = shared.writer.send(&ClientMsg::Stop);
            }
            "4" | "q" | "Q" => say!("No stream is playing."),
            "" => {}
            other if streaming => say!("Unknown choice {:?}: enter 1, 2, 3 or 4.", other),
            other => say!("Unknown choice {:?}: enter 1, 2 or 3.", other),
        }
    }
    quit(&shared);
}

const MENU: &str = "1. CHAT  2. STREAM  3. QUIT";
const MENU_STREAMING: &str = "1. CHAT  2. STREAM  3. QUIT  4. STOP";

/// Shows the home menu and reads a choice. A stream plays in the background meanwhile: the
/// menu offers `4. STOP` while it does, and is shown again when it ends. `None` at end of input.
fn home_menu(input: &mut Input, shared: &Shared, replies: &Receiver<Reply>) -> Option<String> {
    let menu = if shared.streaming.load(Ordering::SeqCst) { MENU_STREAMING } else { MENU };
    input.menu(menu);
    input.line_or(replies, |reply| match reply {
        Reply::Stream(StreamEvent::Ended) => say!("{MENU}"),
        Reply::NotSent(why) => say!("Error: {why}"),
        _ => {}
    })
}

/// Tells the server we leave, then waits (a little) for it to close the connection, so
/// everything we sent is delivered before the process exits.
fn quit(shared: &Shared) {
    shared.quitting.store(true, Ordering::SeqCst);
    if shared.writer.send(&ClientMsg::Quit).is_err() {
        let _ = shared.exit.send(0);
        return;
    }
    thread::sleep(QUIT_GRACE);
    let _ = shared.exit.send(0);
}

fn print_users(shared: &Shared) {
    let directory = shared.directory();
    say!("Online users:");
    for peer in directory.peers() {
        let you = if peer.name.eq_ignore_ascii_case(&shared.me) { " (you)" } else { "" };
        say!("  {}  [{}]{you}", peer.name, peer.fingerprint);
    }
}

/// The chat loop: recipient, message, again, until `QUIT`. Each message's fate (taken by the
/// server, or refused and why) is known before the next prompt; a refused message is offered
/// again at the next message prompt. `None` at end of input.
fn chat_mode(
    input: &mut Input,
    sealer: &mut Sealer,
    shared: &Shared,
    replies: &Receiver<Reply>,
) -> Option<()> {
    print_users(shared);
    // A message the server did not take, to offer again.
    let mut kept: Option<String> = None;
    loop {
        let names = shared.directory().peers().iter().map(|p| p.name.clone()).collect();
        input.prompt("Enter recipient (QUIT to go back) : ", names);
        let to = input.line()?;
        let to = to.trim();
        if to.eq_ignore_ascii_case("QUIT") {
            return Some(());
        }
        if to.starts_with('/') {
            command(to, shared);
            continue;
        }
        let Some(peer) = recipient(to, shared, replies) else { continue };
        if shared.trust().is_blocked(&peer.name) {
            say!(
                "Not sending to {}: their key changed. Type /trust {} if you are sure.",
                peer.name,
                peer.name
            );
            continue;
        }
        input.prompt("Enter message : ", Vec::new());
        if let Some(text) = kept.take() {
            input.offer(&text);
        }
        let text = input.line()?;
        if text.is_empty() {
            say!("Empty message not sent.");
            continue;
        }
        match deliver(sealer, shared, replies, &peer, &text) {
            Delivery::Lost => return Some(()),
            Delivery::Refused if input.editing() => {
                say!("Your message is kept: it is typed for you at the next message prompt.");
                kept = Some(text);
            }
            _ => {}
        }
    }
}

/// What became of one message.
enum Delivery {
    Done,
    /// The server did not take it (said why).
    Refused,
    /// The connection is gone (`recv_chat` says so).
    Lost,
}

/// Seals `text` for `peer`, sends it, and says what the server did with it.
fn deliver(
    sealer: &mut Sealer,
    shared: &Shared,
    replies: &Receiver<Reply>,
    peer: &Peer,
    text: &str,
) -> Delivery {
    let msg = match sealer.seal(peer, text) {
        Ok(msg) => msg,
        Err(e) => {
            say!("Message not sent: {}", Chain(&e));
            return Delivery::Done;
        }
    };
    if shared.writer.send(&msg).is_err() {
        return Delivery::Lost;
    }
    match outcome(replies) {
        Ok(false) => Delivery::Done,
        Ok(true) => {
            say!("[QUEUED] {} is offline; delivered when they return", peer.name);
            Delivery::Done
        }
        Err(why) => {
            say!("Error: {why}");
            Delivery::Refused
        }
    }
}

/// The user to write to: online, or registered and offline (the server sends their key).
/// `None`, said why, if there is nobody of that name.
fn recipient(name: &str, shared: &Shared, replies: &Receiver<Reply>) -> Option<Peer> {
    if name.is_empty() {
        return None;
    }
    if let Some(peer) = shared.directory().get(name) {
        return Some(peer.clone());
    }
    let unknown = || {
        say!("No user named {:?} is online or registered.", name);
        print_users(shared);
    };
    if wire::check_name(name).is_err()
        || shared.writer.send(&ClientMsg::KeyQuery { name: name.to_owned() }).is_err()
    {
        unknown();
        return None;
    }
    loop {
        match replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(Reply::Key(peer)) if peer.name.eq_ignore_ascii_case(name) => return Some(peer),
            Ok(Reply::NotSent(_)) | Err(_) => {
                unknown();
                return None;
            }
            Ok(_) => {}
        }
    }
}

/// `/trust NAME` and `/verify NAME`, typed at the menu or the recipient prompt.
fn command(line: &str, shared: &Shared) {
    let mut words = line.split_whitespace();
    let (verb, name) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let key = || shared.peer(name).map(|p| p.key);
    match (verb, key()) {
        ("/trust" | "/verify", None) => say!("No key is known for {:?}.", name),
        ("/trust", Some(key)) => match shared.trust().trust(name, &key) {
            Ok(()) => say!("You now trust {name}'s key {}.", crate::keys::fingerprint(&key)),
            Err(e) => say!("Cannot save the key: {}", Chain(&e)),
        },
        ("/verify", Some(key)) => {
            let number = crate::keys::safety_number(shared.identity.public_der(), &key);
            say!(
                "Safety number for you and {name} (the same on both screens if nobody swapped keys):"
            );
            say!("  {number}");
        }
        _ => say!("Commands: /trust NAME (accept NAME's new key), /verify NAME (safety number)."),
    }
}

/// Waits for the server's answer to the chat message just sent: `Ok` once it is taken (true
/// if held for an offline user), the reason if not.
fn outcome(replies: &Receiver<Reply>) -> Result<bool, String> {
    loop {
        match replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(Reply::Sent { queued }) => return Ok(queued),
            Ok(Reply::NotSent(why)) => return Err(why),
            // A stream's start or end, or a late answer to an earlier request.
            Ok(_) => {}
            Err(_) => return Err("the server did not confirm the message".into()),
        }
    }
}

/// What the user asked for at the video prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoChoice {
    Back,
    Play { video: String, mode: PlayMode },
    Invalid(String),
}

/// Reads `NUMBER|NAME [LABEL]`: a 1-based index or a name, and optionally one resolution to
/// play the whole video at (otherwise the timeline is split across all of them).
pub fn parse_video_choice(line: &str, videos: &[VideoInfo]) -> VideoChoice {
    let line = line.trim();
    if line.is_empty() {
        return VideoChoice::Invalid(String::new());
    }
    if line.eq_ignore_ascii_case("QUIT") {
        return VideoChoice::Back;
    }
    // Names may hold spaces (`my trip_720p.mp4` is "my trip"): the whole line first, then all
    // but its last word, which is then a resolution.
    if let Some(video) = videos.iter().find(|v| v.name == line) {
        return VideoChoice::Play { video: video.name.clone(), mode: PlayMode::Split };
    }
    let (first, label) = match line.rsplit_once(char::is_whitespace) {
        Some((rest, last)) => (rest.trim_end(), Some(last)),
        None => (line, None),
    };
    let video = match first.parse::<usize>() {
        Ok(n) if (1..=videos.len()).contains(&n) => &videos[n - 1],
        Ok(_) => {
            return VideoChoice::Invalid(format!("Enter a number from 1 to {}.", videos.len()));
        }
        Err(_) => match videos.iter().find(|v| v.name == first) {
            Some(v) => v,
            None => return VideoChoice::Invalid(format!("No video named {:?}.", first)),
        },
    };
    let mode = match label {
        None => PlayMode::Split,
        Some(label) if video.resolutions.iter().any(|r| r.label == label) => {
            PlayMode::Fixed(label.to_owned())
        }
        Some(label) => {
            let have: Vec<&str> = video.resolutions.iter().map(|r| r.label.as_str()).collect();
            return VideoChoice::Invalid(format!(
                "{} has no {:?} resolution; it has {}.",
                video.name,
                label,
                have.join(", ")
            ));
        }
    };
    VideoChoice::Play { video: video.name.clone(), mode }
}

/// One line per video: number, name, resolutions (with the real size where it differs from
/// the label) and length.
pub fn video_lines(videos: &[VideoInfo]) -> Vec<String> {
    videos
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let res: Vec<String> = v
                .resolutions
                .iter()
                .map(|r| {
                    let promised = r.label.trim_end_matches('p').parse::<u16>().ok();
                    if promised == Some(r.height) {
                        r.label.clone()
                    } else {
                        format!("{} (really {}x{})", r.label, r.width, r.height)
                    }
                })
                .collect();
            let seconds = if v.fps > 0.0 { v.frames as f32 / v.fps } else { 0.0 };
            format!(
                "  {}. {}  [{}]  {} frames, {:.1} s at {:.0} fps",
                i + 1,
                v.name,
                res.join(", "),
                v.frames,
                seconds,
                v.fps
            )
        })
        .collect()
}

/// The stream menu: list, choose, and start playing; back home as soon as the stream starts
/// (it plays in the background). `None` at end of input.
fn stream_mode(input: &mut Input, shared: &Shared, replies: &Receiver<Reply>) -> Option<()> {
    let Some((video, mode)) = choose_video(input, shared, replies)? else { return Some(()) };
    if shared.writer.send(&ClientMsg::Play { video, mode }).is_err() {
        return Some(());
    }
    loop {
        match replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(Reply::Stream(StreamEvent::Started)) => break,
            Ok(Reply::Refused) => return Some(()),
            Ok(_) => {}
            Err(_) => {
                say!("The server did not start the stream.");
                return Some(());
            }
        }
    }
    Some(())
}

/// Asks for the list, shows it and reads a choice. `Some(None)` to go back home, `None` at end
/// of input.
fn choose_video(
    input: &mut Input,
    shared: &Shared,
    replies: &Receiver<Reply>,
) -> Option<Option<(String, PlayMode)>> {
    if shared.writer.send(&ClientMsg::ListVideos).is_err() {
        return Some(None);
    }
    let videos = loop {
        match replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(Reply::Videos(videos)) => break videos,
            Ok(_) => {}
            Err(_) => {
                say!("The server did not send its video list.");
                return Some(None);
            }
        }
    };
    if videos.is_empty() {
        say!("The server has no videos.");
        return Some(None);
    }
    say!("Videos:");
    for line in video_lines(&videos) {
        say!("{line}");
    }
    loop {
        let names = videos.iter().map(|v| v.name.clone()).collect();
        input.prompt(
            "Enter video number or name, optionally a resolution (QUIT to go back) : ",
            names,
        );
        match parse_video_choice(&input.line()?, &videos) {
            VideoChoice::Back => return Some(None),
            VideoChoice::Play { video, mode } => return Some(Some((video, mode))),
            VideoChoice::Invalid(why) if why.is_empty() => {}
            VideoChoice::Invalid(why) => say!("{why}"),
        }
    }
}
