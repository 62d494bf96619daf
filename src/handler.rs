//! One client's session on the server: after the handshake and the join (`handshake.rs`), a
//! reader loop that maps each message to an action. Its writer thread is the only code that
//! writes to its socket.
//!
//! A malformed frame ends this connection (with an error frame and a log line) and nothing
//! else; a valid but wrong request gets an error frame and the session goes on.

use log::{debug, info, warn};
use std::io::{self, BufReader, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::budget::{Bucket, Buckets, Strike, Strikes};
use crate::config::ServerConfig;
use crate::context::Context;
use crate::handshake::{self, End, Joined, SocketReader, error_code};
use crate::outbox::{self, Liveness, Outbox, Undelivered};
use crate::registry::ConnId;
use crate::store::HoldError;
use crate::stream::{StreamConfig, StreamHandle};
use crate::wire::{self, ClientMsg, EncodedFrame, ErrorCode, PlayMode, ReadError, ServerMsg};

/// Runs one connection from accept to close. Called on the connection's own thread.
pub fn run(socket: Arc<TcpStream>, peer: String, id: ConnId, ctx: Arc<Context>) {
    let (end, name) = match Session::start(&socket, &peer, id, &ctx) {
        Ok(Some(mut session)) => {
            session.deliver_held();
            let end = session.serve();
            session.finish(&end);
            (end, Some(session.name))
        }
        Ok(None) => (End::Quit, None),
        Err(end) => (end, None),
    };
    // For a connection that never joined (or failed while joining) this frees its slot;
    // for a session, `finish` has already done it and this does nothing.
    ctx.registry.close(id);
    let who = match &name {
        Some(name) => format!("{name} ({peer})"),
        None => peer,
    };
    match &end {
        End::Quit => info!("{who} left"),
        End::ServerStopping => info!("{who} disconnected: server shutting down"),
        End::Closed => info!("{who} left: connection closed"),
        End::Protocol(why) => warn!("{who} cut off: protocol error: {why}"),
        End::Failed(why) => warn!("{who} disconnected: {why}"),
    }
    if let End::Protocol(_) = end {
        linger(&socket);
    }
    let _ = socket.shutdown(Shutdown::Both);
}

/// A joined client.
struct Session<'a> {
    id: ConnId,
    name: String,
    ctx: &'a Context,
    reader: BufReader<SocketReader>,
    socket: &'a TcpStream,
    outbox: Option<Outbox>,
    writer: Option<JoinHandle<()>>,
    /// The current stream, if any: one at a time, a new request replaces it.
    stream: Option<StreamHandle>,
    budgets: Budgets,
    /// When we last heard from the client (its writer pings it when it goes quiet).
    liveness: Arc<Liveness>,
}

/// What one client may ask of the server (docs/SECURITY.md, "Limits").
struct Budgets {
    /// Chat messages, to anyone.
    chat: Bucket,
    /// Messages to each recipient, by lower-cased name. Only recipients written to lately are
    /// remembered (their bucket is not full yet), and only online users can be written to: the
    /// map is bounded, and writing to many others never gives one recipient's budget back.
    pairs: Buckets<String>,
    /// Every other request: video lists, plays, stops, key lookups.
    requests: Bucket,
    /// What was dropped: too much of it and the client is cut off.
    strikes: Strikes,
}

/// What a message dropped for a full queue weighs against its sender (`budget::Strikes`):
/// at the default limit, 10 of them in 10 s and the sender is cut off.
const FULL_QUEUE_STRIKE: u32 = 10;
/// The pause a dropped message costs its sender's connection: the flood slows its sender.
const DROP_PAUSE: Duration = Duration::from_millis(5);

impl Budgets {
    fn new(config: &ServerConfig) -> Budgets {
        let now = Instant::now();
        Budgets {
            chat: Bucket::new(config.chat_rate, config.chat_burst, now),
            pairs: Buckets::new(f64::from(config.pair_rate), config.pair_rate),
            requests: Bucket::new(config.request_rate, config.request_rate * 2, now),
            strikes: Strikes::new(config.strike_limit, now),
        }
    }

