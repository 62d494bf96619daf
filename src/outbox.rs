//! One client's outbox: two bounded queues ("lanes"), a wake-up for its mail, and the writer
//! thread that drains them into the client's socket. Nobody else writes to a client's socket
//! once it has joined.
//!
//! The chat lane carries directory events and replies; the video lane carries one stream.
//! Chat messages wait in the store (`store.rs`) until the client acknowledges them: the row
//! is each message's durable copy. A message kept while its recipient is online is also
//! handed to the recipient's writer in memory (`Outbox::hand_over`, in a bounded queue), so
//! the writer sends it without reading the database; it reads the store only for the backlog
//! (what waited before the session) or after the queue overflowed (`Pump`). So nothing a
//! sender does can fill a recipient's memory past that queue, and held and live messages come
//! out in one order, each once a session. The writer serves the chat lane and the mail before video,
//! so a message sent to a client that is streaming goes out between two frames. Both lanes
//! are bounded: a client that stops reading fills them, and whoever was putting frames in finds
//! out without waiting forever (the registry cuts a client whose chat lane is full of
//! broadcasts; a stream cuts a client whose video lane stays full).

use crossbeam_channel::{
    Receiver, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded, never, select,
};
use log::debug;
use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::budget::Bucket;
use crate::store::{Held, Store};
use crate::sync::LockAnyway;
use crate::wire::{self, EncodedFrame, ServerMsg, User};

/// Stack of every per-client thread (reader and writer): they parse small frames and never
/// recurse deeply, so a small stack lets a thousand clients run in little memory.
pub const CLIENT_STACK: usize = 256 * 1024;

/// Frames queued on a client's video lane: a few, so a stream runs at most this far ahead of
/// what the client has read, and a paused reader holds little memory.
pub const VIDEO_LANE_FRAMES: usize = 4;

/// Messages the writer reads from the store at a time: the most of a client's mail in
/// memory at once.
const MAIL_BATCH: usize = 64;

/// Live messages handed to a writer and not yet sent: past it, the writer reads the store.
const LIVE_MAIL: usize = 256;

/// What goes in a chat lane. A bounded lane allocates all its slots up front, 256 of them for
/// every client, so this is kept small (a boxed slice, not a `Vec`).
pub enum Outgoing {
    /// A frame already encoded (and perhaps shared with other lanes).
    Frame(EncodedFrame),
    /// The directory, as the registry saw it when this client joined. The writer encodes it,
    /// so the registry's lock is held only to copy pointers, not to make bytes.
    Directory(Box<[Arc<User>]>),
    /// Mail waits in the store: the writer sends it here, in its place among the events (a
    /// message stored before a `LEFT` goes out before it, a `JOND` before its sender's first
    /// message).
    Mail,
}

/// Whether a `Mail` wake-up is in the lane already (one is enough: the writer then reads all
/// there is), and whether one was lost to a full lane (the writer then looks anyway).
#[derive(Default)]
struct MailFlags {
    queued: AtomicBool,
    missed: AtomicBool,
    /// Messages kept for this client since its session began, handed over in id order.
    live: Mutex<std::collections::VecDeque<Held>>,
    /// A message did not fit in `live`: the writer reads the store instead.
    overflowed: AtomicBool,
}

impl From<EncodedFrame> for Outgoing {
    fn from(frame: EncodedFrame) -> Self {
        Outgoing::Frame(frame)
    }
}

/// Why a frame did not go into a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    /// The lane stayed full: the client is not reading.
    Full,
    /// The client is leaving: its writer has stopped.
    Closed,
}

/// The sending ends of a client's lanes; clones share them.
#[derive(Clone)]
pub struct Outbox {
    chat: Sender<Outgoing>,
    video: Sender<EncodedFrame>,
    /// Chat this client may receive, from all senders together.
    inbound: Arc<Mutex<Bucket>>,
    mail: Arc<MailFlags>,
}

/// The receiving ends, for the writer thread.
pub struct Lanes {
    chat: Receiver<Outgoing>,
    video: Receiver<EncodedFrame>,
    mail: Arc<MailFlags>,
}

