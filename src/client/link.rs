//! The connection to the server: connect and handshake, join, and the two halves that the
//! client's threads share: a [`LinkReader`] for the one thread that reads, and a cheap-to-clone
//! [`LinkWriter`] for every thread that sends. `--trace` prints every frame here, in both
//! directions.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ClientError;
use crate::cmd;
use crate::keys::Identity;
use crate::sync::LockAnyway;
use crate::wire::{self, Encode, ReadError, ServerMsg, Tag, User};

/// How long the client waits for the server's handshake and join replies.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one write may block: a server that stops reading cannot hang the client (even
/// its quit) for longer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Prints a frame to stderr when tracing ([`trace_line`]).
fn trace(direction: &str, tag: Tag, payload: &[u8]) {
    eprintln!("{}", trace_line(direction, tag, payload));
}

/// A frame as `--trace` prints it: direction, tag, length and the first bytes in hex
/// (docs/WALKTHROUGH.md quotes such lines, and a test makes them again from the code).
pub fn trace_line(direction: &str, tag: Tag, payload: &[u8]) -> String {
    let head: Vec<String> = payload.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let more = if payload.len() > 16 { " ..." } else { "" };
    format!("[trace] {direction} {tag} {:>7} bytes  {}{more}", payload.len(), head.join(" "))
}

/// What the tags mean, printed once when tracing starts.
const LEGEND: &str = "[trace] -> sent, <- received: tag, payload bytes, first bytes in hex. \
HELO handshake, JOIN/WLCM join, URIF user list, JOND/LEFT a user came/went, CHAT a sealed \
message, ERRR an error, STLI video list, STRM play/stream start, FRAM video frames (counted, \
one line a second), STOP, SEND stream end, QUIT (docs/PROTOCOL.md)";

/// Video frames received since the last summary line.
#[derive(Default)]
struct FrameTally {
    count: u32,
    bytes: usize,
    since: Option<Instant>,
}

impl FrameTally {
    fn add(&mut self, bytes: usize) {
        self.count += 1;
        self.bytes += bytes;
        if self.since.get_or_insert_with(Instant::now).elapsed() >= Duration::from_secs(1) {
            self.flush();
        }
    }

    /// Prints `FRAM x30, 1.9 MB` for what is counted, if anything.
    fn flush(&mut self) {
        if self.count > 0 {
            let mb = self.bytes as f64 / 1e6;
            eprintln!("[trace] <- FRAM x{}, {mb:.1} MB", self.count);
        }
        *self = FrameTally::default();
    }
}

/// The receiving half of a connection to the server.
pub struct LinkReader {
    inner: BufReader<TcpStream>,
    trace: bool,
    frames: FrameTally,
    /// The server's challenge from the handshake, which `join` signs.
    challenge: [u8; wire::CHALLENGE_LEN],
}

impl LinkReader {
    /// Reads the next message from the server (blocking).
    pub fn recv(&mut self) -> Result<ServerMsg, ReadError> {
        let (tag, payload) = wire::read_frame(&mut self.inner, wire::FROM_SERVER)?;
        if self.trace && tag == Tag::FRAME {
            self.frames.add(payload.len());
        } else if self.trace {
            self.frames.flush();
            trace("<-", tag, &payload);
        }
        Ok(ServerMsg::decode(tag, &payload)?)
    }

    /// Whether bytes already read wait in the buffer (so `recv` may not block).
    pub fn buffered(&self) -> bool {
        !self.inner.buffer().is_empty()
    }

    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.get_ref().set_read_timeout(timeout)
    }

    /// The socket, to set a read timeout or shut it down.
    pub fn stream(&self) -> &TcpStream {
        self.inner.get_ref()
    }
}

/// The sending half of a connection; cheap to clone, and safe to use from several threads
/// (each frame is written whole under a lock, so frames never interleave).
#[derive(Clone)]
pub struct LinkWriter {
    /// The connection; replaced (for every clone) when the client reconnects.
    socket: Arc<Mutex<Arc<TcpStream>>>,
    /// Held while one frame is written. Writes time out, and `shutdown` does not take it, so
    /// nobody waits on it for long.
    writing: Arc<Mutex<()>>,
    trace: bool,
}

impl LinkWriter {
    pub fn send(&self, msg: &impl Encode) -> io::Result<()> {
        self.send_frame(&msg.encode())
    }

    /// Sends an already encoded frame (the benchmarks pre-build theirs).
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        if self.trace && frame.len() >= wire::HEADER_LEN {
            trace("->", Tag(frame[..4].try_into().expect("4 bytes")), &frame[wire::HEADER_LEN..]);
        }
        let _writing = self.writing.lock_anyway();
        let socket = self.socket();
        let result = (&*socket).write_all(frame);
        if result.is_err() {
            // Part of a frame may have gone: nothing sent after it could be read right.
            self.shutdown();
        }
        result
    }

    /// Closes the connection both ways (used to simulate a crash, and on exit). Ends a write
    /// blocked in another thread at once.
    pub fn shutdown(&self) {
        let _ = self.socket().shutdown(Shutdown::Both);
    }

    /// Whether frames are traced (`--trace`).
    pub fn tracing(&self) -> bool {
        self.trace
    }

    fn socket(&self) -> Arc<TcpStream> {
        self.socket.lock_anyway().clone()
    }

    /// From now on, every clone of this writer sends on `other`'s connection (after a
    /// reconnect).
    pub fn take_over(&self, other: &LinkWriter) {
        *self.socket.lock_anyway() = other.socket();
    }
}

