//! The server's settings and the defaults the command line shows. Plain data: nothing here
//! opens a socket or a file.
//!
//! `main.rs` builds a [`ServerConfig`] from the flags; tests build one with
//! `ServerConfig { videos: dir, ..ServerConfig::default() }`. Every limit is explained, with
//! what an attacker gets from it, in `docs/SECURITY.md`.

use std::path::PathBuf;
use std::time::Duration;

use crate::video::source::Engine;

/// The address the server listens on and the client connects to by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:1234";
/// The port an address given without one means.
pub const DEFAULT_PORT: u16 = 1234;

/// An address as the command line takes it, `host[:port]`, with [`DEFAULT_PORT`] where no
/// port is given: `localhost`, `10.0.0.5`, `[::1]` and `::1` as well as `host:4000`. The
/// name is looked up when it is used, not here.
pub fn address(given: &str) -> Result<String, String> {
    let given = given.trim();
    if given.is_empty() {
        return Err("an address is a host, with :PORT if not the default".into());
    }
    if given.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(given.to_owned());
    }
    if let Ok(v6) = given.parse::<std::net::Ipv6Addr>() {
        return Ok(format!("[{v6}]:{DEFAULT_PORT}"));
    }
    if given.starts_with('[') && given.ends_with(']') {
        return Ok(format!("{given}:{DEFAULT_PORT}"));
    }
    match given.rsplit_once(':') {
        None => Ok(format!("{given}:{DEFAULT_PORT}")),
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(given.to_owned())
        }
        Some(_) => Err(format!("{given:?} is not host[:port] (a port is 0 to 65535)")),
    }
}

/// The folder of `NAME_LABEL.mp4` files the server offers by default.
pub const DEFAULT_VIDEOS: &str = "videos";
/// JPEG quality of streamed frames, 1 to 100.
pub const DEFAULT_JPEG_QUALITY: i32 = 90;
/// Connections at once, joined or not.
pub const DEFAULT_MAX_CLIENTS: u32 = 1024;
/// Memory for the shared cache of encoded frames, in MiB.
pub const DEFAULT_CACHE_MB: usize = 256;
/// Chat messages a second one client may send.
pub const DEFAULT_CHAT_RATE: u32 = 1000;
/// Messages a second one client may send to any one recipient.
pub const DEFAULT_PAIR_RATE: u32 = 100;
/// Requests other than chat (video list, play, stop, key lookup) a second one client may make.
pub const DEFAULT_REQUEST_RATE: u32 = 20;
/// Dropped messages and requests within 10 s before a client is cut off.
pub const DEFAULT_STRIKE_LIMIT: u32 = 100;
/// Joins a minute from one source address, once its burst is spent.
pub const DEFAULT_JOIN_RATE: u32 = 10;
/// The smallest RSA key a client may join with.
pub const DEFAULT_MIN_KEY_BITS: usize = 2048;
/// Where the server keeps names and held messages (`--db`).
pub const DEFAULT_DB: &str = "chatroom.db";

/// How many connections the registry admits (`ServerConfig`; docs/SECURITY.md, "Limits").
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// Connections at once, joined or not.
    pub max: usize,
    /// From one source address (one IPv6 /64): one source cannot take every slot.
    pub per_source: usize,
    /// Connections that have not joined yet, from everyone together...
    pub unjoined: usize,
    /// ...and from one source: fewer than `unjoined`, so one source cannot keep everyone
    /// else from joining.
    pub unjoined_per_source: usize,
    /// Joins a minute from one source (0: no limit), after a burst of `per_source`: every
    /// connection a source may hold can join at once, but nobody can join and leave over and
    /// over (each time a line on every user's screen) or register names without end.
    pub joins_per_minute: u32,
}

