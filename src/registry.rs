//! Who is online: every open connection, and the users who have joined, behind one
//! `Arc<Mutex<..>>`. It enforces the name rules of `names.rs` at every join.
//!
//! The lock is held only to read or change the maps and to put frames into in-memory queues
//! (never to wait for room in one); never across socket I/O, never to encode a list. A client
//! whose chat lane is full when a broadcast comes is more than a whole lane behind: it is cut
//! off rather than allowed to hold anyone else up.

use log::warn;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::budget::Buckets;
use crate::config::Admission;
use crate::names::{self, NameError};
use crate::outbox::{Outbox, Outgoing};
use crate::sync::LockAnyway;
use crate::wire::{self, EncodedFrame, ErrorCode, ServerMsg, User};

/// Identifies one connection for its whole life, joined or not.
pub type ConnId = u64;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub text: String,
}

/// Checks a user name against the rules (`names::check`; README, "Using it"), as the
/// refusal a client is sent.
pub fn validate_name(name: &str) -> Result<(), Refusal> {
    names::check(name).map_err(refusal)
}

/// The refusal a client is sent for a name that breaks the rules.
pub fn refusal(e: NameError) -> Refusal {
    match e {
        NameError::Reserved => Refusal { code: ErrorCode::NameReserved, text: e.to_string() },
        e => Refusal { code: ErrorCode::NameInvalid, text: format!("invalid name: {e}") },
    }
}

/// One open connection.
struct Connection {
    /// To cut it from another thread.
    socket: Arc<TcpStream>,
    /// Its key in `members` once it has joined.
    member: Option<String>,
    /// Where it comes from (an IPv4 address, or an IPv6 /64).
    source: IpAddr,
    /// Its user joined again from another connection, which took its place.
    replaced: bool,
}

/// What counts as one source: an IPv4 address, or an IPv6 /64 (one host usually has a whole
/// /64 to pick addresses from). An IPv4 address mapped into IPv6 is that IPv4 address.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// One joined user.
struct Member {
    id: ConnId,
    user: Arc<User>,
    /// Its key in `order`.
    joined: u64,
    outbox: Outbox,
}

struct State {
    /// How many connections are admitted, and how often one source may join.
    limits: Admission,
    /// Joins from each source (`Admission::joins_per_minute`).
    joins: Buckets<IpAddr>,
    next_id: ConnId,
    next_join: u64,
    connections: HashMap<ConnId, Connection>,
    /// Open connections from each source.
    per_source: HashMap<IpAddr, usize>,
    /// Open connections that have not joined, in all and from each source.
    unjoined: usize,
    unjoined_from: HashMap<IpAddr, usize>,
    /// Joined users by lower-cased name (names are unique ignoring case).
    members: HashMap<String, Member>,
    /// Joined users' look-alike forms (`names::look_alike`), to their lower-cased names.
    looks: HashMap<String, String>,
    /// Joined users in the order they came: the directory, kept sorted as it changes.
    order: BTreeMap<u64, Arc<User>>,
    /// The server's one stop flag: set once, never cleared.
    shutting_down: bool,
}

/// The shared directory of connections and users: a small `Clone` handle around
/// `Arc<Mutex<State>>`. Lock, change, unlock: no method blocks while holding the lock.
#[derive(Clone)]
pub struct Registry {
    state: Arc<Mutex<State>>,
}

/// A joined user's chat lane, as [`Registry::lookup`] finds it.
pub struct Recipient {
    pub id: ConnId,
    /// The name as registered (the lookup ignores case).
    pub name: String,
    pub outbox: Outbox,
}

