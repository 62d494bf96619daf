//! Helpers shared by the integration tests: a real server on `127.0.0.1:0`, real clients
//! with real RSA keys, and a raw socket for speaking frames by hand.
#![allow(dead_code)]

pub mod pane;
pub mod proc;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chatroom::client::link::{self, Joined, LinkReader, LinkWriter};
use chatroom::client::peers::{self, Directory, Opener, Sealer};
use chatroom::cmd;
use chatroom::config::ServerConfig;
use chatroom::keys::{Identity, MIN_KEY_BITS};
use chatroom::roster;
use chatroom::server::Server;
use chatroom::video::source::Engine;
use chatroom::wire::{self, Encode, ServerMsg};

/// The engine the tests' servers read video with: `CHATROOM_DECODER=opencv` chooses OpenCV
/// (`make test` runs the stream tests once with each).
pub fn engine() -> Engine {
    if std::env::var("CHATROOM_DECODER").is_ok_and(|d| d == "opencv") {
        Engine::Plugged(&chatroom::video::opencv::OpenCv)
    } else {
        Engine::Ffmpeg
    }
}

/// Starts a server on a free port, with the tests' [`engine`].
pub fn start_server(mut config: ServerConfig) -> Server {
    // The tests' keys are 1024 bits: quick to make.
    config.min_key_bits = MIN_KEY_BITS;
    config.engine = engine();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    Server::spawn(listener, config).unwrap()
}

pub fn default_server() -> Server {
    start_server(ServerConfig::default())
}

/// Key generation is the slow part of a test: tests share a few identities. Sharing a key
/// between test users is harmless (the server does not require keys to differ) and each
/// user still signs and decrypts for real.
pub fn identity(i: usize) -> Arc<Identity> {
    static POOL: OnceLock<Vec<Arc<Identity>>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        (0..4).map(|_| Arc::new(Identity::generate(MIN_KEY_BITS).unwrap())).collect()
    });
    pool[i % pool.len()].clone()
}

/// A joined client driven through the library API.
pub struct TestClient {
    pub name: String,
    pub reader: LinkReader,
    pub writer: LinkWriter,
    pub directory: Directory,
    pub sealer: Sealer,
    pub opener: Opener,
    pub identity: Arc<Identity>,
}

impl TestClient {
    pub fn join(addr: SocketAddr, name: &str, key: usize) -> TestClient {
        TestClient::join_as(addr, name, key, false)
    }

    /// Joins with a throwaway key (`--ephemeral`: the name bound for this session only).
    pub fn join_throwaway(addr: SocketAddr, name: &str, key: usize) -> TestClient {
        TestClient::join_as(addr, name, key, true)
    }

    fn join_as(addr: SocketAddr, name: &str, key: usize, throwaway: bool) -> TestClient {
        let identity = identity(key);
        let (mut reader, writer) = link::connect(&addr.to_string(), false).unwrap();
        let Joined { name, directory, .. } =
            link::join(&mut reader, &writer, name, &identity, throwaway).unwrap();
        TestClient {
            sealer: Sealer::new(identity.clone(), &name),
            opener: Opener::new(identity.clone(), &name),
            name,
            reader,
            writer,
            directory: Directory::new(directory),
            identity,
        }
    }

    /// Reads the next message, applying directory changes, with a deadline so a missing
    /// message fails the test instead of hanging it.
    pub fn recv(&mut self) -> ServerMsg {
        self.recv_within(Duration::from_secs(20)).expect("a message from the server")
    }

    /// The next message within `timeout`, skipping `SENT` (the server taking our own chat
    /// messages: tests that look for it read the link themselves).
    pub fn recv_within(&mut self, timeout: Duration) -> Option<ServerMsg> {
        loop {
            match self.recv_any_within(timeout)? {
                ServerMsg::Sent { .. } => {}
                ServerMsg::Ping => self.writer.send(&cmd::Pong).unwrap(),
                msg => return Some(msg),
            }
        }
    }

    /// The next message, `SENT` included.
    pub fn recv_any(&mut self) -> ServerMsg {
        self.recv_any_within(Duration::from_secs(20)).expect("a message from the server")
    }