/// Every limit of the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Connections at once, joined or not; one more is refused with `ServerFull`.
    pub max_clients: usize,
    /// Connections from one address (one IPv6 /64); 0: three quarters of `max_clients`, so
    /// one address can never hold every slot.
    pub max_per_address: usize,
    /// Time from connecting to a successful `JOIN`; a connection that takes longer is cut.
    pub handshake_timeout: Duration,
    /// After a refused `JOIN` (a name taken, say), the time to send another: a person types it.
    pub join_retry_timeout: Duration,
    /// How long one socket write may block; a client that stops reading is cut after it.
    pub write_timeout: Duration,
    /// How long a chat message for an online recipient whose mailbox is full waits for it to
    /// acknowledge (and so make room) before it is refused (`mail.rs`): the sender's session
    /// tries it again meanwhile, and goes on reading. Under the client's reply timeout (10 s).
    pub mailbox_patience: Duration,
    /// How long a broadcast or a reply waits for room in a client's chat queue, and a stream
    /// in its video queue, before the client is cut off as too slow. (Relayed chat waits at
    /// most 200 ms, `Outbox::relay`, and is then dropped: its recipient is never cut for it.)
    pub outbox_timeout: Duration,
    /// Frames queued for one client's chat lane (chat, directory events, replies).
    pub outbox_frames: usize,
    /// Chat messages a second one client may send, on average (0: no limit). Past it, messages
    /// are dropped with an `ERRR RateLimited`; a client that goes on is cut off.
    pub chat_rate: u32,
    /// Messages a client may send in a burst above the rate.
    pub chat_burst: u32,
    /// Messages a second one client may send to one recipient (0: no limit): a few flooders
    /// cannot take a recipient's whole inbound budget from the others.
    pub pair_rate: u32,
    /// Relayed messages a second one client may receive, from everyone together (0: none).
    pub inbound_rate: u32,
    /// Other requests a second (list, play, stop, key lookup), bursts of twice that.
    pub request_rate: u32,
    /// Joins a minute from one source address, after a burst (`Admission::joins_per_minute`;
    /// 0: no limit, for benchmarks).
    pub join_rate: u32,
    /// Dropped messages and requests within 10 s before a client is cut off.
    pub strike_limit: u32,
    /// A joined client silent this long is sent a `PING`...
    pub ping_after: Duration,
    /// ...and cut off if it is still silent this much later.
    pub ping_grace: Duration,
    /// The folder of `NAME_LABEL.mp4` files.
    pub videos: PathBuf,
    /// JPEG quality of streamed frames, 1 to 100.
    pub jpeg_quality: i32,
    /// Send frames at the video's fps (true) or as fast as possible.
    pub pace: bool,
    /// Bound of the shared frame cache, in MiB (frames about to be sent are kept beyond it).
    pub cache_mb: usize,
    /// What reads and encodes frames (`--decoder`).
    pub engine: Engine,
    /// The smallest RSA key a client may join with, in bits.
    pub min_key_bits: usize,
    /// The SQLite file of names and held messages; `:memory:` keeps nothing after the
    /// server stops (the default here, for tests; the command line's is `chatroom.db`).
    pub db: PathBuf,
    /// Begin a new, empty database where one that held names is missing (`--init-db`).
    pub init_db: bool,
    /// How each commit is synced to disk (`--sync`).
    pub sync: crate::store::SyncMode,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_clients: DEFAULT_MAX_CLIENTS as usize,
            max_per_address: 0,
            handshake_timeout: Duration::from_secs(10),
            join_retry_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(10),
            mailbox_patience: Duration::from_secs(5),
            outbox_timeout: Duration::from_secs(5),
            outbox_frames: 256,
            // Set by `with_chat_rate`, below.
            chat_rate: 0,
            chat_burst: 0,
            pair_rate: 0,
            inbound_rate: 0,
            request_rate: DEFAULT_REQUEST_RATE,
            join_rate: DEFAULT_JOIN_RATE,
            strike_limit: DEFAULT_STRIKE_LIMIT,
            ping_after: Duration::from_secs(60),
            ping_grace: Duration::from_secs(30),
            videos: PathBuf::from(DEFAULT_VIDEOS),
            jpeg_quality: DEFAULT_JPEG_QUALITY,
            pace: true,
            cache_mb: DEFAULT_CACHE_MB,
            engine: Engine::default(),
            min_key_bits: DEFAULT_MIN_KEY_BITS,
            db: PathBuf::from(":memory:"),
            init_db: false,
            sync: crate::store::SyncMode::Full,
        }
        .with_chat_rate(DEFAULT_CHAT_RATE)
    }
}

impl ServerConfig {
    /// The chat limits that follow from one rate (`--chat-rate`): a client may send `rate`
    /// messages a second, in bursts of as many, and receive as many from everyone together;
    /// to one recipient it may send `DEFAULT_PAIR_RATE` a second. Rate 0 lifts every chat
    /// limit, the per-recipient ones too (for benchmarks).
    pub fn with_chat_rate(self, rate: u32) -> ServerConfig {
        ServerConfig {
            chat_rate: rate,
            chat_burst: rate.max(1),
            pair_rate: if rate == 0 { 0 } else { DEFAULT_PAIR_RATE },
            inbound_rate: rate,
            ..self
        }
    }

    /// The connection limits: `max_clients` in all; from one address, `max_per_address` (by
    /// default three quarters of them); not yet joined, three quarters of them, and half of
    /// them from one address: an address that opens connections and never joins leaves a
    /// quarter of the slots, and of the room to join, to everyone else.
    pub fn admission(&self) -> Admission {
        // Rounded up: a server of 2 slots still takes 2 clients from one address.
        let three_quarters = (self.max_clients - self.max_clients / 4).max(1);
        let per_source =
            if self.max_per_address == 0 { three_quarters } else { self.max_per_address };
        let unjoined_per_source = (self.max_clients / 2).clamp(1, per_source);
        Admission {
            max: self.max_clients,
            per_source,
            unjoined: three_quarters,
            unjoined_per_source,
            joins_per_minute: self.join_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_port_gets_the_default_one() {
        assert_eq!(address("127.0.0.1:4000").unwrap(), "127.0.0.1:4000");
        assert_eq!(address("127.0.0.1").unwrap(), "127.0.0.1:1234");
        assert_eq!(address("localhost").unwrap(), "localhost:1234");
        assert_eq!(address("localhost:4601").unwrap(), "localhost:4601");
        assert_eq!(address("::1").unwrap(), "[::1]:1234");
        assert_eq!(address("[::1]").unwrap(), "[::1]:1234");
        assert_eq!(address("[::1]:99").unwrap(), "[::1]:99");
        assert!(address("host:99999").is_err());
        assert!(address("host:port").is_err());
        assert!(address(":80").is_err());
        assert!(address(" ").is_err());
    }
}