    /// A message to `to` is within this client's budget for that recipient.
    fn pair(&mut self, to: &str, now: Instant) -> bool {
        self.pairs.take(to.to_ascii_lowercase(), now).is_ok()
    }
}

impl<'a> Session<'a> {
    /// Handshake and join, then the writer thread. `Ok(None)` when the client quit before
    /// joining.
    fn start(
        socket: &'a Arc<TcpStream>,
        peer: &'a str,
        id: ConnId,
        ctx: &'a Context,
    ) -> Result<Option<Session<'a>>, End> {
        let config = &ctx.config;
        let fail = |e: io::Error| End::Failed(e.to_string());
        socket.set_write_timeout(Some(config.write_timeout)).map_err(fail)?;
        let _ = socket.set_nodelay(true);
        let Some(Joined { name, outbox, lanes, reader }) = handshake::run(socket, peer, id, ctx)?
        else {
            return Ok(None);
        };
        let liveness = Arc::new(Liveness::new(config.ping_after, config.ping_grace));
        liveness.heard();
        let writer = outbox::spawn_writer(&name, socket.clone(), lanes, liveness.clone())
            .map_err(|e| End::Failed(format!("cannot start writer thread: {e}")))?;
        Ok(Some(Session {
            id,
            name,
            ctx,
            reader,
            socket,
            outbox: Some(outbox),
            writer: Some(writer),
            stream: None,
            budgets: Budgets::new(config),
            liveness,
        }))
    }

    /// The reader loop: one message, one action, until the client quits or fails.
    fn serve(&mut self) -> End {
        loop {
            let msg = match wire::read_client(&mut self.reader) {
                Ok(msg) => msg,
                // Shutdown closes our read side: let the writer deliver the notice.
                Err(_) if self.ctx.registry.is_shutting_down() => return End::ServerStopping,
                Err(ReadError::Closed) => return End::Closed,
                Err(ReadError::Io(e)) => return End::Failed(e.to_string()),
                Err(ReadError::Wire(e)) => {
                    self.send_error(error_code(&e), format!("protocol error: {e}"));
                    return End::Protocol(e.to_string());
                }
            };
            self.liveness.heard();
            match msg {
                ClientMsg::Pong => {}
                ClientMsg::Chat { to, envelope } => {
                    if let Some(end) = self.chat(&to, envelope) {
                        return end;
                    }
                    continue;
                }
                ClientMsg::Quit => return End::Quit,
                // Every other request has a budget too (a list costs a folder check, a play
                // a decoder).
                _ if !self.budgets.requests.take(Instant::now()) => {
                    let rate = self.ctx.config.request_rate;
                    let text = format!("too many requests: at most {rate} a second");
                    if let Some(end) = self.dropped(ErrorCode::RateLimited, text) {
                        return end;
                    }
                }
                ClientMsg::Hello { .. } | ClientMsg::Join { .. } => {
                    self.send_error(
                        ErrorCode::Unexpected,
                        format!("already joined as {}", self.name),
                    );
                }
                ClientMsg::ListVideos => {
                    let list = ServerMsg::VideoList(self.ctx.catalog.fresh().infos());
                    self.send(list.encode_shared());
                }
                ClientMsg::Play { video, mode } => self.play(&video, &mode),
                ClientMsg::KeyQuery { name } => self.key_query(&name),
                ClientMsg::Stop => self.stop_stream(),
            }
        }
    }

    /// A `CHAT`: within our budgets, relayed to its recipient with our registered name
    /// stamped on it (the envelope stays opaque: the server has no key to open it), or held
    /// if they are offline. `Some` when this client is to be cut off for flooding.
    fn chat(&mut self, to: &str, envelope: Vec<u8>) -> Option<End> {
        let config = &self.ctx.config;
        let now = Instant::now();
        if !self.budgets.chat.take(now) {
            let text = format!(
                "too many messages: at most {} a second; messages are being dropped",
                config.chat_rate
            );
            return self.dropped(ErrorCode::RateLimited, text);
        }
        let Some(recipient) = self.ctx.registry.lookup(to) else {
            self.hold(to, &envelope);
            return None;
        };
        if !self.budgets.pair(&recipient.name, now) {
            let text = format!(
                "too many messages to {}: at most {} a second; messages are being dropped",
                recipient.name, config.pair_rate
            );
            return self.dropped(ErrorCode::RateLimited, text);
        }
        debug!("relay {} -> {}: {} bytes", self.name, recipient.name, envelope.len());
        let chat = ServerMsg::Chat { from: self.name.clone(), envelope };
        // Waits at most 200 ms (on this sender's thread), never cuts the recipient: what does
        // not fit is this sender's to bear.
        match recipient.outbox.relay(chat.encode_shared()) {
            Ok(()) => {
                let sent = ServerMsg::Sent { to: recipient.name.clone(), queued: false };
                self.send(sent.encode_shared());
                None
            }
            Err(Undelivered::Busy) => {
                let text =
                    format!("{} is receiving too many messages; yours was dropped", recipient.name);
                self.dropped(ErrorCode::RateLimited, text)
            }
            Err(Undelivered::ServerFull) => {
                let text = "the server holds too many undelivered messages; yours was dropped";
                self.dropped(ErrorCode::RateLimited, text.into())
            }
            Err(Undelivered::Full) => {
                let text = format!(
                    "{} is not reading fast enough; your message was dropped",
                    recipient.name
                );
                self.dropped(ErrorCode::RecipientTooSlow, text)
            }
            // Gone since the lookup: held as for anyone offline.
            Err(Undelivered::Closed) => {
                let ServerMsg::Chat { envelope, .. } = chat else { return None };
                self.hold(&recipient.name, &envelope);
                None
            }
        }
    }

    /// A request of ours was dropped: we are told (each time: it is our own flood, on our own
    /// connection), paused a little, and cut off if it goes on.
    fn dropped(&mut self, code: ErrorCode, text: String) -> Option<End> {
        // A message that waited for room in a full queue has cost its recipient's writer, and
        // this thread 200 ms: it weighs more.
        let weight = if code == ErrorCode::RecipientTooSlow { FULL_QUEUE_STRIKE } else { 1 };
        match self.budgets.strikes.strike(Instant::now(), weight) {
            Strike::Tell => {
                self.send_error(code, text);
                std::thread::sleep(DROP_PAUSE);
                None
            }
            Strike::Cut => {
                let why = "kept flooding after being told".to_owned();
                self.send_error(ErrorCode::RateLimited, format!("disconnected: {why}"));
                Some(End::Protocol(why))
            }
        }
    }

    /// Keeps a message for a registered user who is offline, and tells the sender.
    fn hold(&self, to: &str, envelope: &[u8]) {
        match self.ctx.store.hold(to, &self.name, envelope) {
            Ok(()) => {
                debug!("held {} -> {to}: {} bytes", self.name, envelope.len());
                self.send(ServerMsg::Sent { to: to.to_owned(), queued: true }.encode_shared());
            }
            Err(HoldError::Unregistered(_)) => {
                let text = format!("no user named {to:?} is online or registered");
                self.send_error(ErrorCode::UnknownUser, text);
            }
            Err(e @ (HoldError::Full { .. } | HoldError::SenderShare { .. })) => {
                self.send_error(ErrorCode::MailboxFull, e.to_string())
            }
            Err(e @ HoldError::Failed) => self.send_error(ErrorCode::Unexpected, e.to_string()),
        }
    }

    /// Answers `KEYQ`: the key a registered user joined with, to write to them offline.
    fn key_query(&self, name: &str) {
        match self.ctx.store.key_of(name) {
            Ok(Some((name, key))) => {
                self.send(ServerMsg::UserKey(wire::User { name, key }).encode_shared())
            }
            Ok(None) => {
                let text = format!("no user named {name:?} is online or registered");
                self.send_error(ErrorCode::UnknownUser, text);
            }
            Err(e) => self.send_error(ErrorCode::Unexpected, format!("cannot look {name} up: {e}")),
        }
    }

    /// Delivers what was held for us while we were offline, in order, each sender's key
    /// first (they may be offline now), and deletes each once it is in our queue.
    fn deliver_held(&self) {
        let held = match self.ctx.store.held_for(&self.name) {
            Ok(held) => held,
            Err(e) => {
                return log::error!(
                    "cannot read {}'s mailbox: {}",
                    self.name,
                    crate::report::Chain(&e)
                );
            }
        };
        let mut keys_sent = std::collections::HashSet::new();
        for message in held {
            if keys_sent.insert(message.from.to_ascii_lowercase())
                && let Ok(Some((name, key))) = self.ctx.store.key_of(&message.from)
            {
                self.send(ServerMsg::UserKey(wire::User { name, key }).encode_shared());
            }
            let chat = ServerMsg::Chat { from: message.from, envelope: message.envelope };
            self.send(chat.encode_shared());
            if let Err(e) = self.ctx.store.delivered(message.id) {
                log::error!("cannot delete a delivered message: {}", crate::report::Chain(&e));
            }
        }
    }

    /// Starts streaming `name`, replacing any stream already running. The name is only looked
    /// up in the catalog, never used as a path.
    fn play(&mut self, name: &str, mode: &PlayMode) {
        self.stop_stream();
        let Some(video) = self.ctx.catalog.find(name) else {
            self.send_error(ErrorCode::UnknownVideo, format!("no video named {name:?}"));
            return;
        };
        let plan = match video.plan(mode) {
            Ok(plan) => plan,
            Err(e) => return self.send_error(ErrorCode::UnknownVideo, e.to_string()),
        };
        let Some(outbox) = &self.outbox else { return };
        let config = StreamConfig {
            user: self.name.clone(),
            conn: self.id,
            registry: self.ctx.registry.clone(),
            lane: outbox.video().clone(),
            cache: self.ctx.frames.clone(),
            pace: self.ctx.config.pace,
            stall_timeout: self.ctx.config.outbox_timeout,
        };
        match StreamHandle::start(config, video, plan) {
            Ok(handle) => self.stream = Some(handle),
            Err(e) => {
                self.send_error(ErrorCode::VideoFailed, format!("cannot start the stream: {e}"))
            }
        }
    }

    /// Stops the current stream (its thread sends the end frame). Without one, nothing to do:
    /// a stop that crosses the stream's natural end is not an error.
    fn stop_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.stop();
        }
    }

    fn send(&self, frame: EncodedFrame) {
        if let Some(outbox) = &self.outbox {
            // Our own queue: if it stays full we are the slow one, and the writer will fail.
            let _ = outbox.send(frame, self.ctx.config.outbox_timeout);
        }
    }

    fn send_error(&self, code: ErrorCode, text: String) {
        self.send(ServerMsg::Error { code, text }.encode_shared());
    }

    /// Lets the writer send what is queued (after a quit, or the error frame that explains a
    /// protocol error) or stops it at once (the connection is gone anyway).
    fn finish(&mut self, end: &End) {
        if let End::Closed | End::Failed(_) = end {
            let _ = self.socket.shutdown(Shutdown::Both);
        }
        self.stop_stream();
        // Leave the registry first (telling everyone), so nobody else holds our chat queue...
        self.ctx.registry.close(self.id);
        // ...then drop our own senders: the writer drains and ends.
        self.outbox = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// After a protocol error, whose error frame is sent: half-closes, then reads and discards
/// what the client still sends, for at most `LINGER`. Closing a socket with unread data makes
/// the kernel reset the connection, and a reset can destroy what the client has not read yet:
/// the very frame that says why it is cut off. The offender pays: its own connection's thread
/// waits, nobody else's.
fn linger(socket: &Arc<TcpStream>) {
    let _ = socket.shutdown(Shutdown::Write);
    let mut reader =
        SocketReader { stream: socket.clone(), deadline: Some(Instant::now() + LINGER) };
    let mut sink = [0u8; 8192];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
}

/// How long a connection cut for a protocol error is drained before it is closed.
const LINGER: Duration = Duration::from_secs(2);