    pub fn recv_any_within(&mut self, timeout: Duration) -> Option<ServerMsg> {
        self.reader_timeout(Some(timeout));
        let msg = match self.reader.recv() {
            Ok(msg) => msg,
            Err(wire::ReadError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(e) => panic!("{}: connection failed: {e}", self.name),
        };
        // Joins, leaves, and an offline sender's key before a held message (to check its
        // signature).
        self.directory.apply(&msg);
        // Acknowledged as it comes, as a client does once it has shown it (tests of what
        // happens without acknowledgements speak the protocol by hand).
        if let ServerMsg::Chat { id, .. } = msg {
            self.writer.send(&cmd::Ack { id }).unwrap();
        }
        Some(msg)
    }

    fn reader_timeout(&self, timeout: Option<Duration>) {
        self.reader.stream().set_read_timeout(timeout).unwrap();
    }

    /// Skips directory events until a chat arrives; returns (sender, opened text or error).
    pub fn next_chat(&mut self) -> (String, Result<String, peers::DropReason>) {
        loop {
            match self.recv() {
                ServerMsg::Chat { from, envelope, .. } => {
                    let opened = self.opener.open(&self.directory, "", &from, &envelope);
                    return (from, opened);
                }
                ServerMsg::Joined(_)
                | ServerMsg::Left { .. }
                | ServerMsg::UserKey(_)
                | ServerMsg::Delivered { .. } => {}
                other => panic!("{}: expected a chat, got {other:?}", self.name),
            }
        }
    }

    /// Waits until `name` has joined (as seen by this client).
    pub fn wait_joined(&mut self, name: &str) {
        while self.directory.online(name).is_none() {
            match self.recv() {
                ServerMsg::Joined(_) | ServerMsg::Left { .. } => {}
                other => panic!("{}: expected JOINED {name}, got {other:?}", self.name),
            }
        }
    }

    pub fn send_text(&mut self, to: &str, text: &str) {
        let peer = self
            .directory
            .get(to)
            .unwrap_or_else(|| panic!("{} does not know {to}", self.name))
            .clone();
        let msg = self.sealer.seal(&peer, text).unwrap();
        self.writer.send(&msg).unwrap();
    }

    /// Asks the server for the key of `name`, registered and offline (to write to them).
    pub fn ask_key(&mut self, name: &str) {
        self.writer.send(&cmd::KeyQuery { name: name.to_owned() }).unwrap();
        while !matches!(self.recv(), ServerMsg::UserKey(user) if user.name.eq_ignore_ascii_case(name))
        {
        }
    }

    /// Sends `text` to `to` and waits for the server's answer: `Ok(queued)` once it is kept,
    /// the error if not.
    pub fn send_confirmed(&mut self, to: &str, text: &str) -> Result<bool, ServerMsg> {
        self.send_text(to, text);
        loop {
            match self.recv_any() {
                ServerMsg::Sent { queued, .. } => return Ok(queued),
                err @ ServerMsg::Error { .. } => return Err(err),
                ServerMsg::Ping => self.writer.send(&cmd::Pong).unwrap(),
                _ => {}
            }
        }
    }

    /// Signs `action` about `subject` (whose key is `key`) in `room` after `prev`, sends it
    /// (`RCHG`), and waits for the server to pass it back: its hash, or the refusal.
    pub fn change(
        &mut self,
        room: &str,
        prev: roster::Hash,
        action: roster::Action,
        subject: &str,
        key: &[u8],
    ) -> Result<roster::Hash, ServerMsg> {
        let key = roster::key_hash(key);
        let me = self.name.clone();
        let change =
            roster::Change::signed(&self.identity, &me, room, prev, action, subject, key).unwrap();
        let bytes = change.encode();
        self.writer.send(&cmd::RoomChange { change: bytes.clone() }).unwrap();
        loop {
            match self.recv_any() {
                ServerMsg::RoomChange { change: back } if back == bytes => return Ok(change.hash()),
                err @ ServerMsg::Error { .. } => return Err(err),
                _ => continue,
            }
        }
    }

    /// Makes `room` with `self` its first member, then invites each of `others`, who
    /// accepts: the changes a terminal client signs. The room's last hash.
    pub fn seat(&mut self, room: &str, others: &mut [&mut TestClient]) -> roster::Hash {
        use roster::Action;
        let (me, id) = (self.name.clone(), self.identity.clone());
        let mine = id.public_der();
        let mut head = self.change(room, roster::GENESIS, Action::Create, &me, mine).unwrap();
        for other in others.iter_mut() {
            let (name, key) = (other.name.clone(), other.identity.clone());
            head = self.change(room, head, Action::Invite, &name, key.public_der()).unwrap();
            head = other.change(room, head, Action::Join, &name, key.public_der()).unwrap();
        }
        head
    }

    pub fn quit(self) {
        self.writer.send(&cmd::Quit).unwrap();
    }
}

/// A socket that speaks frames by hand, for what a well-behaved client never sends.
pub struct RawClient {
    pub stream: TcpStream,
    /// The server's join challenge, once `hello` has read it.
    pub challenge: [u8; wire::CHALLENGE_LEN],
}

impl RawClient {
    /// Connects from the local address `source` (127.0.0.2, 127.0.0.3...: on Linux the whole
    /// 127/8 is the loopback, so each stands in for another host).
    pub fn connect_from(addr: SocketAddr, source: &str) -> std::io::Result<RawClient> {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        let from: SocketAddr = format!("{source}:0").parse().unwrap();
        socket.bind(&from.into())?;
        socket.connect(&addr.into())?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(RawClient { stream, challenge: [0; wire::CHALLENGE_LEN] })
    }

    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        RawClient { stream, challenge: [0; wire::CHALLENGE_LEN] }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send_msg(&mut self, msg: &impl Encode) {
        self.send(&msg.encode());
    }

    pub fn hello(&mut self) {
        self.send_msg(&cmd::Hello { magic: wire::MAGIC, version: wire::VERSION });
        match self.recv() {
            Some(ServerMsg::Hello { challenge, .. }) => self.challenge = challenge,
            other => panic!("expected HELO, got {other:?}"),
        }
    }

