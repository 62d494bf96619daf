//! One client's session on the server: after the handshake and the join (`handshake.rs`), a
//! reader loop that maps each message to an action. Its writer thread is the only code that
//! writes to its socket.
//!
//! A malformed frame ends this connection (with an error frame and a log line) and nothing
//! else; a valid but wrong request gets an error frame and the session goes on.

use log::{info, warn};
use std::io::{self, BufReader, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::budget::{Bucket, Buckets, Strike, Strikes};
use crate::config::ServerConfig;
use crate::context::Context;
use crate::handshake::{self, End, Joined, SocketReader, error_code};
use crate::mail::Mail;
use crate::outbox::{self, Liveness, Mailbox, Outbox};
use crate::registry::ConnId;
use crate::rooms;
use crate::stream::{StreamConfig, StreamHandle};
use crate::wire::{self, ClientMsg, EncodedFrame, ErrorCode, PlayMode, ReadError, ServerMsg};

/// Runs one connection from accept to close. Called on the connection's own thread.
pub fn run(socket: Arc<TcpStream>, peer: String, id: ConnId, ctx: Arc<Context>) {
    let (end, name) = match Handler::start(&socket, &peer, id, &ctx) {
        Ok(Some(mut session)) => {
            let end = session.serve();
            session.finish(&end);
            session.release_throwaway();
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
        End::Replaced => info!("{who} replaced by a newer session"),
        End::Closed => info!("{who} left: connection closed"),
        End::Protocol(why) => warn!("{who} cut off: protocol error: {why}"),
        End::Failed(why) => warn!("{who} disconnected: {why}"),
    }
    if let End::Protocol(_) = end {
        linger(&socket);
    }
    let _ = socket.shutdown(Shutdown::Both);
}

/// One joined client's connection, from its join to its end (mini-redis names the same part
/// `Handler`; the client's own event loop is `client::session::Session`).
struct Handler<'a> {
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
    /// Chat sent and acknowledged, not yet written to the store.
    mail: Mail,
    /// The key, if it is a throwaway one: the name is released when the session ends.
    throwaway: Option<Vec<u8>>,
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

/// The pause a dropped message costs its sender's connection: the flood slows its sender.
const DROP_PAUSE: Duration = Duration::from_millis(5);

/// The socket's send buffer for an `auto` stream (the kernel doubles it): a few frames, so
/// that a client reading slowly shows in the video lane within a second, not after megabytes.
const AUTO_SEND_BUFFER: usize = 64 * 1024;

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

impl<'a> Handler<'a> {
    /// Handshake and join, then the writer thread. `Ok(None)` when the client quit before
    /// joining.
    fn start(
        socket: &'a Arc<TcpStream>,
        peer: &'a str,
        id: ConnId,
        ctx: &'a Context,
    ) -> Result<Option<Handler<'a>>, End> {
        let config = &ctx.config;
        let fail = |e: io::Error| End::Failed(e.to_string());
        socket.set_write_timeout(Some(config.write_timeout)).map_err(fail)?;
        let _ = socket.set_nodelay(true);
        let Some(Joined { name, throwaway, outbox, lanes, reader }) =
            handshake::run(socket, peer, id, ctx)?
        else {
            return Ok(None);
        };
        let liveness = Arc::new(Liveness::new(config.ping_after, config.ping_grace));
        liveness.heard();
        let mailbox = Mailbox { store: ctx.store.clone(), name: name.clone() };
        let writer = outbox::spawn_writer(socket.clone(), lanes, liveness.clone(), mailbox)
            .map_err(|e| End::Failed(format!("cannot start writer thread: {e}")))?;
        // What waited for us while we were away, after the welcome and the directory.
        outbox.wake_mail();
        Ok(Some(Handler {
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
            mail: Mail::default(),
            throwaway,
        }))
    }

    /// The reader loop: one message, one action, until the client quits or fails. Chat
    /// messages and acknowledgements are written to the store a batch at a time: once the
    /// client has nothing more in flight (all it sent is read), or a batch is full.
    fn serve(&mut self) -> End {
        loop {
            if self.reader.buffer().is_empty() || self.mail.full() {
                self.flush_mail();
            }
            let msg = match self.next_message() {
                Ok(msg) => msg,
                Err(end) => return end,
            };
            if let Some(end) = self.handle(msg) {
                return end;
            }
        }
    }

    /// The next message, or how the session ended.
    fn next_message(&mut self) -> Result<ClientMsg, End> {
        let msg = match wire::read_client(&mut self.reader) {
            Ok(msg) => msg,
            // Shutdown, or a newer session of ours, closes our read side: let the writer
            // deliver the notice.
            Err(_) if self.ctx.registry.is_shutting_down() => return Err(End::ServerStopping),
            Err(_) if self.ctx.registry.is_replaced(self.id) => return Err(End::Replaced),
            Err(ReadError::Closed) => return Err(End::Closed),
            Err(ReadError::Io(e)) => return Err(End::Failed(e.to_string())),
            Err(ReadError::Wire(e)) => {
                self.send_error(error_code(&e), format!("protocol error: {e}"));
                return Err(End::Protocol(e.to_string()));
            }
        };
        self.liveness.heard();
        Ok(msg)
    }

    /// One message, one action: every kind is an arm here. Chat and acknowledgements join
    /// the current batch; every other request goes through [`Handler::answer`]. `Some` when
    /// the session is to end.
    fn handle(&mut self, msg: ClientMsg) -> Option<End> {
        match msg {
            ClientMsg::Pong => None,
            ClientMsg::Ack { id } => {
                self.mail.ack(id);
                None
            }
            ClientMsg::Chat { to, envelope } => self.chat(&to, envelope),
            ClientMsg::RoomChat { room, envelopes } => self.room_chat(&room, envelopes),
            ClientMsg::Quit => {
                self.flush_mail();
                Some(End::Quit)
            }
            ClientMsg::Hello { .. } | ClientMsg::Join { .. } => self.answer(|h| {
                h.send_error(ErrorCode::Unexpected, format!("already joined as {}", h.name))
            }),
            ClientMsg::ListVideos => self.answer(|h| {
                h.send(ServerMsg::VideoList(h.ctx.catalog.fresh().infos()).encode_shared())
            }),
            ClientMsg::Play { video, mode } => self.answer(|h| h.play(&video, &mode)),
            ClientMsg::KeyQuery { name } => self.answer(|h| h.key_query(&name)),
            ClientMsg::Stop => self.answer(Self::stop_stream),
            ClientMsg::RoomJoin { room } => {
                self.answer(|h| h.send(rooms::join(h.ctx, &h.name, &room).encode_shared()))
            }
            ClientMsg::RoomLeave { room } => {
                self.answer(|h| h.send(rooms::leave(h.ctx, &h.name, &room).encode_shared()))
            }
            ClientMsg::RoomList => {
                self.answer(|h| h.send(rooms::list(h.ctx, &h.name).encode_shared()))
            }
            ClientMsg::RoomQuery { room } => {
                self.answer(|h| h.send(rooms::query(h.ctx, &h.name, &room).encode_shared()))
            }
        }
    }

    /// A request that is not chat: answered after the messages before it (the batch is
    /// written first), and within its budget, as every request kind has one (a list costs a
    /// folder check, a play a decoder). `Some` when this client is cut off for flooding.
    fn answer(&mut self, respond: impl FnOnce(&mut Self)) -> Option<End> {
        self.flush_mail();
        if !self.budgets.requests.take(Instant::now()) {
            let rate = self.ctx.config.request_rate;
            return self.dropped(
                ErrorCode::RateLimited,
                format!("too many requests: at most {rate} a second"),
            );
        }
        respond(self);
        None
    }

    /// A `CHAT`: within our budgets, taken to be stored for its recipient with our
    /// registered name stamped on it (the envelope stays opaque: the server has no key to
    /// open it). `Some` when this client is to be cut off for flooding.
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
        let online = self.ctx.registry.lookup(to);
        if let Some(recipient) = &online {
            if !self.budgets.pair(&recipient.name, now) {
                let text = format!(
                    "too many messages to {}: at most {} a second; messages are being dropped",
                    recipient.name, config.pair_rate
                );
                return self.dropped(ErrorCode::RateLimited, text);
            }
            // The recipient's budget is spent by its senders, never by cutting it.
            if !recipient.outbox.take_inbound() {
                let text =
                    format!("{} is receiving too many messages; yours was dropped", recipient.name);
                return self.dropped(ErrorCode::RateLimited, text);
            }
        }
        self.mail.chat(to.to_owned(), online, envelope);
        None
    }

    /// A room message: checked against the membership (`rooms.rs`), then one message of the
    /// sender's budget for each member it goes to, never the members'.
    fn room_chat(&mut self, room: &str, envelopes: Vec<(String, Vec<u8>)>) -> Option<End> {
        let (room, parts) = match rooms::check_chat(self.ctx, &self.name, room, envelopes) {
            Ok(checked) => checked,
            Err(refusal) => {
                self.flush_mail();
                self.send(refusal.encode_shared());
                return None;
            }
        };
        if !self.budgets.chat.take_n(Instant::now(), parts.len() as u32) {
            let rate = self.ctx.config.chat_rate;
            let text = format!(
                "too many messages: at most {rate} a second, a room message counting one for \
                 each member; messages are being dropped"
            );
            return self.dropped(ErrorCode::RateLimited, text);
        }
        self.mail.room_chat(&room, parts);
        None
    }

    /// Stores the chat messages read so far and deletes what was acknowledged (`mail.rs`).
    fn flush_mail(&mut self) {
        let (name, ctx, outbox) = (&self.name, self.ctx, &self.outbox);
        self.mail.flush(name, ctx, |frame| {
            if let Some(outbox) = outbox {
                let _ = outbox.send(frame, ctx.config.outbox_timeout);
            }
        });
    }

    /// A request of ours was dropped: we are told (each time: it is our own flood, on our own
    /// connection), paused a little, and cut off if it goes on.
    fn dropped(&mut self, code: ErrorCode, text: String) -> Option<End> {
        match self.budgets.strikes.strike(Instant::now(), 1) {
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
        if *mode == PlayMode::Auto {
            // The kernel's send buffer would hold seconds of video before the lane noticed a
            // slow reader: kept small, the lane's fill follows the client's reading. (For the
            // rest of the connection: a size once set cannot be handed back to the kernel.)
            use nix::sys::socket::{setsockopt, sockopt::SndBuf};
            let _ = setsockopt(self.socket, SndBuf, &AUTO_SEND_BUFFER);
        }
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
        self.flush_mail();
        self.stop_stream();
        // Leave the registry first (telling everyone), so nobody else holds our chat queue...
        self.ctx.registry.close(self.id);
        // ...then drop our own senders: the writer drains and ends.
        self.outbox = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }

    /// Once the session is over, a name joined with a throwaway key is free again, unless a
    /// newer session of the same key has claimed it since (a reconnect, which may have
    /// replaced this one, `End::Replaced`): the store releases only the binding this
    /// connection holds, in one transaction, whatever the order of the two.
    fn release_throwaway(&self) {
        let Some(key) = &self.throwaway else { return };
        // Its rooms lose it with the name: their members are told.
        let rooms = self.ctx.store.rooms_of(&self.name).unwrap_or_default();
        let released = self.ctx.store.release_throwaway(&self.name, key, self.id);
        if self.ctx.store.key_of(&self.name).ok().flatten().is_none() {
            rooms::gone(self.ctx, &self.name, &rooms);
        }
        match released {
            Ok(0) => {}
            Ok(gone) => {
                info!("released {}'s throwaway name with {gone} unread messages", self.name)
            }
            Err(e) => {
                warn!("cannot release {}'s throwaway name: {}", self.name, crate::report::Chain(&e))
            }
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
