//! One joined client's connection on the server: its state (name, queues, budgets, stream,
//! the chat read but not yet stored) and the actions every request uses: answer within a
//! budget, refuse, send, store the batch. What each request does is in its own file in
//! `src/cmd/`; the loop that reads them is `connection.rs`. Its writer thread is the only code
//! that writes to its socket.

use log::{info, warn};
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::budget::{Bucket, Buckets, Strike, Strikes};
use crate::config::ServerConfig;
use crate::context::Context;
use crate::mail::Mail;
use crate::outbox::{self, Lanes, Liveness, Mailbox, Outbox, Sent};
use crate::registry::ConnId;
use crate::rooms;
use crate::socket::End;
use crate::stream::StreamHandle;
use crate::wire::{EncodedFrame, ErrorCode, ServerMsg};

/// One joined client's connection, from its join to its end (mini-redis names the same part
/// `Handler`; the client's own event loop is `client::session::Session`).
pub(crate) struct Handler<'a> {
    pub(crate) id: ConnId,
    pub(crate) name: String,
    pub(crate) ctx: &'a Context,
    pub(crate) socket: &'a TcpStream,
    outbox: Option<Outbox>,
    writer: Option<JoinHandle<()>>,
    /// The current stream, if any: one at a time, a new request replaces it.
    pub(crate) stream: Option<StreamHandle>,
    pub(crate) budgets: Budgets,
    /// When we last heard from the client (its writer pings it when it goes quiet).
    pub(crate) liveness: Arc<Liveness>,
    /// Chat sent and acknowledged, not yet written to the store.
    pub(crate) mail: Mail,
    /// The key, if it is a throwaway one: the name is released when the session ends.
    throwaway: Option<Vec<u8>>,
    /// What the writer sent this session, and how many of those were acknowledged: the
    /// budget of `ACKN`.
    pub(crate) sent: Arc<Sent>,
    pub(crate) acked: u64,
    /// The room whose watch plays on this client's video lane, if any.
    pub(crate) watching: Option<String>,
}

/// What one client may ask of the server (docs/SECURITY.md, "Limits").
pub(crate) struct Budgets {
    /// Chat messages, to anyone.
    pub(crate) chat: Bucket,
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
    pub fn pair(&mut self, to: &str, now: Instant) -> bool {
        self.pairs.take(to.to_ascii_lowercase(), now).is_ok()
    }
}

/// What the handshake hands the session: who joined, and its queues.
pub(crate) struct Joining {
    pub(crate) name: String,
    /// The key, if it is a throwaway one (`--ephemeral`): the name is bound to it for this
    /// session only, and released when it ends.
    pub(crate) throwaway: Option<Vec<u8>>,
    pub(crate) outbox: Outbox,
    pub(crate) lanes: Lanes,
}

impl<'a> Handler<'a> {
    /// The session of a client that just joined: its writer thread starts, and what waited
    /// for it while it was away is queued after the welcome and the directory.
    pub fn new(
        socket: &'a Arc<TcpStream>,
        id: ConnId,
        ctx: &'a Context,
        joining: Joining,
    ) -> Result<Handler<'a>, End> {
        let Joining { name, throwaway, outbox, lanes } = joining;
        let config = &ctx.config;
        let liveness = Arc::new(Liveness::new(config.ping_after, config.ping_grace));
        liveness.heard();
        let sent = Arc::new(Sent::default());
        let mailbox = Mailbox { store: ctx.store.clone(), name: name.clone(), sent: sent.clone() };
        let writer = outbox::spawn_writer(socket.clone(), lanes, liveness.clone(), mailbox)
            .map_err(|e: io::Error| End::Failed(format!("cannot start writer thread: {e}")))?;
        outbox.wake_mail();
        ctx.watches.tell_newcomer(&ctx.store, &name, &outbox);
        Ok(Handler {
            id,
            name,
            ctx,
            socket,
            outbox: Some(outbox),
            writer: Some(writer),
            stream: None,
            budgets: Budgets::new(config),
            liveness,
            mail: Mail::default(),
            throwaway,
            sent,
            acked: 0,
            watching: None,
        })
    }

    /// A request that is not chat: answered after the messages before it (the batch is
    /// written first), and within its budget, as every request kind has one (a list costs a
    /// folder check, a play a decoder). `Some` when this client is cut off for flooding.
    pub fn answer(&mut self, respond: impl FnOnce(&mut Self)) -> Option<End> {
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

    /// Stores the chat messages read so far and deletes what was acknowledged (`mail.rs`).
    pub fn flush_mail(&mut self) {
        let (name, ctx, outbox) = (&self.name, self.ctx, &self.outbox);
        self.mail.flush(name, ctx, |frame| {
            if let Some(outbox) = outbox {
                let _ = outbox.send(frame, ctx.config.outbox_timeout);
            }
        });
    }

    /// A request of ours was dropped: we are told (each time: it is our own flood, on our own
    /// connection), paused a little, and cut off if it goes on.
    pub fn dropped(&mut self, code: ErrorCode, text: String) -> Option<End> {
        self.refused(ServerMsg::Error { code, text })
    }

    /// As [`Handler::dropped`], with the refusal to send.
    pub fn refused(&mut self, refusal: ServerMsg) -> Option<End> {
        match self.budgets.strikes.strike(Instant::now(), 1) {
            Strike::Tell => {
                self.send(refusal.encode_shared());
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

    /// Leaves the room's watch on our video lane, if any, quietly: a stream of our own is
    /// about to take the lane.
    pub fn leave_watch(&mut self) {
        if let Some(room) = self.watching.take() {
            self.ctx.watches.leave(&room, self.id);
        }
    }

    /// Our queues, while the session lasts.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.outbox.as_ref()
    }

    /// Stops the current stream (its thread sends the end frame). Without one, nothing to do:
    /// a stop that crosses the stream's natural end is not an error.
    pub fn stop_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.stop();
        }
    }

    pub fn send(&self, frame: EncodedFrame) {
        if let Some(outbox) = &self.outbox {
            // Our own queue: if it stays full we are the slow one, and the writer will fail.
            let _ = outbox.send(frame, self.ctx.config.outbox_timeout);
        }
    }

    pub fn send_error(&self, code: ErrorCode, text: String) {
        self.send(ServerMsg::Error { code, text }.encode_shared());
    }

    /// Lets the writer send what is queued (after a quit, or the error frame that explains a
    /// protocol error) or stops it at once (the connection is gone anyway).
    pub fn finish(&mut self, end: &End) {
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
    pub fn release_throwaway(&self) {
        let Some(key) = &self.throwaway else { return };
        // Its rooms lose it with the name: their members are told.
        let mut rooms = self.ctx.store.seats_of(&self.name, false).unwrap_or_default();
        rooms.extend(self.ctx.store.seats_of(&self.name, true).unwrap_or_default());
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
