//! The Python original's protocol, as its source shows it at commit de5e0f5, spoken by bench
//! clients so that `bench chat --original` and `bench stream --original` run the same workloads
//! against the original server (`make compare`). Nothing but the bench speaks it.
//!
//! The original has no framing: a message is whatever one `recv` returns. So this client
//! writes each command on its own, waits for what the original needs in between, and parses
//! the byte stream by what the source sends:
//!
//! - at connect, the server's public key as PEM (server 183);
//! - the name, then `OK`, then the client's PEM key (server 45–47);
//! - `URIF` + a JSON object of names and keys, broadcast at every join (server 52–54);
//! - `[CHAT]`, then `CHAT` + ciphertext, broadcast to every socket as it is (server 63–68);
//!   `QUIT` leaves chat mode, `[DISCONNECT]` leaves (server 64, 161);
//! - `[STREAM]`, answered by `STLI` + a 4-byte length + a JSON list of names (server 73–74);
//!   then the name, answered by `STRM` + a 4-byte count, then per frame an 8-byte length and
//!   the JPEG (server 94, 131–133, 152–154).
//!
//! A chat message's 128 bytes stand where the original puts an RSA-1024 ciphertext: the server
//! relays them unread, so the bench sends a numbered, checksummed payload instead of real
//! PKCS#1 v1.5 (which the product does not use anywhere).

use serde::de::IgnoredAny;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use super::chat::{ChatBench, ChatMode, ChatReport, Tally};
use super::stream::{StreamBench, StreamReport};
use crate::client::ClientError;
use crate::keys::Identity;

/// The most bytes one parsed item may take (a frame, a list): a hostile or broken server cannot
/// make the bench allocate more.
const MAX_ITEM: usize = 16 * 1024 * 1024;
/// The size of an RSA-1024 ciphertext, which follows `CHAT` in the original.
pub const CIPHERTEXT: usize = 128;
/// The pause between two commands the original must read with separate `recv`s.
pub const COMMAND_GAP: Duration = Duration::from_millis(100);

/// One thing the original's server sent, parsed from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `URIF` and the names in its JSON object.
    Users(Vec<String>),
    /// `CHAT` and the 128 bytes after it.
    Chat(Vec<u8>),
    /// `STLI` and the video names of its JSON list.
    Videos(Vec<String>),
    /// `STRM` and the announced frame count.
    Stream(u32),
}

/// Why bytes from the original's server make no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unexpected bytes {0:?}")]
    Junk(String),
    #[error("{what} of {len} bytes is over the bench's limit")]
    TooLong { what: &'static str, len: usize },
    #[error("malformed JSON")]
    Json,
}

/// The PEM block the server sends first: its length, once the whole block has arrived.
pub fn pem_block(buf: &[u8]) -> Option<usize> {
    const END: &[u8] = b"-----END RSA PUBLIC KEY-----\n";
    buf.windows(END.len()).position(|w| w == END).map(|at| at + END.len())
}

/// One item from the front of `buf` and the bytes it took; `Ok(None)`: read more.
pub fn item(buf: &[u8]) -> Result<Option<(Item, usize)>, ParseError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    match &buf[..4] {
        b"URIF" => {
            // `{name: key PEM, ...}`: the names, in sorted order.
            let users = json_front::<BTreeMap<String, IgnoredAny>>(&buf[4..])?;
            Ok(users.map(|(users, len)| (Item::Users(users.into_keys().collect()), 4 + len)))
        }
        b"CHAT" if buf.len() >= 4 + CIPHERTEXT => {
            Ok(Some((Item::Chat(buf[4..4 + CIPHERTEXT].to_vec()), 4 + CIPHERTEXT)))
        }
        b"CHAT" => Ok(None),
        b"STLI" if buf.len() < 8 => Ok(None),
        b"STLI" => {
            let len = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
            if len > MAX_ITEM {
                return Err(ParseError::TooLong { what: "a video list", len });
            }
            match json_front::<Vec<String>>(&buf[8..])? {
                Some((names, used)) if used == len => Ok(Some((Item::Videos(names), 8 + len))),
                Some(_) => Err(ParseError::Json),
                None => Ok(None),
            }
        }
        b"STRM" if buf.len() < 8 => Ok(None),
        b"STRM" => {
            Ok(Some((Item::Stream(u32::from_be_bytes(buf[4..8].try_into().expect("4"))), 8)))
        }
        other => Err(ParseError::Junk(String::from_utf8_lossy(other).into_owned())),
    }
}