impl Outbox {
    /// A new outbox whose chat lane holds `chat_frames` frames, receiving at most
    /// `inbound_rate` chat messages a second (0: no limit).
    pub fn new(chat_frames: usize, inbound_rate: u32) -> (Outbox, Lanes) {
        let (chat_tx, chat) = bounded(chat_frames);
        let (video_tx, video) = bounded(VIDEO_LANE_FRAMES);
        let mail = Arc::new(MailFlags::default());
        let inbound = Arc::new(Mutex::new(Bucket::new(inbound_rate, inbound_rate, Instant::now())));
        let outbox = Outbox { chat: chat_tx, video: video_tx, inbound, mail: mail.clone() };
        (outbox, Lanes { chat, video, mail })
    }

    /// Takes one message from this client's inbound budget: false if it receives all it may
    /// in this second already (the sender is refused; this client is not cut).
    pub fn take_inbound(&self) -> bool {
        self.inbound.lock_anyway().take(Instant::now())
    }

    /// Mail waits for this client in the store: the writer sends it, after what is in the
    /// lane now.
    pub fn wake_mail(&self) {
        if self.mail.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(TrySendError::Full(_)) = self.chat.try_send(Outgoing::Mail) {
            self.mail.queued.store(false, Ordering::Release);
            self.mail.missed.store(true, Ordering::Release);
        }
    }

    /// A message kept for this client (durable already), handed over so the writer need not
    /// read it back from the store; past `LIVE_MAIL` waiting, the writer reads the store.
    pub fn hand_over(&self, message: Held) {
        {
            let mut live = self.mail.live.lock_anyway();
            if live.len() < LIVE_MAIL {
                live.push_back(message);
            } else {
                self.mail.overflowed.store(true, Ordering::Release);
            }
        }
        self.wake_mail();
    }

    /// Puts a frame in the chat lane without waiting. False if the lane is full: that client
    /// is a whole lane behind. (A closed lane is a client already leaving: true, nothing to do.)
    pub fn offer(&self, item: impl Into<Outgoing>) -> bool {
        !matches!(self.chat.try_send(item.into()), Err(TrySendError::Full(_)))
    }

    /// Puts a frame in the chat lane, waiting at most `patience` for room. The waiting is the
    /// backpressure of a flood: it slows whoever is sending.
    pub fn send(&self, frame: EncodedFrame, patience: Duration) -> Result<(), Undelivered> {
        match self.chat.send_timeout(frame.into(), patience) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(Undelivered::Full),
            Err(SendTimeoutError::Disconnected(_)) => Err(Undelivered::Closed),
        }
    }

    /// The video lane, for the client's stream.
    pub fn video(&self) -> &Sender<EncodedFrame> {
        &self.video
    }
}

/// When a client was last heard from, shared by its reader (which notes every frame) and its
/// writer (which sends `PING` to a client silent for `ping_after`, and gives up on it
/// `grace` later): a joined session that goes quiet, a dead peer or a held-open socket, ends.
pub struct Liveness {
    start: Instant,
    /// Milliseconds from `start` to the last frame heard.
    heard: AtomicU64,
    pub ping_after: Duration,
    pub grace: Duration,
}

impl Liveness {
    pub fn new(ping_after: Duration, grace: Duration) -> Liveness {
        Liveness { start: Instant::now(), heard: AtomicU64::new(0), ping_after, grace }
    }

    /// The client sent a frame.
    pub fn heard(&self) {
        self.heard.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let heard = Duration::from_millis(self.heard.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(heard)
    }
}

/// Where a client's chat messages wait: the store, and whose they are.
pub struct Mailbox {
    pub store: Arc<Store>,
    /// The client's name, as registered.
    pub name: String,
    /// What the writer sent it this session.
    pub sent: Arc<Sent>,
}

/// The messages the writer has sent a client this session, shared with its session: an
/// `ACKN` is good only for a message that was sent, so a flood of acknowledgements for ids
/// never sent (each a delete in the next commit) is cut as any flood is.
#[derive(Default)]
pub struct Sent {
    count: AtomicU64,
    /// The highest id sent (ids grow).
    top: AtomicU64,
}

impl Sent {
    /// Noted before the message is written: its acknowledgement may come back at once.
    fn note(&self, id: u64) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.top.fetch_max(id, Ordering::AcqRel);
    }