/// Connects and does the handshake. `trace` prints every frame to stderr.
pub fn connect(addr: &str, trace: bool) -> Result<(LinkReader, LinkWriter), ClientError> {
    let connect_err = |source| ClientError::Connect { addr: addr.to_owned(), source };
    let addrs: Vec<_> = addr.to_socket_addrs().map_err(connect_err)?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, REPLY_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = stream.ok_or_else(|| connect_err(last))?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut reader = LinkReader {
        inner: BufReader::new(stream.try_clone()?),
        trace,
        frames: FrameTally::default(),
        challenge: [0; wire::CHALLENGE_LEN],
    };
    if trace {
        eprintln!("{LEGEND}");
    }
    let socket = Arc::new(Mutex::new(Arc::new(stream)));
    let writer = LinkWriter { socket, writing: Arc::new(Mutex::new(())), trace };

    reader.set_timeout(Some(REPLY_TIMEOUT))?;
    writer.send(&cmd::Hello { magic: wire::MAGIC, version: wire::VERSION })?;
    match reader.recv() {
        Ok(ServerMsg::Hello { magic, version, challenge })
            if magic == wire::MAGIC && version == wire::VERSION =>
        {
            reader.challenge = challenge;
        }
        Ok(ServerMsg::Hello { version, .. }) => {
            return Err(ClientError::Handshake(format!(
                "protocol version mismatch: client speaks {}, server {version}",
                wire::VERSION
            )));
        }
        Ok(ServerMsg::Error { text, .. }) => return Err(ClientError::Handshake(text)),
        Ok(other) => {
            return Err(ClientError::Handshake(format!("unexpected {} frame", other.tag())));
        }
        Err(ReadError::Wire(e)) => {
            return Err(ClientError::Handshake(format!(
                "this does not look like a chatroom server ({e})"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    reader.set_timeout(None)?;
    Ok((reader, writer))
}

/// A successful join: the name as registered, and everyone online (ourselves included).
#[derive(Debug, Clone)]
pub struct Joined {
    pub name: String,
    pub directory: Vec<User>,
    /// Chat messages we may have unanswered at once (the server's `WLCM`).
    pub window: u16,
    /// The highest message number the server kept from our key: ours go on above it.
    pub last_seq: u64,
}

/// Registers `name` with our public key, signing the server's challenge to prove we hold it.
/// A refusal (name taken, invalid...) is
/// `ClientError::Refused`, and the same connection may try again with another name.
/// `throwaway`: the key is made for this session only (`--ephemeral`); the server binds the
/// name to it only while the session lasts.
pub fn join(
    reader: &mut LinkReader,
    writer: &LinkWriter,
    name: &str,
    identity: &Identity,
    throwaway: bool,
) -> Result<Joined, ClientError> {
    let proof = identity.sign_join(&reader.challenge, name)?;
    let key = identity.public_der().to_vec();
    writer.send(&cmd::Join { name: name.to_owned(), key, proof, throwaway })?;
    reader.set_timeout(Some(REPLY_TIMEOUT))?;
    let result = (|| match reader.recv()? {
        ServerMsg::Welcome { name, window, last_seq } => match reader.recv()? {
            ServerMsg::Directory(directory) => Ok(Joined { name, directory, window, last_seq }),
            other => {
                Err(ClientError::Handshake(format!("expected the directory, got {}", other.tag())))
            }
        },
        ServerMsg::Error { code, text } => Err(ClientError::Refused { code, text }),
        other => Err(ClientError::Handshake(format!("unexpected {} frame", other.tag()))),
    })();
    reader.set_timeout(None)?;
    result
}

/// A connection made again, joined as the same user (`--reconnect`).
pub struct Relinked {
    pub reader: LinkReader,
    pub writer: LinkWriter,
    pub joined: Joined,
}

/// Where and how to join again when the connection is lost (`--reconnect`).
#[derive(Debug, Clone)]
pub struct Rejoin {
    pub server: String,
    /// The key is a throwaway one (`--ephemeral`).
    pub throwaway: bool,
}

/// The longest wait between two tries to reconnect.
pub const RECONNECT_MAX: Duration = Duration::from_secs(60);

/// Connects and joins again as `name` with `identity`, waiting 1, 2, 4... and at most 60 s
/// between tries, until it works. Runs on a thread of its own (`reconnect`): the session
/// goes on meanwhile, and the process may end at any time.
pub fn rejoin(to: &Rejoin, name: &str, identity: &Identity, trace: bool) -> Relinked {
    let mut wait = Duration::from_secs(1);
    loop {
        std::thread::sleep(wait);
        let attempt = connect(&to.server, trace).and_then(|(mut reader, writer)| {
            let joined = join(&mut reader, &writer, name, identity, to.throwaway)?;
            Ok(Relinked { reader, writer, joined })
        });
        match attempt {
            Ok(relinked) => return relinked,
            Err(e) => log::debug!("reconnecting: {}", crate::report::Chain(&e)),
        }
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}