/// One streamed frame from the front of `buf`: an 8-byte length, then the JPEG. Returns the
/// JPEG's length and the bytes taken.
pub fn frame(buf: &[u8]) -> Result<Option<(usize, usize)>, ParseError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_ITEM {
        return Err(ParseError::TooLong { what: "a frame", len });
    }
    Ok((buf.len() >= 8 + len).then_some((len, 8 + len)))
}

/// The JSON value that `json.dumps` wrote at the front of `buf`, and the bytes it took;
/// `Ok(None)` until it is complete (the original sends no length before `URIF`'s object, so
/// the value's own end is the only end there is).
fn json_front<T: serde::de::DeserializeOwned>(
    buf: &[u8],
) -> Result<Option<(T, usize)>, ParseError> {
    let mut values = serde_json::Deserializer::from_slice(buf).into_iter::<T>();
    match values.next() {
        Some(Ok(value)) => Ok(Some((value, values.byte_offset()))),
        Some(Err(e)) if !e.is_eof() => Err(ParseError::Json),
        // Incomplete: read more, up to the limit.
        _ if buf.len() > MAX_ITEM => {
            Err(ParseError::TooLong { what: "a JSON value", len: buf.len() })
        }
        _ => Ok(None),
    }
}

/// A public key as the original's client sends it: PKCS#1, PEM (`rsa.PublicKey.save_pkcs1`).
pub fn public_pem(identity: &Identity) -> Result<String, ClientError> {
    use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};
    let key = crate::keys::parse_public_key(identity.public_der())?;
    key.to_pkcs1_pem(LineEnding::LF).map_err(|e| ClientError::Handshake(e.to_string()))
}

/// The 128 bytes a bench chat message carries: sender, intended recipient, sequence number and
/// send time, then a fill derived from them, so a cut or mixed message is noticed.
pub fn chat_payload(sender: u32, to: u32, seq: u64, nanos: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(CIPHERTEXT);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&to.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&nanos.to_be_bytes());
    p.extend((24..CIPHERTEXT).map(|i| (i as u64 ^ seq ^ u64::from(sender) << 3) as u8));
    p
}

/// Sender, recipient, sequence number and send time of an intact payload.
pub fn parse_chat_payload(p: &[u8]) -> Option<(u32, u32, u64, u64)> {
    if p.len() != CIPHERTEXT {
        return None;
    }
    let sender = u32::from_be_bytes(p[0..4].try_into().ok()?);
    let to = u32::from_be_bytes(p[4..8].try_into().ok()?);
    let seq = u64::from_be_bytes(p[8..16].try_into().ok()?);
    let nanos = u64::from_be_bytes(p[16..24].try_into().ok()?);
    let fill = |i: usize| (i as u64 ^ seq ^ u64::from(sender) << 3) as u8;
    let intact = p[24..].iter().enumerate().all(|(i, b)| *b == fill(i + 24));
    intact.then_some((sender, to, seq, nanos))
}

/// A connection to the original's server, with what has been read but not parsed.
pub struct Link {
    socket: TcpStream,
    buf: Vec<u8>,
    /// The names of the last user list read.
    users: Vec<String>,
}