    /// Whether an acknowledgement of `id`, after `acked` others this session, can be for a
    /// message sent: `id` is not above the highest sent, and no more are acknowledged than
    /// were sent.
    pub fn covers(&self, acked: u64, id: u64) -> bool {
        id <= self.top.load(Ordering::Acquire) && acked < self.count.load(Ordering::Acquire)
    }
}

/// Sends a client what waits for it in the store, in the order it came, each message once a
/// session: a message not acknowledged is sent again at the client's next session.
struct Pump {
    mailbox: Mailbox,
    /// The id of the last message sent this session.
    last: i64,
    /// Messages up to this id were kept before the session began: their senders may be
    /// offline now, so each one's key goes first.
    backlog: i64,
    /// Senders whose key this client was sent this session (lower-cased).
    keyed: HashSet<String>,
}

impl Pump {
    /// Writes the next batch of waiting messages; before the first of each sender's that
    /// waited from before the session, its key (the sender may be offline, and the client
    /// needs the key to check the signature; a sender of a live message is online). True if
    /// there may be more.
    fn run(&mut self, out: &mut impl Write, flags: &MailFlags) -> io::Result<bool> {
        // What waited before the session comes from the store; then what is handed over,
        // unless some of it did not fit: then the store again, from the last one sent.
        let from_store = self.last < self.backlog || flags.overflowed.swap(false, Ordering::AcqRel);
        if !from_store {
            let live: Vec<Held> = flags.live.lock_anyway().drain(..).collect();
            for message in live {
                if message.id > self.last {
                    self.last = message.id;
                    write_chat(out, message, &self.mailbox.sent)?;
                }
            }
            return Ok(false);
        }
        let Mailbox { store, name, sent } = &self.mailbox;
        let mail = match store.mail_after(name, self.last, MAIL_BATCH) {
            Ok(mail) => mail,
            Err(e) => {
                log::error!("cannot read {name}'s mail: {}", crate::report::Chain(&e));
                return Ok(false);
            }
        };
        let whole_batch = mail.len() == MAIL_BATCH;
        for message in mail {
            if message.id <= self.backlog && self.keyed.insert(message.from.to_ascii_lowercase()) {
                // A throwaway sender's key came with its message: its name may be free now.
                let key = match &message.sender_key {
                    Some(key) => Some((message.from.clone(), key.clone())),
                    None => store.key_of(&message.from).ok().flatten(),
                };
                if let Some((name, key)) = key {
                    out.write_all(&ServerMsg::UserKey(User { name, key }).encode())?;
                }
            }
            self.last = message.id;
            write_chat(out, message, sent)?;
        }
        if whole_batch {
            return Ok(true);
        }
        // Caught up with the store (the backlog too, even if some of it was acknowledged in
        // an earlier session meanwhile): what was handed over and is sent already is skipped,
        // by id.
        self.last = self.last.max(self.backlog);
        Ok(!flags.live.lock_anyway().is_empty())
    }
}

/// Writes one message as `CHAT` (or `RCHT`, for a room), with its id to acknowledge: the
/// message is consumed, so its envelope is not copied on the way.
fn write_chat(out: &mut impl Write, message: Held, sent: &Sent) -> io::Result<()> {
    let Held { id, from, envelope, room, .. } = message;
    let id = id as u64;
    sent.note(id);
    let chat = match room {
        Some(room) => ServerMsg::RoomChat { id, room, from, envelope },
        None => ServerMsg::Chat { id, from, envelope },
    };
    out.write_all(&chat.encode())
}

