//! The server's two shared parts: the `Listener` (the accept loop, one thread per client) and
//! the `Registry` (who is online, behind `Arc<Mutex<..>>`). One client's session lives in
//! `handler.rs`; this file never reads from a client.
//!
//! The registry's lock is held only to read or change the map and to put frames into
//! in-memory queues; never across socket I/O or OpenCV calls. Queues are bounded, and a
//! client whose queue is full is cut off rather than allowed to stall anyone else.

use crossbeam_channel::{Sender, TrySendError};
use log::{info, warn};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::cache::{CacheStats, FrameCache};
use crate::handler;
use crate::video::{self, Catalog, ProbeCache};
use crate::wire::{ErrorCode, ServerMsg, User};

/// Every limit of the server, with the defaults documented in `docs/SECURITY.md`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections at once, joined or not; one more is refused with `ServerFull`.
    pub max_clients: usize,
    /// Time from connecting to a successful `JOIN`; a connection that takes longer is cut.
    pub handshake_timeout: Duration,
    /// How long one socket write may block; a client that stops reading is cut after it.
    pub write_timeout: Duration,
    /// How long a sender waits for room in a recipient's full chat queue before the
    /// recipient is cut off as too slow.
    pub outbox_timeout: Duration,
    /// Frames queued for one client's chat lane (chat, directory events, replies).
    pub outbox_frames: usize,
    /// Chat messages a second one client may send, on average (0: no limit). Past it, messages
    /// are dropped with an `ERRR RateLimited`; a client that goes on is cut off.
    pub chat_rate: u32,
    /// Messages a client may send in a burst above the rate.
    pub chat_burst: u32,
    /// The folder of `NAME_LABEL.mp4` files.
    pub videos: PathBuf,
    /// JPEG quality of streamed frames, 1 to 100.
    pub jpeg_quality: i32,
    /// Send frames at the video's fps (true) or as fast as possible.
    pub pace: bool,
    /// Bound of the shared frame cache, in MiB (frames about to be sent are kept beyond it).
    pub cache_mb: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_clients: 1024,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            outbox_timeout: Duration::from_secs(5),
            outbox_frames: 256,
            chat_rate: 1000,
            chat_burst: 1000,
            videos: PathBuf::from("videos"),
            jpeg_quality: 90,
            pace: true,
            cache_mb: 256,
        }
    }
}

/// A frame encoded once and shared by every queue it is put in (a broadcast is encoded once,
/// not once per client).
pub type Frame = Arc<[u8]>;

/// Identifies one connection for its whole life, joined or not.
pub type ConnId = u64;

/// The two queues a client's writer thread drains. Chat has priority, so a chat message sent
/// to a client that is streaming goes out between two video frames.
#[derive(Clone)]
pub struct Outbox {
    pub chat: Sender<Frame>,
    pub video: Sender<Frame>,
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub text: String,
}

/// Checks a user name against the rules of SPEC §8: 1 to 32 characters of `A-Z a-z 0-9 _ . -`,
/// and not the reserved word `QUIT` (in any case), which the client uses to leave chat mode.
pub fn validate_name(name: &str) -> Result<(), Refusal> {
    let invalid =
        |why: &str| Refusal { code: ErrorCode::NameInvalid, text: format!("invalid name: {why}") };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > crate::wire::MAX_NAME {
        return Err(invalid("it is longer than 32 characters"));
    }
    if let Some(c) =
        name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(invalid(&format!(
            "{c:?} is not allowed; use letters, digits, '_', '.' or '-'"
        )));
    }
    if name.eq_ignore_ascii_case("QUIT") {
        return Err(Refusal {
            code: ErrorCode::NameReserved,
            text: "the name QUIT is reserved".into(),
        });
    }
    Ok(())
}

/// One joined user.
struct Member {
    id: ConnId,
    name: String,
    key: Vec<u8>,
    /// Position in join order, so the directory lists users in the order they came.
    joined: u64,
    outbox: Outbox,
}

#[derive(Default)]
struct State {
    next_id: ConnId,
    next_join: u64,
    /// Every live connection, joined or not, with a handle to cut it.
    connections: HashMap<ConnId, TcpStream>,
    /// Joined users by lower-cased name (names are unique ignoring case).
    members: HashMap<String, Member>,
    shutting_down: bool,
}