impl Link {
    /// Connects, reads the server's key, sends `name`, waits for `OK`, sends our key.
    pub fn join(addr: &str, name: &str, identity: &Identity) -> Result<Link, ClientError> {
        let connect_err = |source| ClientError::Connect { addr: addr.to_owned(), source };
        let target = addr.to_socket_addrs().map_err(connect_err)?.next();
        let target = target.ok_or_else(|| connect_err(io::ErrorKind::NotFound.into()))?;
        let socket =
            TcpStream::connect_timeout(&target, Duration::from_secs(10)).map_err(connect_err)?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        socket.set_nodelay(true)?;
        let mut link = Link { socket, buf: Vec::new(), users: Vec::new() };
        let greeting = link.read_until(|buf| Ok(pem_block(buf)))?;
        link.buf.drain(..greeting);
        link.send(name.as_bytes())?;
        // The original's broadcast loop walks a list the accept loop appends to: a user list
        // meant for an earlier join can reach us before our `OK` (server 53-54, 184), the more
        // so on a loaded machine. Such a list is read and passed over.
        loop {
            link.read_until(|buf| Ok((buf.len() >= 2).then_some(2)))?;
            if link.buf.starts_with(b"OK") {
                link.buf.drain(..2);
                break;
            }
            match item(&link.buf) {
                Ok(Some((Item::Users(_), len))) => drop(link.buf.drain(..len)),
                Ok(None) if link.buf.starts_with(b"URIF") && link.buf.len() < MAX_ITEM => {
                    let mut chunk = [0u8; 64 * 1024];
                    match link.socket.read(&mut chunk)? {
                        0 => return Err(ClientError::Closed),
                        n => link.buf.extend_from_slice(&chunk[..n]),
                    }
                }
                _ => return Err(ClientError::Handshake("the original did not answer OK".into())),
            }
        }
        link.send(public_pem(identity)?.as_bytes())?;
        Ok(link)
    }

