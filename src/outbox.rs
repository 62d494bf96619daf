//! One client's outbox: two bounded queues ("lanes") and the writer thread that drains them
//! into the client's socket. Nobody else writes to a client's socket once it has joined.
//!
//! The chat lane carries chat, directory events and replies; the video lane carries one stream.
//! The writer serves chat first, so a chat message sent to a client that is streaming goes out
//! between two video frames. Both lanes are bounded: a client that stops reading fills them,
//! and whoever was putting frames in finds out without waiting forever (the registry cuts a
//! client whose chat lane is full of broadcasts; a stream cuts a client whose video lane stays
//! full). Relayed chat never cuts anyone: it may fill only part of the lane, at a budgeted
//! rate, and what does not fit is dropped and its sender told.

use crossbeam_channel::{
    Receiver, SendTimeoutError, Sender, TryRecvError, TrySendError, bounded, never, select,
};
use log::debug;
use std::io::{self, BufWriter, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::budget::Bucket;
use crate::wire::{self, EncodedFrame, User};

/// Stack of every per-client thread (reader and writer): they parse small frames and never
/// recurse deeply, so a small stack lets a thousand clients run in little memory.
pub const CLIENT_STACK: usize = 256 * 1024;

/// Frames queued on a client's video lane: a few, so a stream runs at most this far ahead of
/// what the client has read, and a paused reader holds little memory.
pub const VIDEO_LANE_FRAMES: usize = 4;

/// How long a relayed message waits for room in a recipient's lane (the sender's thread
/// waits: that is the flood's backpressure) before it is dropped and its sender told.
const RELAY_PATIENCE: Duration = Duration::from_millis(200);

/// What goes in a chat lane. A bounded lane allocates all its slots up front, 256 of them for
/// every client, so this is kept to 24 bytes (a boxed slice, not a `Vec`).
pub enum Outgoing {
    /// A frame already encoded (and perhaps shared with other lanes).
    Frame(EncodedFrame),
    /// The directory, as the registry saw it when this client joined. The writer encodes it,
    /// so the registry's lock is held only to copy pointers, not to make bytes.
    Directory(Box<[Arc<User>]>),
    /// A relayed chat message, counted against the server's chat memory until it is written
    /// (or dropped with the lane).
    Relayed(Box<Charge>),
}

/// Bytes of relayed chat waiting in every client's lane, against one budget for the whole
/// server: many stalled receivers together cannot hold more than that.
#[derive(Debug)]
pub struct ChatMemory {
    used: AtomicUsize,
    budget: usize,
}

impl ChatMemory {
    pub fn new(budget: usize) -> Arc<ChatMemory> {
        Arc::new(ChatMemory { used: AtomicUsize::new(0), budget })
    }

    /// Bytes of chat queued now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Counts `frame` in, if it fits the budget.
    fn charge(self: &Arc<Self>, frame: EncodedFrame) -> Option<Charge> {
        let len = frame.len();
        let before = self.used.fetch_add(len, Ordering::Relaxed);
        if before + len > self.budget {
            self.used.fetch_sub(len, Ordering::Relaxed);
            return None;
        }
        Some(Charge { frame, memory: self.clone() })
    }
}

/// A relayed frame and the memory it is counted in; dropping it (written, or thrown away
/// with a closed lane) gives the bytes back.
pub struct Charge {
    frame: EncodedFrame,
    memory: Arc<ChatMemory>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.frame.len(), Ordering::Relaxed);
    }
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
    /// The client already receives all the chat it may in this second, from everyone.
    Busy,
    /// The server holds all the undelivered chat it may (`ChatMemory`).
    ServerFull,
    /// The client is leaving: its writer has stopped.
    Closed,
}

/// The sending ends of a client's two lanes; clones share them.
#[derive(Clone)]
pub struct Outbox {
    chat: Sender<Outgoing>,
    video: Sender<EncodedFrame>,
    /// Relayed chat this client may receive, from all senders together.
    inbound: Arc<Mutex<Bucket>>,
    /// The server's budget for relayed chat waiting in lanes.
    memory: Arc<ChatMemory>,
    /// Relayed chat may fill the chat lane up to here: the rest is kept for directory events
    /// and replies, so others' messages can never crowd them out.
    relay_room: usize,
}

/// The receiving ends, for the writer thread.
pub struct Lanes {
    chat: Receiver<Outgoing>,
    video: Receiver<EncodedFrame>,
}