/// The shared directory of connections and users: a small `Clone` handle around
/// `Arc<Mutex<State>>`. Lock, change, unlock: no method blocks while holding the lock.
#[derive(Clone, Default)]
pub struct Registry {
    state: Arc<Mutex<State>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another thread while it held the lock leaves the map consistent (every
        // change is a single insert or remove), so keep serving rather than cascade the panic.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a new connection if there is room; `stream` is kept to cut it later.
    fn open(&self, stream: TcpStream, max: usize) -> Option<ConnId> {
        let mut state = self.lock();
        if state.shutting_down || state.connections.len() >= max {
            return None;
        }
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(id, stream);
        Some(id)
    }

    /// Registers connection `id` as `name`. On success the new user's queue already holds its
    /// `WLCM` and `URIF` frames, and every other user's queue a `JOND`, all put there under one
    /// lock so every client sees the same order of joins and leaves.
    pub fn join(
        &self,
        id: ConnId,
        name: &str,
        key: Vec<u8>,
        outbox: Outbox,
    ) -> Result<(), Refusal> {
        validate_name(name)?;
        let lower = name.to_ascii_lowercase();
        let user = User { name: name.to_owned(), key };
        let joined_frame: Frame = ServerMsg::Joined(user.clone()).encode().into();
        let mut laggards = Vec::new();
        {
            let mut state = self.lock();
            if state.shutting_down {
                return Err(Refusal {
                    code: ErrorCode::ShuttingDown,
                    text: "the server is shutting down".into(),
                });
            }
            if let Some(taken) = state.members.get(&lower) {
                return Err(Refusal {
                    code: ErrorCode::NameTaken,
                    text: format!(
                        "the name {} is taken (names are unique ignoring case)",
                        taken.name
                    ),
                });
            }
            state.next_join += 1;
            let joined = state.next_join;
            for member in state.members.values() {
                if !offer(&member.outbox, &joined_frame) {
                    laggards.push(member.id);
                }
            }
            state.members.insert(
                lower,
                Member { id, name: user.name, key: user.key, joined, outbox: outbox.clone() },
            );
            let welcome: Frame = ServerMsg::Welcome { name: name.to_owned() }.encode().into();
            let directory: Frame = ServerMsg::Directory(directory_of(&state)).encode().into();
            // The new queue is empty: both fit.
            offer(&outbox, &welcome);
            offer(&outbox, &directory);
        }
        self.cut_all(&laggards, "its queue is full");
        Ok(())
    }

    /// Removes connection `id` (and its user, telling everyone else). Returns the user's name
    /// if it had joined.
    pub fn close(&self, id: ConnId) -> Option<String> {
        let mut laggards = Vec::new();
        let name = {
            let mut state = self.lock();
            state.connections.remove(&id);
            let lower = state.members.iter().find(|(_, m)| m.id == id).map(|(k, _)| k.clone())?;
            let member = state.members.remove(&lower).expect("just found");
            if !state.shutting_down {
                let left: Frame = ServerMsg::Left { name: member.name.clone() }.encode().into();
                for other in state.members.values() {
                    if !offer(&other.outbox, &left) {
                        laggards.push(other.id);
                    }
                }
            }
            member.name
        };
        self.cut_all(&laggards, "its queue is full");
        Some(name)
    }

    /// The chat queue of the user called `name` (any case), and its registered spelling.
    pub fn lookup(&self, name: &str) -> Option<(ConnId, String, Sender<Frame>)> {
        let state = self.lock();
        let m = state.members.get(&name.to_ascii_lowercase())?;
        Some((m.id, m.name.clone(), m.outbox.chat.clone()))
    }

    /// Cuts connection `id`: its reader and writer fail, and its handler cleans up.
    pub fn cut(&self, id: ConnId, why: &str) {
        let stream = self.lock().connections.get(&id).and_then(|s| s.try_clone().ok());
        if let Some(stream) = stream {
            warn!("cutting off connection {id}: {why}");
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn cut_all(&self, ids: &[ConnId], why: &str) {
        for &id in ids {
            self.cut(id, why);
        }
    }

    /// How many users are joined.
    pub fn member_count(&self) -> usize {
        self.lock().members.len()
    }

    /// How many connections are open, joined or not.
    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// Tells every joined user the server is going away, then closes every connection:
    /// joined ones by their read side (so their writer still sends the notice), the others
    /// at once. New joins are refused from here on.
    fn shut_down_all(&self) {
        let notice: Frame = ServerMsg::Error {
            code: ErrorCode::ShuttingDown,
            text: "the server is shutting down".into(),
        }
        .encode()
        .into();
        let mut state = self.lock();
        state.shutting_down = true;
        let joined: HashSet<ConnId> = state.members.values().map(|m| m.id).collect();
        for member in state.members.values() {
            offer(&member.outbox, &notice);
        }
        for (id, stream) in &state.connections {
            let how = if joined.contains(id) { Shutdown::Read } else { Shutdown::Both };
            let _ = stream.shutdown(how);
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }
}

/// The directory in join order.
fn directory_of(state: &State) -> Vec<User> {
    let mut members: Vec<&Member> = state.members.values().collect();
    members.sort_by_key(|m| m.joined);
    members.iter().map(|m| User { name: m.name.clone(), key: m.key.clone() }).collect()
}

/// Puts a frame in a chat queue without waiting. False if the queue is full: that client is
/// more than a whole queue behind, and the caller cuts it off. (A closed queue is a client
/// already leaving; its handler is cleaning up.)
fn offer(outbox: &Outbox, frame: &Frame) -> bool {
    !matches!(outbox.chat.try_send(frame.clone()), Err(TrySendError::Full(_)))
}

/// What every thread of the server shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) registry: Registry,
    /// The videos on offer, rescanned on every list request so new files appear without a
    /// restart. Swapped whole: readers keep the `Arc` they got.
    catalog: Mutex<Arc<Catalog>>,
    scan: Mutex<ScanState>,
    /// Encoded frames, shared by every stream.
    pub(crate) frames: FrameCache,
    local_addr: SocketAddr,
}

impl Shared {
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Scans the videos folder again and returns the new catalog. Only new or changed files are
    /// opened, outside any lock (concurrent rescans just do some work twice).
    pub(crate) fn rescan(&self) -> Arc<Catalog> {
        let mut scan = self.scan.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let catalog = Arc::new(scan.run(&self.config.videos));
        *self.scan.lock().unwrap_or_else(|p| p.into_inner()) = scan;
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = catalog.clone();
        catalog
    }
}

/// The state kept between scans of the videos folder: what each file held, and which warnings
/// were already logged (each is logged once, not at every list request).
#[derive(Clone, Default)]
struct ScanState {
    cache: ProbeCache,
    warned: HashSet<String>,
}

impl ScanState {
    /// Scans `dir`, logging new warnings. An unreadable folder is an empty catalog.
    fn run(&mut self, dir: &std::path::Path) -> Catalog {
        let (catalog, warnings) = video::scan_cached(dir, &mut self.cache).unwrap_or_else(|e| {
            (
                Catalog::default(),
                vec![format!("cannot read the videos folder {}: {e}", dir.display())],
            )
        });
        for w in warnings {
            if self.warned.insert(w.clone()) {
                warn!("{w}");
            }
        }
        catalog
    }
}

/// A running server. Dropping it does not stop it; call [`ServerHandle::shutdown`].
pub struct ServerHandle {
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

/// Stops a server from another thread (the Ctrl-C handler holds one).
#[derive(Clone)]
pub struct ShutdownTrigger {
    shared: Arc<Shared>,
    fired: Arc<AtomicBool>,
}

impl ShutdownTrigger {
    /// Tells every client, closes every connection and wakes the accept loop, which then
    /// waits for every client thread to end. Safe to call more than once.
    pub fn fire(&self) {
        if self.fired.swap(true, Ordering::SeqCst) {
            return;
        }
        info!("shutting down");
        self.shared.registry.shut_down_all();
        // `accept` blocks: connect to ourselves to wake it up.
        let mut addr = self.shared.local_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    }
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    pub fn trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger { shared: self.shared.clone(), fired: Arc::new(AtomicBool::new(false)) }
    }

    /// Stops the server and waits until every thread it started has ended.
    pub fn shutdown(mut self) {
        self.trigger().fire();
        self.join();
    }

    /// Waits until the server stops (after a trigger fires).
    pub fn wait(mut self) {
        self.join();
    }

    /// What the shared frame cache has done so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared.frames.stats()
    }

    fn join(&mut self) {
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
            // Every stream has ended: now the producers can go.
            self.shared.frames.close();
        }
    }
}

/// Starts a server on an already bound listener (tests bind `127.0.0.1:0`) and returns at once.
pub fn spawn(listener: TcpListener, config: ServerConfig) -> io::Result<ServerHandle> {
    video::quiet_opencv_logs();
    let mut scan = ScanState::default();
    let catalog = scan.run(&config.videos);
    info!("serving {} videos from {}", catalog.videos.len(), config.videos.display());
    let frames = FrameCache::new(config.cache_mb.saturating_mul(1 << 20), config.jpeg_quality);
    let shared = Arc::new(Shared {
        frames,
        config,
        registry: Registry::default(),
        catalog: Mutex::new(Arc::new(catalog)),
        scan: Mutex::new(scan),
        local_addr: listener.local_addr()?,
    });
    let accept_shared = shared.clone();
    let listener = thread::Builder::new()
        .name("listener".into())
        .spawn(move || accept_loop(listener, accept_shared))?;
    Ok(ServerHandle { shared, listener: Some(listener) })
}

/// Runs a server until Ctrl-C: tells the clients, then returns once every thread has ended.
pub fn run(listener: TcpListener, config: ServerConfig) -> io::Result<()> {
    let server = spawn(listener, config)?;
    let trigger = server.trigger();
    ctrlc::set_handler(move || trigger.fire()).map_err(io::Error::other)?;
    server.wait();
    info!("server stopped");
    Ok(())
}

/// Thread stacks: client threads parse small frames and never recurse deeply, so a small
/// stack lets a thousand clients run in little memory.
pub(crate) const CLIENT_STACK: usize = 256 * 1024;

/// The `Listener`: accepts connections and gives each its own thread, until shutdown.
fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if shared.registry.is_shutting_down() {
            break;
        }
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before we took it:
                // wait a little rather than spin, and keep serving.
                warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        handlers.retain(|h| !h.is_finished());
        let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        let Some(id) = stream
            .try_clone()
            .ok()
            .and_then(|kill| shared.registry.open(kill, shared.config.max_clients))
        else {
            warn!("{peer} refused: server full ({} connections)", shared.config.max_clients);
            refuse(stream, ErrorCode::ServerFull, "the server is full; try again later");
            continue;
        };
        info!("{peer} connected");
        let conn_shared = shared.clone();
        let spawned = thread::Builder::new()
            .name(format!("client-{peer}"))
            .stack_size(CLIENT_STACK)
            .spawn(move || handler::run(stream, peer, id, conn_shared));
        match spawned {
            Ok(h) => handlers.push(h),
            Err(e) => {
                warn!("cannot start a thread for connection {id}: {e}");
                shared.registry.close(id);
            }
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// Sends one error frame on a connection we will not serve, then closes it.
fn refuse(mut stream: TcpStream, code: ErrorCode, text: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(&ServerMsg::Error { code, text: text.into() }.encode());
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rules() {
        assert!(validate_name("alice").is_ok());
        assert!(validate_name("A.b-c_9").is_ok());
        assert!(validate_name(&"x".repeat(32)).is_ok());
        assert_eq!(validate_name("").unwrap_err().code, ErrorCode::NameInvalid);
        assert_eq!(validate_name(&"x".repeat(33)).unwrap_err().code, ErrorCode::NameInvalid);
        assert_eq!(validate_name("al ice").unwrap_err().code, ErrorCode::NameInvalid);
        assert_eq!(validate_name("../x").unwrap_err().code, ErrorCode::NameInvalid);
        assert_eq!(validate_name("élise").unwrap_err().code, ErrorCode::NameInvalid);
        assert_eq!(validate_name("QUIT").unwrap_err().code, ErrorCode::NameReserved);
        assert_eq!(validate_name("quit").unwrap_err().code, ErrorCode::NameReserved);
    }
}