    /// Writes one command in one `send`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.socket.write_all(bytes)
    }

    /// Reads until `complete` finds a whole item at the front of the buffer; returns its length.
    fn read_until(
        &mut self,
        mut complete: impl FnMut(&[u8]) -> Result<Option<usize>, ParseError>,
    ) -> Result<usize, ClientError> {
        loop {
            match complete(&self.buf) {
                Ok(Some(len)) => return Ok(len),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Handshake(e.to_string())),
            }
            if self.buf.len() > MAX_ITEM {
                return Err(ClientError::Handshake("an item over the bench's limit".into()));
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.socket.read(&mut chunk)? {
                0 => return Err(ClientError::Closed),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next item the server sent.
    pub fn next_item(&mut self) -> Result<Item, ClientError> {
        let mut found = None;
        let len = self.read_until(|buf| {
            Ok(item(buf)?.map(|(it, len)| {
                found = Some(it);
                len
            }))
        })?;
        self.buf.drain(..len);
        Ok(found.expect("set with the length"))
    }

    /// Reads user lists until the last one read names everyone in `names`.
    pub fn wait_for_users(&mut self, names: &[String]) -> Result<(), ClientError> {
        while !names.iter().all(|n| self.users.contains(n)) {
            if let Item::Users(seen) = self.next_item()? {
                self.users = seen;
            }
        }
        Ok(())
    }

    /// The length of the next streamed frame's JPEG, or `None` if nothing came within `idle`.
    pub fn next_frame(&mut self, idle: Duration) -> Result<Option<usize>, ClientError> {
        self.socket.set_read_timeout(Some(idle))?;
        let result = self.read_until(frame_len);
        self.socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        match result {
            Ok(len) => {
                self.buf.drain(..len);
                Ok(Some(len - 8))
            }
            Err(ClientError::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads what is there (for chat receivers, which parse the stream themselves).
    pub fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.socket.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The bytes read and not yet parsed.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.socket.set_read_timeout(Some(timeout))
    }

    /// Leaves as the original's client does: `[DISCONNECT]`, then closes.
    pub fn leave(mut self) {
        let _ = self.send(b"[DISCONNECT]");
        thread::sleep(COMMAND_GAP);
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    Ok(frame(buf)?.map(|(_, taken)| taken))
}

/// How long ago `since` was, in nanoseconds (the bench's clock).
pub fn nanos_since(since: Instant) -> u64 {
    since.elapsed().as_nanos() as u64
}

// ---------------------------------------------------------------------------------------------
// The workloads: the same as `bench chat` and `bench stream`, against the original's server.

/// Joins `count` clients named `{prefix}0`... and waits until each has heard of all of them.
fn join_all(server: &str, prefix: &str, count: usize) -> Result<Vec<Link>, ClientError> {
    let identity = Identity::generate(crate::keys::MIN_KEY_BITS)?;
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}{i}")).collect();
    let mut links = Vec::with_capacity(count);
    for (i, name) in names.iter().enumerate() {
        let mut link = Link::join(server, name, &identity)?;
        // The original broadcasts each join's user list to every socket it has accepted, so a
        // client that connects before the last broadcast is done may read it where it waits for
        // `OK` (server 53-54, 184). One at a time: each waits for the list naming it.
        link.wait_for_users(&names[..=i])?;
        links.push(link);
    }
    for link in &mut links {
        link.wait_for_users(&names)?;
    }
    Ok(links)
}

/// `bench chat --original`: relay mode only (the payloads stand for ciphertexts). Every sender
/// writes each message in a `send` of its own, as the original's client does; the server
/// broadcasts it to everyone, and a message counts as delivered when its intended recipient
/// got it whole.
pub fn chat(cfg: &ChatBench) -> Result<ChatReport, ClientError> {
    if cfg.mode != ChatMode::Relay {
        let why = "--original runs relay mode only: the original's ciphertexts are not ours";
        return Err(ClientError::Io(io::Error::new(io::ErrorKind::InvalidInput, why)));
    }
    let clients = cfg.clients.max(2);
    let senders = cfg.senders.clamp(1, clients);
    let mut links = join_all(&cfg.server, &super::unique_prefix("o"), clients)?;
    for link in &mut links {
        link.send(b"[CHAT]")?;
    }
    // The mode must arrive alone, or the server takes it and the first message for one word.
    thread::sleep(COMMAND_GAP);
    let expected = super::chat::expected_counts(clients, senders, cfg.messages);
    let writers: Vec<TcpStream> =
        links.iter().take(senders).map(|l| l.socket.try_clone()).collect::<Result<_, _>>()?;
    let start = Instant::now();
    let receivers: Vec<_> = links
        .into_iter()
        .enumerate()
        .map(|(i, link)| {
            let (want, wait) = (expected[i], cfg.wait);
            thread::Builder::new()
                .name(format!("orig-recv-{i}"))
                .spawn(move || receive(link, i as u32, want, wait, start))
        })
        .collect::<Result<_, _>>()?;
    let sending: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(s, socket)| {
            let (messages, rate) = (cfg.messages, cfg.rate);
            thread::Builder::new()
                .name(format!("orig-send-{s}"))
                .spawn(move || send_all(s, socket, clients, messages, rate, start))
        })
        .collect::<Result<_, _>>()?;
    let send_errors: u64 =
        sending.into_iter().map(|h: thread::JoinHandle<u64>| h.join().unwrap_or(1)).sum();
    let mut tallies = Vec::new();
    let mut links = Vec::new();
    for h in receivers {
        let (link, tally) =
            h.join().map_err(|_| ClientError::Handshake("a receiver panicked".into()))?;
        tallies.push(tally);
        links.push(link);
    }
    let sent = (senders * cfg.messages) as u64;
    let report = ChatReport::new(clients, senders, sent, tallies, send_errors, start);
    for mut link in links {
        // Out of chat mode first, or the server would take `[DISCONNECT]` for a message.
        let _ = link.send(b"QUIT");
        thread::sleep(COMMAND_GAP);
        link.leave();
    }
    Ok(report)
}

/// Sends sender `s`'s messages, each in its own `send`; returns how many failed.
fn send_all(
    s: usize,
    mut socket: TcpStream,
    n: usize,
    messages: usize,
    rate: u32,
    start: Instant,
) -> u64 {
    let began = Instant::now();
    let mut errors = 0;
    for k in 0..messages {
        super::chat::due(k, began, rate, 1);
        let to = super::chat::target(n, s, k) as u32;
        let message =
            [b"CHAT".as_slice(), &chat_payload(s as u32, to, k as u64, nanos_since(start))]
                .concat();
        if socket.write_all(&message).is_err() {
            errors += (messages - k) as u64;
            break;
        }
    }
    errors
}

/// Reads everything the server broadcasts until the `want` messages meant for client `me`
/// have come, or nothing has come for `wait`.
fn receive(mut link: Link, me: u32, want: u64, wait: Duration, start: Instant) -> (Link, Tally) {
    let mut tally = Tally::default();
    let _ = link.set_read_timeout(wait);
    while tally.delivered + tally.corrupted < want {
        loop {
            match item(link.buffer()) {
                Ok(Some((Item::Chat(p), used))) => {
                    link.buffer().drain(..used);
                    let for_me = p.get(4..8) == Some(me.to_be_bytes().as_slice());
                    match parse_chat_payload(&p) {
                        Some(_) if !for_me => {}
                        Some((sender, _, seq, nanos))
                            if tally.deliver(sender, seq, nanos, start) => {}
                        _ => tally.corrupted += u64::from(for_me),
                    }
                }
                Ok(Some((_, used))) => drop(link.buffer().drain(..used)),
                Ok(None) => break,
                Err(_) => resync(link.buffer()),
            }
        }
        let done = tally.delivered + tally.corrupted >= want;
        if done || !matches!(link.read_some(), Ok(n) if n > 0) {
            break;
        }
    }
    (link, tally)
}

/// Drops bytes up to the next tag the server sends, after a message that made no sense.
fn resync(buf: &mut Vec<u8>) {
    let next = (1..buf.len())
        .find(|&i| buf[i..].starts_with(b"CHAT") || buf[i..].starts_with(b"URIF"))
        .unwrap_or(buf.len());
    buf.drain(..next);
}

/// `bench stream --original`: every client asks for the same video at once and reads the
/// frames the server announced, then any more it sends (the original may send more).
pub fn stream(cfg: &StreamBench) -> Result<StreamReport, ClientError> {
    let clients = cfg.clients.max(1);
    let links = join_all(&cfg.server, &super::unique_prefix("os"), clients)?;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(clients));
    let handles: Vec<_> = links
        .into_iter()
        .enumerate()
        .map(|(i, link)| {
            let (barrier, video) = (barrier.clone(), cfg.video.clone());
            thread::Builder::new().name(format!("orig-stream-{i}")).spawn(move || {
                barrier.wait();
                watch(link, &video)
            })
        })
        .collect::<Result<_, _>>()?;
    let mut watched = Vec::new();
    let mut links = Vec::new();
    for h in handles {
        let (link, w) =
            h.join().map_err(|_| ClientError::Handshake("a viewer panicked".into()))??;
        watched.push(w);
        links.push(link);
    }
    // Only now: a leave makes the original broadcast a user list to every socket, and inside
    // a stream still playing those bytes would land among the frames (server 165-166).
    for link in links {
        link.leave();
    }
    Ok(StreamReport::from_watched(clients, watched))
}

/// How long a viewer waits for the first frame, and then for each next one.
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(30);
const NEXT_FRAME_WAIT: Duration = Duration::from_secs(2);

/// One viewer: `[STREAM]`, the list, the name, `STRM`, the frames.
fn watch(mut link: Link, video: &str) -> Result<(Link, super::stream::Watched), ClientError> {
    link.send(b"[STREAM]")?;
    match link.next_item()? {
        Item::Videos(names) if names.iter().any(|n| n == video) => {}
        other => return Err(ClientError::Handshake(format!("{video} is not offered: {other:?}"))),
    }
    let began = Instant::now();
    link.send(video.as_bytes())?;
    let Item::Stream(announced) = link.next_item()? else {
        return Err(ClientError::Handshake("no STRM after the name".into()));
    };
    let mut w = super::stream::Watched { announced: u64::from(announced), ..Default::default() };
    let mut wait = FIRST_FRAME_WAIT;
    while let Some(len) = link.next_frame(wait)? {
        wait = NEXT_FRAME_WAIT;
        w.first.get_or_insert_with(|| began.elapsed());
        w.frames += 1;
        w.bytes += len as u64;
        w.elapsed = began.elapsed();
    }
    w.missing = w.announced.saturating_sub(w.frames);
    w.errors = u64::from(w.frames == 0);
    Ok((link, w))
}

#[cfg(test)]
mod tests {
    //! Byte sequences built as the original's source builds them, parsed without sockets.
    use super::*;

    /// `"URIF" + json.dumps(client_dict)`, as server 52–54 sends it.
    fn urif(users: &[(&str, &str)]) -> Vec<u8> {
        let entries: Vec<String> =
            users.iter().map(|(n, k)| format!("\"{n}\": \"{}\"", k.replace('\n', "\\n"))).collect();
        format!("URIF{{{}}}", entries.join(", ")).into_bytes()
    }

    #[test]
    fn a_user_list_parses_to_its_names_once_whole() {
        let pem = "-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBAK\n-----END RSA PUBLIC KEY-----\n";
        let bytes = urif(&[("alice", pem), ("bob", pem)]);
        for cut in 0..bytes.len() {
            assert_eq!(item(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        let names = vec!["alice".to_string(), "bob".to_string()];
        assert_eq!(item(&bytes), Ok(Some((Item::Users(names), bytes.len()))));
        // Two glued together, as two joins' broadcasts arrive: one at a time.
        let mut glued = urif(&[("alice", pem)]);
        glued.extend(urif(&[("alice", pem), ("bob", pem)]));
        let (first, used) = item(&glued).unwrap().unwrap();
        assert_eq!(first, Item::Users(vec!["alice".into()]));
        assert!(matches!(item(&glued[used..]), Ok(Some((Item::Users(n), _))) if n.len() == 2));
    }

    #[test]
    fn a_video_list_and_a_stream_start_parse_as_the_server_sends_them() {
        // server 72–74: "STLI" + 4-byte length, then json.dumps(videos_unique).
        let list = b"[\"popo\", \"wildlife\"]";
        let mut bytes = b"STLI".to_vec();
        bytes.extend((list.len() as u32).to_be_bytes());
        bytes.extend(list);
        let names = vec!["popo".to_string(), "wildlife".to_string()];
        assert_eq!(item(&bytes), Ok(Some((Item::Videos(names), bytes.len()))));
        assert_eq!(item(&bytes[..10]), Ok(None));
        // server 94: "STRM" + the count; then per frame an 8-byte length and the JPEG.
        let mut stream = b"STRM".to_vec();
        stream.extend(300u32.to_be_bytes());
        stream.extend(4u64.to_be_bytes());
        stream.extend([0xff, 0xd8, 0xff, 0xd9]);
        assert_eq!(item(&stream), Ok(Some((Item::Stream(300), 8))));
        assert_eq!(frame(&stream[8..]), Ok(Some((4, 12))));
        assert_eq!(frame(&stream[8..15]), Ok(None));
        let mut huge = u64::MAX.to_be_bytes().to_vec();
        huge.push(0);
        assert!(matches!(frame(&huge), Err(ParseError::TooLong { .. })));
    }

    #[test]
    fn chat_messages_glued_or_cut_are_told_apart() {
        let one = [b"CHAT".to_vec(), chat_payload(1, 2, 7, 99)].concat();
        let two = [b"CHAT".to_vec(), chat_payload(3, 2, 8, 100)].concat();
        let glued = [one.clone(), two].concat();
        let (first, used) = item(&glued).unwrap().unwrap();
        let Item::Chat(payload) = first else { panic!("{first:?}") };
        assert_eq!(parse_chat_payload(&payload), Some((1, 2, 7, 99)));
        assert!(matches!(item(&glued[used..]), Ok(Some((Item::Chat(_), 132)))));
        assert_eq!(item(&one[..100]), Ok(None));
        // A message cut by another one in the middle: the payload check fails.
        let mut mixed = one[..70].to_vec();
        mixed.extend(&one[..62]);
        let Ok(Some((Item::Chat(p), _))) = item(&mixed) else { panic!() };
        assert_eq!(parse_chat_payload(&p), None);
        assert!(matches!(item(b"QUIT"), Err(ParseError::Junk(_))));
    }

    #[test]
    fn the_greeting_ends_with_the_pem_footer() {
        let pem = b"-----BEGIN RSA PUBLIC KEY-----\nMIGJ\n-----END RSA PUBLIC KEY-----\nURIF";
        assert_eq!(pem_block(pem), Some(pem.len() - 4));
        assert_eq!(pem_block(&pem[..40]), None);
    }

    #[test]
    fn keys_are_sent_as_pkcs1_pem() {
        let id = Identity::generate(crate::keys::MIN_KEY_BITS).unwrap();
        let pem = public_pem(&id).unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----\n"));
        assert_eq!(pem_block(pem.as_bytes()), Some(pem.len()));
    }
}