    /// A `JOIN` as `name` with `id`'s key, proven by signing this connection's challenge.
    pub fn join_msg(&self, name: &str, id: &Identity) -> cmd::Join {
        let proof = id.sign_join(&self.challenge, name).unwrap();
        cmd::Join { name: name.into(), key: id.public_der().to_vec(), proof, throwaway: false }
    }

    /// The next frame's raw bytes (header included), or `None` once the server has closed.
    pub fn recv_raw(&mut self) -> Option<Vec<u8>> {
        let mut header = [0u8; wire::HEADER_LEN];
        if self.stream.read_exact(&mut header).is_err() {
            return None;
        }
        let (_, len) = wire::parse_header(&header, wire::FROM_SERVER).unwrap();
        let mut frame = header.to_vec();
        frame.resize(wire::HEADER_LEN + len, 0);
        self.stream.read_exact(&mut frame[wire::HEADER_LEN..]).ok()?;
        Some(frame)
    }

    pub fn recv(&mut self) -> Option<ServerMsg> {
        let frame = self.recv_raw()?;
        Some(wire::parse_server(&frame).unwrap().0)
    }

    /// True once the server has closed the connection (reads end), within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A man in the middle between bob and the server, rewriting what the server sends bob.
pub fn proxy(
    server: std::net::SocketAddr,
    mut rewrite: impl FnMut(ServerMsg) -> Vec<ServerMsg> + Send + 'static,
) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let upstream = TcpStream::connect(server).unwrap();
        let (mut c_read, mut u_write) =
            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        std::thread::spawn(move || std::io::copy(&mut c_read, &mut u_write));
        let mut u_read = std::io::BufReader::new(upstream);
        let mut c_write = client;
        while let Ok(msg) = wire::read_server(&mut u_read) {
            for out in rewrite(msg) {
                if c_write.write_all(&out.encode()).is_err() {
                    return;
                }
            }
        }
    });
    addr
}

/// Removes the folders earlier test processes left behind (those no longer running): each
/// run cleans up after the last, since a test that fails keeps its folder for a look.
fn remove_stale_temp_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("chatroom-test-").and_then(|r| r.split('-').next())
        else {
            continue;
        };
        let alive = std::path::Path::new("/proc").join(pid).exists();
        if !alive && pid.parse::<u32>().is_ok_and(|p| p != std::process::id()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh, empty folder under the system's temp dir, unique to this test run.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(remove_stale_temp_dirs);
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("chatroom-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `NAME_LABEL.mp4` into `dir`: real frames with their index drawn in as a barcode.
pub fn write_video(
    dir: &std::path::Path,
    name: &str,
    label: &str,
    size: (i32, i32),
    fps: f64,
    frames: u32,
) {
    let path = dir.join(format!("{name}_{label}.mp4"));
    chatroom::video::demo::write_demo_video(
        &path,
        name,
        label,
        size,
        fps,
        frames,
        chatroom::video::demo::Codec::Mpeg4,
        false,
    )
    .unwrap();
}

/// One stream as a client saw it.
#[derive(Debug, Default)]
pub struct Received {
    pub start: Option<ServerMsg>,
    pub frames: Vec<(u32, String, Vec<u8>)>,
    pub end: Option<(u32, chatroom::wire::EndReason)>,
    /// Chats that arrived while the stream ran, with how many frames had arrived before each.
    pub chats: Vec<(String, String, usize)>,
}

impl TestClient {
    /// Asks the server to stream `video`.
    pub fn play(&self, video: &str, mode: wire::PlayMode) {
        self.writer.send(&cmd::Play { video: video.into(), mode }).unwrap();
    }

    /// Reads until the stream ends, keeping everything that arrives meanwhile.
    pub fn receive_stream(&mut self) -> Received {
        let mut got = Received::default();
        loop {
            match self.recv() {
                msg @ ServerMsg::StreamStart { .. } => got.start = Some(msg),
                ServerMsg::Frame { index, label, jpeg } => got.frames.push((index, label, jpeg)),
                ServerMsg::StreamEnd { sent, reason } => {
                    got.end = Some((sent, reason));
                    return got;
                }
                ServerMsg::Chat { from, envelope, .. } => {
                    let text = self.opener.open(&self.directory, "", &from, &envelope).unwrap();
                    got.chats.push((from, text, got.frames.len()));
                }
                ServerMsg::Joined(_) | ServerMsg::Left { .. } => {}
                other => panic!("{}: unexpected {other:?} during a stream", self.name),
            }
        }
    }
}

/// A folder with `clip` at 144p, 240p and 360p, `frames` frames at `fps`.
pub fn videos_dir(fps: f64, frames: u32) -> std::path::PathBuf {
    let dir = temp_dir("cli-videos");
    write_video(&dir, "clip", "144p", (256, 144), fps, frames);
    write_video(&dir, "clip", "240p", (426, 240), fps, frames);
    write_video(&dir, "clip", "360p", (640, 360), fps, frames);
    dir
}