impl Outbox {
    /// A new outbox whose chat lane holds `chat_frames` frames, receiving at most
    /// `inbound_rate` relayed messages a second (0: no limit), within the server's `memory`.
    pub fn new(chat_frames: usize, inbound_rate: u32, memory: Arc<ChatMemory>) -> (Outbox, Lanes) {
        let (chat_tx, chat) = bounded(chat_frames);
        let (video_tx, video) = bounded(VIDEO_LANE_FRAMES);
        let inbound = Arc::new(Mutex::new(Bucket::new(inbound_rate, inbound_rate, Instant::now())));
        let relay_room = (chat_frames * 3 / 4).max(1);
        let outbox = Outbox { chat: chat_tx, video: video_tx, inbound, memory, relay_room };
        (outbox, Lanes { chat, video })
    }

    /// Puts a relayed chat message in the lane, waiting at most `RELAY_PATIENCE` (200 ms) for
    /// room: the recipient's budget and the room left for relays decide, the wait slows only
    /// the sender's own thread, and a message that does not fit is the *sender's* problem
    /// (dropped, and the sender told), never a reason to cut the recipient.
    pub fn relay(&self, frame: EncodedFrame) -> Result<(), Undelivered> {
        if !self.inbound.lock().unwrap_or_else(|p| p.into_inner()).take(Instant::now()) {
            return Err(Undelivered::Busy);
        }
        // A lane full for a moment (a burst) is waited out, a little: the sender waits.
        let deadline = Instant::now() + RELAY_PATIENCE;
        while self.chat.len() >= self.relay_room {
            if Instant::now() >= deadline {
                return Err(Undelivered::Full);
            }
            thread::sleep(Duration::from_millis(2));
        }
        let charge = self.memory.charge(frame).ok_or(Undelivered::ServerFull)?;
        match self.chat.try_send(Outgoing::Relayed(Box::new(charge))) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Undelivered::Full),
            Err(TrySendError::Disconnected(_)) => Err(Undelivered::Closed),
        }
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

/// Starts the writer thread `writer-NAME`. It ends when every [`Outbox`] of the client is
/// dropped and the chat lane is drained (the session is over), or when the socket fails or
/// the client stops answering pings: then it shuts the socket down, so the client's reader
/// ends too.
pub fn spawn_writer(
    name: &str,
    socket: Arc<TcpStream>,
    lanes: Lanes,
    liveness: Arc<Liveness>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(format!("writer-{name}")).stack_size(CLIENT_STACK).spawn(
        move || {
            if let Err(e) = write_loop(&socket, lanes, &liveness) {
                debug!("writer for {:?} stopped: {e}", socket.peer_addr());
                let _ = socket.shutdown(Shutdown::Both);
            }
        },
    )
}

/// Drains the lanes into the socket, chat first. Flushes only when both are empty, so a burst
/// goes out in few system calls.
fn write_loop(socket: &TcpStream, lanes: Lanes, liveness: &Liveness) -> io::Result<()> {
    let Lanes { chat, mut video } = lanes;
    let mut out = BufWriter::with_capacity(8 * 1024, socket);
    let tick = (liveness.ping_after / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut pinged = false;
    loop {
        let item = match chat.try_recv() {
            Ok(item) => item,
            Err(TryRecvError::Disconnected) => break,
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
                        default(tick) => {
                            let silent = liveness.silent_for();
                            if silent < liveness.ping_after {
                                pinged = false;
                            } else if silent >= liveness.ping_after + liveness.grace {
                                return Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    format!("silent for {} s, even to a ping", silent.as_secs()),
                                ));
                            } else if !pinged {
                                pinged = true;
                                out.write_all(&wire::ServerMsg::Ping.encode())?;
                            }
                            continue;
                        }
                    }
                }
            },
        };
        match item {
            Outgoing::Frame(frame) => out.write_all(&frame)?,
            Outgoing::Directory(users) => out.write_all(&wire::encode_directory(&users))?,
            Outgoing::Relayed(charge) => out.write_all(&charge.frame)?,
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

    #[test]
    fn relayed_chat_is_counted_until_written_or_dropped_and_refused_past_the_budget() {
        let memory = ChatMemory::new(1000);
        let (outbox, lanes) = Outbox::new(8, 0, memory.clone());
        let frame = |n: usize| EncodedFrame::from(vec![0u8; n]);
        assert_eq!(outbox.relay(frame(600)), Ok(()));
        assert_eq!(memory.used(), 600);
        assert_eq!(outbox.relay(frame(600)), Err(Undelivered::ServerFull));
        assert_eq!(memory.used(), 600);
        // The lane goes (its client left: both ends dropped) with the message in it: the bytes
        // come back.
        drop(lanes);
        drop(outbox);
        assert_eq!(memory.used(), 0);
    }
}