impl Registry {
    /// An empty registry that admits connections and joins within `limits`.
    pub fn new(limits: Admission) -> Registry {
        let per_second = f64::from(limits.joins_per_minute) / 60.0;
        let burst = u32::try_from(limits.per_source).unwrap_or(u32::MAX);
        let state = State {
            limits,
            joins: Buckets::new(per_second, burst),
            next_id: 0,
            next_join: 0,
            connections: HashMap::new(),
            per_source: HashMap::new(),
            unjoined: 0,
            unjoined_from: HashMap::new(),
            members: HashMap::new(),
            looks: HashMap::new(),
            order: BTreeMap::new(),
            shutting_down: false,
        };
        Registry { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the maps is a single insert or remove (`sync`).
        self.state.lock_anyway()
    }

    /// Admits a new connection from `peer` if there is room, keeping `socket` to cut it later;
    /// otherwise says why not.
    pub fn open(&self, socket: Arc<TcpStream>, peer: IpAddr) -> Result<ConnId, Refusal> {
        let source = source_of(peer);
        let full = |text: String| Refusal { code: ErrorCode::ServerFull, text };
        let mut state = self.lock();
        let limits = state.limits;
        if state.shutting_down {
            return Err(Refusal {
                code: ErrorCode::ShuttingDown,
                text: "the server is shutting down".into(),
            });
        }
        if state.connections.len() >= limits.max {
            return Err(full("the server is full; try again later".into()));
        }
        if state.per_source.get(&source).copied().unwrap_or(0) >= limits.per_source {
            return Err(full(format!(
                "too many connections from your address ({} at most)",
                limits.per_source
            )));
        }
        if state.unjoined_from.get(&source).copied().unwrap_or(0) >= limits.unjoined_per_source {
            return Err(full(format!(
                "too many connections from your address ({} at most before they join)",
                limits.unjoined_per_source
            )));
        }
        if state.unjoined >= limits.unjoined {
            return Err(full("too many connections are joining at once; try again later".into()));
        }
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(id, Connection { socket, member: None, source, replaced: false });
        *state.per_source.entry(source).or_insert(0) += 1;
        *state.unjoined_from.entry(source).or_insert(0) += 1;
        state.unjoined += 1;
        Ok(id)
    }

    /// Counts a join attempt against the budget of connection `id`'s source: past it, the
    /// refusal says when to try again. Checked before any key is verified or name registered,
    /// so the budget also bounds the names one source can register.
    pub fn take_join(&self, id: ConnId) -> Result<(), Refusal> {
        let mut state = self.lock();
        let Some(source) = state.connections.get(&id).map(|c| c.source) else { return Ok(()) };
        let per_minute = state.limits.joins_per_minute;
        state.joins.take(source, Instant::now()).map_err(|wait| Refusal {
            code: ErrorCode::RateLimited,
            text: format!(
                "too many joins from your address (at most {per_minute} a minute); try again in {} s",
                wait.as_secs_f64().ceil().max(1.0)
            ),
        })
    }

    /// Registers connection `id` as `name`. On success the new user's chat lane already holds
    /// its `WLCM` and the directory, and every other user's lane a `JOND`, all put there under
    /// one lock so every client sees the same order of joins and leaves.
    ///
    /// If `name` is online with this same key (the join proved it holds it), that session is
    /// stale (a dead link, a frozen or crashed client) or the user's own: either way the new
    /// join takes its place at once, and the old one is told (`ErrorCode::Replaced`) and
    /// closed.
    pub fn join(
        &self,
        id: ConnId,
        name: &str,
        key: Vec<u8>,
        outbox: &Outbox,
        last_seq: u64,
    ) -> Result<(), Refusal> {
        validate_name(name)?;
        let lower = name.to_ascii_lowercase();
        let look = names::look_alike(name);
        let user = Arc::new(User { name: name.to_owned(), key });
        // Encoded before locking: under the lock, only pointers are copied.
        let joined_frame = ServerMsg::Joined((*user).clone()).encode_shared();
        let window = crate::wire::CHAT_WINDOW;
        let welcome =
            ServerMsg::Welcome { name: name.to_owned(), window, last_seq }.encode_shared();
        let (laggards, replaced) = {
            let mut state = self.lock();
            let replaced = state.replace_stale(&lower, &user.key);
            state.check_free(name, &lower, &look)?;
            let laggards = state.broadcast(&joined_frame);
            state.next_join += 1;
            let joined = state.next_join;
            state.order.insert(joined, user.clone());
            state.looks.insert(look, lower.clone());
            state
                .members
                .insert(lower.clone(), Member { id, user, joined, outbox: outbox.clone() });
            let admitted = match state.connections.get_mut(&id) {
                Some(conn) => {
                    conn.member = Some(lower);
                    Some(conn.source)
                }
                None => None,
            };
            if let Some(source) = admitted {
                state.unjoined -= 1;
                decrement(&mut state.unjoined_from, source);
            }
            // The new lane is empty: both fit.
            outbox.offer(welcome);
            outbox.offer(Outgoing::Directory(state.order.values().cloned().collect()));
            (laggards, replaced)
        };
        self.cut_all(&laggards, "its queue is full");
        if let Some(old) = replaced {
            self.end_replaced(old, name);
        }
        Ok(())
    }

    /// Tells a replaced session why it ends and closes its reading side: its handler ends,
    /// and its writer still delivers the notice (`is_replaced`).
    fn end_replaced(&self, (old, outbox): (ConnId, Outbox), name: &str) {
        warn!("{name} joined again: the older session ({old}) gives way");
        let text = format!("{name} joined again from another connection; this one is closed");
        outbox.offer(ServerMsg::Error { code: ErrorCode::Replaced, text }.encode_shared());
        let socket = self.lock().connections.get(&old).map(|c| c.socket.clone());
        if let Some(socket) = socket {
            let _ = socket.shutdown(Shutdown::Read);
        }
    }

    /// Whether connection `id` was replaced by a newer join of its user.
    pub fn is_replaced(&self, id: ConnId) -> bool {
        self.lock().connections.get(&id).is_some_and(|c| c.replaced)
    }

    /// Removes connection `id` (and its user, telling everyone else). Returns the user's name
    /// if it had joined; `None` the second time.
    pub fn close(&self, id: ConnId) -> Option<String> {
        let (name, laggards) = {
            let mut state = self.lock();
            let conn = state.connections.remove(&id)?;
            decrement(&mut state.per_source, conn.source);
            let Some(lower) = conn.member else {
                // A replaced session's member went to the connection that replaced it.
                if !conn.replaced {
                    state.unjoined -= 1;
                    decrement(&mut state.unjoined_from, conn.source);
                }
                return None;
            };
            let member = state.members.remove(&lower)?;
            state.looks.remove(&names::look_alike(&lower));
            state.order.remove(&member.joined);
            let laggards = if state.shutting_down {
                Vec::new()
            } else {
                state.broadcast(&ServerMsg::Left { name: member.user.name.clone() }.encode_shared())
            };
            (member.user.name.clone(), laggards)
        };
        self.cut_all(&laggards, "its queue is full");
        Some(name)
    }

    /// The joined user called `name` (any case).
    pub fn lookup(&self, name: &str) -> Option<Recipient> {
        let state = self.lock();
        let m = state.members.get(&name.to_ascii_lowercase())?;
        Some(Recipient { id: m.id, name: m.user.name.clone(), outbox: m.outbox.clone() })
    }

    /// Offers `frame` to each of `names` online, without waiting: a courtesy (room changes, a
    /// room's watch), which whoever is offline or a whole lane behind misses.
    pub fn offer_to<'a>(&self, names: impl IntoIterator<Item = &'a str>, frame: &EncodedFrame) {
        for name in names {
            if let Some(online) = self.lookup(name) {
                online.outbox.offer(frame.clone());
            }
        }
    }