/// Starts the writer thread `writer-NAME`. It ends when every [`Outbox`] of the client is
/// dropped and the chat lane is drained (the session is over), or when the socket fails or
/// the client stops answering pings: then it shuts the socket down, so the client's reader
/// ends too. The mail that waited for the client goes when its session wakes it (after the
/// `WLCM` and the directory).
pub fn spawn_writer(
    socket: Arc<TcpStream>,
    lanes: Lanes,
    liveness: Arc<Liveness>,
    mailbox: Mailbox,
) -> io::Result<JoinHandle<()>> {
    let name = format!("writer-{}", mailbox.name);
    let backlog = mailbox.store.last_mail_id(&mailbox.name).unwrap_or(i64::MAX);
    let pump = Pump { mailbox, last: 0, backlog, keyed: HashSet::new() };
    thread::Builder::new().name(name).stack_size(CLIENT_STACK).spawn(move || {
        if let Err(e) = write_loop(&socket, lanes, &liveness, pump) {
            debug!("writer for {:?} stopped: {e}", socket.peer_addr());
            let _ = socket.shutdown(Shutdown::Both);
        }
    })
}

/// Keeps a joined session honest, on every turn of the writer's loop whatever the traffic:
/// a `PING` to a client silent for `ping_after`, and an error (the session's end) once it has
/// been silent `grace` more. A frozen client that messages still flow to is cut all the same.
struct Keepalive<'a> {
    liveness: &'a Liveness,
    pinged: bool,
}

impl Keepalive<'_> {
    fn check(&mut self, out: &mut impl Write) -> io::Result<()> {
        let silent = self.liveness.silent_for();
        if silent < self.liveness.ping_after {
            self.pinged = false;
        } else if silent >= self.liveness.ping_after + self.liveness.grace {
            let why = format!("silent for {} s, even to a ping", silent.as_secs());
            return Err(io::Error::new(io::ErrorKind::TimedOut, why));
        } else if !self.pinged {
            self.pinged = true;
            out.write_all(&ServerMsg::Ping.encode())?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Drains the lanes and the mail into the socket, chat lane and mail first. Flushes only when
/// there is nothing more to send, so a burst goes out in few system calls.
fn write_loop(
    socket: &TcpStream,
    lanes: Lanes,
    liveness: &Liveness,
    mut pump: Pump,
) -> io::Result<()> {
    let Lanes { chat, mut video, mail } = lanes;
    let mut out = BufWriter::with_capacity(8 * 1024, socket);
    let tick = (liveness.ping_after / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut keepalive = Keepalive { liveness, pinged: false };
    // Mail not sent yet of a wake-up already taken: a batch goes before each lane item.
    let mut more_mail = false;
    loop {
        keepalive.check(&mut out)?;
        more_mail |= mail.missed.swap(false, Ordering::AcqRel);
        if more_mail {
            more_mail = pump.run(&mut out, &mail)?;
        }
        let item = match chat.try_recv() {
            Ok(item) => item,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if more_mail => continue,
            Err(TryRecvError::Empty) => match video.try_recv() {
                Ok(frame) => Outgoing::Frame(frame),
                Err(_) => {
                    out.flush()?;
                    select! {
                        recv(chat) -> item => match item {
                            Ok(item) => item,
                            Err(_) => break,
                        },
                        recv(video) -> frame => match frame {
                            Ok(frame) => Outgoing::Frame(frame),
                            Err(_) => {
                                // No stream will ever send again: wait on chat alone.
                                video = never();
                                continue;
                            }
                        },
                        default(tick) => continue,
                    }
                }
            },
        };
        match item {
            Outgoing::Frame(frame) => out.write_all(&frame)?,
            Outgoing::Directory(users) => out.write_all(&wire::encode_directory(&users))?,
            Outgoing::Mail => {
                // Cleared first: a message stored from now on wakes the writer again.
                mail.queued.store(false, Ordering::Release);
                more_mail = pump.run(&mut out, &mail)?;
            }
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_slot_stays_small() {
        // 256 slots a client, allocated up front.
        assert!(std::mem::size_of::<Outgoing>() <= 24);
    }
}