    /// Cuts connection `id`: its reader and writer fail, and its handler cleans up.
    pub fn cut(&self, id: ConnId, why: &str) {
        let socket = self.lock().connections.get(&id).map(|c| c.socket.clone());
        if let Some(socket) = socket {
            warn!("cutting off connection {id}: {why}");
            let _ = socket.shutdown(Shutdown::Both);
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

    /// Sets the stop flag, tells every joined user the server is going away, then closes every
    /// connection: joined ones by their read side (so their writer still sends the notice), the
    /// others at once. New connections and joins are refused from here on. False if the server
    /// was already stopping (nothing done).
    pub fn shut_down_all(&self) -> bool {
        let notice = ServerMsg::Error {
            code: ErrorCode::ShuttingDown,
            text: "the server is shutting down".into(),
        }
        .encode_shared();
        let sockets: Vec<(Arc<TcpStream>, Shutdown)> = {
            let mut state = self.lock();
            if std::mem::replace(&mut state.shutting_down, true) {
                return false;
            }
            state.broadcast(&notice);
            let how =
                |c: &Connection| if c.member.is_some() { Shutdown::Read } else { Shutdown::Both };
            state.connections.values().map(|c| (c.socket.clone(), how(c))).collect()
        };
        for (socket, how) in sockets {
            let _ = socket.shutdown(how);
        }
        true
    }

    pub fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }
}

/// One less for `source` (the entry goes at 0, so the map holds only sources in use).
fn decrement(counts: &mut HashMap<IpAddr, usize>, source: IpAddr) {
    if let Some(n) = counts.get_mut(&source) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&source);
        }
    }
}

impl State {
    /// Takes the member `lower` off its connection if it joined with `key`, and says everyone
    /// saw it leave: its connection and outbox, to be told.
    fn replace_stale(&mut self, lower: &str, key: &[u8]) -> Option<(ConnId, Outbox)> {
        if self.members.get(lower)?.user.key != key {
            return None;
        }
        let member = self.members.remove(lower)?;
        self.looks.retain(|_, name| name != lower);
        self.order.remove(&member.joined);
        if let Some(conn) = self.connections.get_mut(&member.id) {
            conn.member = None;
            conn.replaced = true;
        }
        let left = ServerMsg::Left { name: member.user.name.clone() }.encode_shared();
        // Those whose lane is full are cut by the join's own broadcast, just after.
        self.broadcast(&left);
        Some((member.id, member.outbox))
    }

    /// Whether `name` (lower-cased `lower`, look-alike form `look`) may join now.
    fn check_free(&self, name: &str, lower: &str, look: &str) -> Result<(), Refusal> {
        let taken = |text: String| Refusal { code: ErrorCode::NameTaken, text };
        if self.shutting_down {
            let text = "the server is shutting down".into();
            return Err(Refusal { code: ErrorCode::ShuttingDown, text });
        }
        if let Some(other) = self.looks.get(look).filter(|other| *other != lower) {
            let other = self.members.get(other).map_or(other.clone(), |m| m.user.name.clone());
            return Err(taken(format!(
                "the name {name} looks too much like {other}, who is online"
            )));
        }
        if let Some(member) = self.members.get(lower) {
            let name = &member.user.name;
            return Err(taken(format!(
                "the name {name} is taken (names are unique ignoring case)"
            )));
        }
        Ok(())
    }

    /// Offers `frame` to every member; returns those whose lane was full.
    fn broadcast(&self, frame: &wire::EncodedFrame) -> Vec<ConnId> {
        self.members.values().filter(|m| !m.outbox.offer(frame.clone())).map(|m| m.id).collect()
    }
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
