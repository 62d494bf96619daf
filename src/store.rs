//! What the server keeps on disk, in one SQLite file (`--db`, default `chatroom.db`):
//!
//! - `names`: each registered name (lowercase, as names are one ignoring case), the public
//!   key it was first joined with, and when it was last joined with. A join with another key is
//!   refused. A name nobody has joined with for [`NAME_EXPIRY`] is released.
//! - `mailbox`: every sealed envelope sent to a registered user, online or not, in the order
//!   they came, from before the sender is told `SENT` until the recipient's client
//!   acknowledges it (`ACKN`). The server cannot read them: they are the same bytes a `CHAT`
//!   carries. `held` says whether the recipient was offline when it came (for `DLVD`).
//! - `meta`: the schema version, to know the file is ours and how to bring it up to date
//!   (`migrate`: schema 1 gains `names.last_seen`, schema 2 `mailbox.held`).
//!
//! Each change is one transaction, and the file is in WAL mode: a server killed with SIGKILL
//! loses nothing it had answered `SENT` for. A file that is not SQLite, or is SQLite of some
//! other program, is refused at start and never written to.
//!
//! One connection behind a mutex serves every client thread. This file opens the file and
//! keeps the counts; each job has a file of its own: `names` (names bound to keys), `rooms`
//! (rooms and members), `mailbox` (messages kept until acknowledged), `schema` (the tables, and
//! the steps up from older versions).

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::HashMap;

use crate::sync::LockAnyway;
use crate::wire::MAX_ROOMS_PER_USER;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod group;
mod mailbox;
mod names;
mod rooms;
mod schema;

use rooms::sweep_rooms;
use schema::{create, migrate};

/// The schema this code reads and writes. Version 2 added `names.last_seen`, 3
/// `mailbox.held`, 4 `names.throwaway` and `mailbox.sender_key`, 5 the rooms (`rooms`,
/// `room_members`, `mailbox.room`), 6 `names.holder`, 7 the rooms' signed histories
/// (`room_log`, `room_members.invited`), 8 `names.last_seq`; a later version adds a step to
/// `migrate`.
pub const SCHEMA_VERSION: i64 = 8;
/// A registered name nobody has joined with for this long is released (with what was held for
/// it) the next time a name is claimed: names taken once and never used do not stay taken
/// for ever.
pub const NAME_EXPIRY: Duration = Duration::from_secs(180 * 24 * 3600);
/// Held messages for one recipient: at most this many...
pub const MAILBOX_MESSAGES: i64 = 1000;
/// ...and this many bytes of envelopes...
pub const MAILBOX_BYTES: i64 = 10 * 1024 * 1024;
/// ...each kept at most this long.
pub const MAILBOX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Held messages from any one sender in one mailbox: a stranger cannot fill someone's whole
/// mailbox and so keep everyone else's messages out.
pub const MAILBOX_PER_SENDER: i64 = 100;
/// Messages from throwaway keys (`--ephemeral`) one mailbox holds, all such senders together:
/// a name made for one session costs nothing, so ten of them would otherwise fill a mailbox
/// in a blink (a tenth of it, and registered senders keep the rest).
pub const MAILBOX_THROWAWAY: i64 = 100;

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path} is not a chatroom database ({why}); it was left as it is")]
    Foreign { path: PathBuf, why: String },
    #[error(
        "{path} was written by a newer chatroom (schema {found}, this one knows {SCHEMA_VERSION})"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error(
        "{path} is missing or empty, but it held registered names ({marker} says so): their \
         keys and the messages waiting in it are gone. Put it back from a backup, or start with \
         --init-db to begin a new, empty database"
    )]
    Lost { path: PathBuf, marker: PathBuf },
    #[error("there is no database at {path}")]
    Missing { path: PathBuf },
    #[error("{path} is in use by another server ({holder}): one server per database file")]
    InUse { path: PathBuf, holder: String },
    #[error("cannot write {path}")]
    Marker {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error")]
    Sql(#[from] rusqlite::Error),
    /// The group commit this was part of failed (`store/group.rs`): its cause is logged once.
    #[error("the transaction that held it failed: {0}")]
    Group(String),
}

/// How hard each commit holds on to the disk (SQLite's `synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    /// Each commit's log is synced before `SENT`: a power cut loses nothing answered (the
    /// default).
    #[default]
    Full,
    /// The log is synced at checkpoints only: a killed server loses nothing, a power cut may
    /// lose the last commits.
    Normal,
}

impl SyncMode {
    /// SQLite's name for it.
    fn pragma(self) -> &'static str {
        match self {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        }
    }
}

/// One server per database file: an exclusive lock on `DB.lock`, which says who holds it; and
/// the file's identity (device and inode) when opened, to notice it deleted or replaced under
/// the server, which would otherwise go on answering `SENT` into a file nobody will open again.
pub struct FileGuard {
    lock: std::fs::File,
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl FileGuard {
    /// Takes the lock beside `db` (none for `:memory:`), or says who holds it.
    fn take(db: &Path) -> Result<Option<FileGuard>, StoreError> {
        if db == Path::new(":memory:") {
            return Ok(None);
        }
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let io = |source| StoreError::Marker { path: lock_path.clone(), source };
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        if let Err(std::fs::TryLockError::WouldBlock) = lock.try_lock() {
            let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
            let holder = holder.trim();
            let holder = if holder.is_empty() { "a process that says nothing" } else { holder };
            return Err(StoreError::InUse { path: db.to_owned(), holder: holder.to_owned() });
        }
        let guard = FileGuard { lock, path: db.to_owned(), identity: None };
        guard.note(&format!("pid {}", std::process::id()))?;
        Ok(Some(guard))
    }

    fn with_identity(mut self, db: &Path) -> FileGuard {
        self.identity = file_identity(db);
        self
    }

    /// Writes who holds the lock (`pid 4242, listening on 127.0.0.1:1234`), for a second
    /// server's refusal.
    pub fn note(&self, text: &str) -> Result<(), StoreError> {
        use std::io::{Seek, Write};
        let io = |source| StoreError::Marker { path: self.path.clone(), source };
        let mut file = &self.lock;
        file.set_len(0).map_err(io)?;
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        file.write_all(format!("{text}\n").as_bytes()).map_err(io)
    }

    /// Whether the database file is still the one opened (not deleted, not replaced).
    fn intact(&self) -> bool {
        self.identity.is_none() || file_identity(&self.path) == self.identity
    }
}

/// A file's device and inode, if it exists.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// How to open the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Opening {
    /// Use the file, or make a new one where none has held names yet.
    #[default]
    Normal,
    /// Make a new, empty database even where one that held names is missing (`--init-db`).
    Init,
    /// The file must be there already (`--forget`: nothing is made).
    Existing,
}

/// The file beside a database that says it has held names: if the database goes missing,
/// the server will not silently start empty (`Opening`). `None` for `:memory:`.
pub fn marker_path(db: &Path) -> Option<PathBuf> {
    (db != Path::new(":memory:")).then(|| {
        let mut name = db.as_os_str().to_owned();
        name.push(".names");
        PathBuf::from(name)
    })
}

const MARKER_TEXT: &str = "chatroom: the database beside this file has held registered names. \
If it goes missing, `chatroom server` will not start without --init-db.\n";

/// What a join's name and key amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The name was free: it is now bound to this key.
    New,
    /// The name is bound to this key already.
    Same,
    /// The name is bound to another key.
    Other,
    /// The name is bound, for its session only, to another throwaway key: it is in use.
    InUse,
    /// Another registered name looks like it (`names::look_alike`): that one, as registered.
    LooksLike(String),
}

/// Why a message could not be held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("{0} is not a registered user")]
    Unregistered(String),
    #[error("{name}'s mailbox is full ({MAILBOX_MESSAGES} messages or {} MB waiting)", MAILBOX_BYTES / (1024 * 1024))]
    Full { name: String },
    #[error(
        "{name}'s mailbox already holds {MAILBOX_PER_SENDER} messages from you; more once {name} has read them"
    )]
    SenderShare { name: String },
    #[error(
        "{name}'s mailbox already holds {MAILBOX_THROWAWAY} messages from throwaway keys; more once {name} has read them (a registered name is not held to this)"
    )]
    ThrowawayShare { name: String },
    #[error("the server could not store the message")]
    Failed,
}

/// A message kept for a user: its id, its sender and the sealed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: i64,
    pub from: String,
    pub envelope: Vec<u8>,
    /// The sender's key, kept with the message if it was a throwaway one: the name may be
    /// free (or someone else's) by the time it is read.
    pub sender_key: Option<Vec<u8>>,
    /// The room it was written to, if any.
    pub room: Option<String>,
}

/// What `Store::forget` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forgotten {
    /// The name was registered, and is free now.
    pub released: bool,
    /// Messages that waited for the name, deleted.
    pub to: usize,
    /// Messages from the name that waited for others, deleted.
    pub from: usize,
}

/// A message to keep: for whom, the sealed envelope, and whether its recipient is offline.
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    pub to: &'a str,
    pub envelope: &'a [u8],
    pub held: bool,
    /// The room it was written to, if any.
    pub room: Option<&'a str>,
}

/// A room and its members, by name as registered, in the order they joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: String,
    pub members: Vec<String>,
}

/// Why a room request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomRefusal {
    #[error("You are not in {0}")]
    NotMember(String),
    #[error("{0} is invite-only: ask a member to /invite you")]
    InviteOnly(String),
    #[error("{0}: {1}")]
    Change(String, crate::roster::RosterError),
    #[error("you are in {MAX_ROOMS_PER_USER} rooms already; leave one first")]
    TooMany,
    #[error("{0} has {MAX_ROOMS_PER_USER} invitations open already")]
    TooManyInvitations(String),
    #[error("the server cannot change rooms now; try again later")]
    Failed,
}

/// A message stored: its id, and its recipient's name as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub id: i64,
    pub to: String,
}

/// How many messages (and bytes of them) wait for one recipient, in all and from each sender:
/// the mailbox bounds, checked at every message, without counting rows each time.
#[derive(Debug, Clone, Default)]
struct MailCount {
    count: i64,
    bytes: i64,
    /// By lower-cased sender.
    from: HashMap<String, i64>,
    /// From throwaway keys (kept with their `sender_key`).
    throwaway: i64,
}

/// The connection, and what it holds counted, behind one lock: a count changes only with the
/// commit that changes the rows.
struct Db {
    conn: Connection,
    /// By lower-cased recipient.
    boxes: HashMap<String, MailCount>,
    /// When expired messages were last deleted (a scan of the table: once a minute at most).
    expired_at: Option<std::time::Instant>,
}

impl std::ops::Deref for Db {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Db {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Db {
    /// Counts every mailbox again from the rows (at open, and after rare bulk deletes).
    fn recount(&mut self) -> Result<(), rusqlite::Error> {
        let mut boxes: HashMap<String, MailCount> = HashMap::new();
        let mut query = self.conn.prepare(
            "SELECT recipient, lower(sender), count(*), sum(length(envelope)),
                    sum(sender_key IS NOT NULL)
             FROM mailbox GROUP BY 1, 2",
        )?;
        let rows = query.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?;
        for row in rows {
            let (to, from, count, bytes, throwaway): (String, String, i64, i64, i64) = row?;
            let mailbox = boxes.entry(to).or_default();
            mailbox.count += count;
            mailbox.bytes += bytes;
            mailbox.throwaway += throwaway;
            mailbox.from.insert(from, count);
        }
        drop(query);
        self.boxes = boxes;
        Ok(())
    }

    /// Deletes messages older than `MAILBOX_AGE`, at most once a minute.
    fn expire(&mut self) -> Result<(), rusqlite::Error> {
        if self.expired_at.is_some_and(|t| t.elapsed() < Duration::from_secs(60)) {
            return Ok(());
        }
        self.expired_at = Some(std::time::Instant::now());
        let old = now() - MAILBOX_AGE.as_secs() as i64;
        if self.conn.execute("DELETE FROM mailbox WHERE queued_at < ?1", [old])? > 0 {
            self.recount()?;
        }
        Ok(())
    }
}

/// What the store tells of each message it keeps: its recipient (lower-cased) and the row.
pub type KeptHook = Box<dyn Fn(&str, Held) + Send + Sync>;

/// The database.
pub struct Store {
    db: Mutex<Db>,
    /// What waits for the next group commit (`group.rs`).
    queue: Mutex<group::Queue>,
    /// The lock on `DB.lock` that keeps a second server off this file, held while the
    /// store is open; and the file's identity, to notice it deleted or replaced.
    guard: Option<FileGuard>,
    /// The file was found deleted or replaced (said once in the log).
    file_gone: std::sync::atomic::AtomicBool,
    /// Told of each message kept, in the order of the ids, as soon as it is durable: the
    /// server hands it to its recipient's writer, if online (`Store::on_kept`).
    kept_hook: std::sync::OnceLock<KeptHook>,
    /// The marker to write once the database holds a name, if not written yet.
    marker: Mutex<Option<PathBuf>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Names last joined with before this time have expired.
fn expired_before(now: i64) -> i64 {
    now - NAME_EXPIRY.as_secs() as i64
}

impl Store {
    /// Opens (or creates) the database at `path`; `:memory:` keeps nothing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_as(path, Opening::Normal)
    }

    /// Opens the database at `path` as `opening` says. A database that held names and is now
    /// missing or empty is refused unless `Opening::Init`.
    pub fn open_as(path: &Path, opening: Opening) -> Result<Store, StoreError> {
        Store::open_with(path, opening, SyncMode::Full)
    }

    /// Opens the database at `path` as `opening` says, its commits synced as `sync` says.
    pub fn open_with(path: &Path, opening: Opening, sync: SyncMode) -> Result<Store, StoreError> {
        let marker = marker_path(path);
        if let Some(marker) = &marker
            && std::fs::metadata(path).map_or(true, |m| m.len() == 0)
        {
            match opening {
                Opening::Existing => return Err(StoreError::Missing { path: path.to_owned() }),
                Opening::Normal if marker.exists() => {
                    let (path, marker) = (path.to_owned(), marker.clone());
                    return Err(StoreError::Lost { path, marker });
                }
                _ => log::info!("making a new database at {}", path.display()),
            }
        }
        let guard = FileGuard::take(path)?;
        let mut store = Store::open_file(path, sync)?;
        store.guard = guard.map(|g| g.with_identity(path));
        *store.marker.lock_anyway() = marker;
        store.mark_if_named()?;
        Ok(store)
    }

    /// Says who holds the database (in `DB.lock`), for another server that tries to open it.
    pub fn note_holder(&self, text: &str) {
        if let Some(Err(e)) = self.guard.as_ref().map(|g| g.note(text)) {
            log::warn!("{}", crate::report::Chain(&e));
        }
    }

    /// Writes the marker once the database holds a name (`marker_path`).
    fn mark_if_named(&self) -> Result<(), StoreError> {
        let mut marker = self.marker.lock_anyway();
        let Some(path) = marker.as_ref() else { return Ok(()) };
        let named: i64 = self.db().query_row("SELECT count(*) FROM names", [], |r| r.get(0))?;
        if named > 0 {
            if !path.exists() {
                std::fs::write(path, MARKER_TEXT)
                    .map_err(|source| StoreError::Marker { path: path.clone(), source })?;
            }
            *marker = None;
        }
        Ok(())
    }

    fn open_file(path: &Path, sync: SyncMode) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut db = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let foreign = |why: String| StoreError::Foreign { path: path.to_owned(), why };
        // Reading the schema is the first touch of the file: a file that is not SQLite fails
        // here, before anything is written.
        let tables: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                    foreign(e.to_string())
                }
                // Anything else (permissions, the disk) is said as it is.
                _ => StoreError::Open { path: path.to_owned(), source: e },
            })?;
        if !tables.is_empty() && !tables.iter().any(|t| t == "meta") {
            return Err(foreign(format!("it holds other tables: {}", tables.join(", "))));
        }
        if path != Path::new(":memory:") {
            db.pragma_update(None, "journal_mode", "WAL")?;
            db.pragma_update(None, "synchronous", sync.pragma())?;
        }
        db.busy_timeout(Duration::from_secs(5))?;
        if tables.is_empty() {
            create(&db)?;
        }
        let found: i64 = db
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get(0))
            .map_err(|e| foreign(e.to_string()))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: path.to_owned(), found });
        }
        if found < SCHEMA_VERSION {
            migrate(&mut db, found)?;
            log::info!("{}: schema {found} brought up to {SCHEMA_VERSION}", path.display());
        }
        start_clean(&mut db)?;
        let mut db = Db { conn: db, boxes: HashMap::new(), expired_at: None };
        db.recount()?;
        Ok(Store {
            db: Mutex::new(db),
            queue: Mutex::default(),
            kept_hook: std::sync::OnceLock::new(),
            guard: None,
            file_gone: std::sync::atomic::AtomicBool::new(false),
            marker: Mutex::new(None),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock_anyway()
    }
}

/// Held messages from one sender that their recipient acknowledged in one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldAck {
    pub sender: String,
    pub count: u32,
    /// Whether more of theirs are still held for the recipient.
    pub more: bool,
}

/// What a file holds that no session can own, made right before the server serves: throwaway
/// bindings left by a server that stopped during their sessions end now, as those sessions
/// did; and each name's look-alike form is as today's rule makes it.
fn start_clean(db: &mut Connection) -> Result<(), rusqlite::Error> {
    let tx = db.transaction()?;
    tx.execute_batch(
        "DELETE FROM mailbox WHERE recipient IN (SELECT lower_name FROM names WHERE throwaway = 1);
         DELETE FROM names WHERE throwaway = 1;",
    )?;
    sweep_rooms(&tx)?;
    names::refresh_looks(&tx)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chatroom-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("chatroom.db")
    }

    #[test]
    fn a_room_takes_only_changes_that_follow_its_chain_and_a_released_name_loses_its_seat() {
        use crate::keys::Identity;
        use crate::roster::{Action, Change, GENESIS, RosterError, key_hash};
        let path = temp("rooms");
        let store = Store::open(&path).unwrap();
        let ids = [Identity::generate(1024).unwrap(), Identity::generate(1024).unwrap()];
        for (i, id) in ids.iter().enumerate() {
            store.claim(&format!("u{i}"), id.public_der(), None).unwrap();
        }
        let sign = |by: usize, prev, action, subject: usize, room: &str| {
            let (who, whom) = (format!("u{by}"), format!("u{subject}"));
            let key = key_hash(ids[subject].public_der());
            Change::signed(&ids[by], &who, room, prev, action, &whom, key).unwrap()
        };
        let ok = |_: &crate::roster::Roster| Ok(());
        let create = sign(0, GENESIS, Action::Create, 0, "#Study");
        let invite = sign(0, create.hash(), Action::Invite, 1, "#Study");
        let join = sign(1, invite.hash(), Action::Join, 1, "#Study");
        assert_eq!(store.changes_since("#study", "u1", &GENESIS), Ok(vec![]), "no room yet");
        for change in [&create, &invite, &join] {
            store.apply_change(change, ok).unwrap();
        }
        assert_eq!(store.room_for("#study", "U1").unwrap().members, ["u0", "u1"]);
        assert_eq!(store.rooms_of("u1").unwrap()[0].name, "#Study");
        // A replayed change does not follow the chain; a stranger may not read it.
        assert_eq!(
            store.apply_change(&invite, ok),
            Err(RoomRefusal::Change("#Study".into(), RosterError::NotNext))
        );
        let since = store.changes_since("#study", "u1", &create.hash()).unwrap();
        assert_eq!(since, [invite.encode(), join.encode()]);
        assert_eq!(
            store.changes_since("#study", "u9", &GENESIS),
            Err(RoomRefusal::InviteOnly("#Study".into()))
        );
        // At most MAX_ROOMS_PER_USER rooms each.
        for i in 1..MAX_ROOMS_PER_USER {
            store
                .apply_change(&sign(1, GENESIS, Action::Create, 1, &format!("#r{i}")), ok)
                .unwrap();
        }
        let one_more = sign(1, GENESIS, Action::Create, 1, "#one-more");
        assert_eq!(store.apply_change(&one_more, ok), Err(RoomRefusal::TooMany));
        // Membership lasts; a released name's seats end by the server's change, said in the
        // chain, and its rooms with nobody left go.
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.rooms_of("u1").unwrap().len(), MAX_ROOMS_PER_USER);
        store.forget("u1").unwrap();
        assert!(store.rooms_of("u1").unwrap().is_empty());
        assert_eq!(store.room_for("#study", "u0").unwrap().members, ["u0"]);
        let last = Change::parse(&store.last_change("#study").unwrap().unwrap()).unwrap();
        assert_eq!((last.action, last.subject.as_str()), (Action::Expire, "u1"));
        assert_eq!(store.last_change("#r1").unwrap(), None, "nobody left: gone");
    }

    #[test]
    fn sessions_writing_at_once_are_committed_together_each_answered_with_its_own() {
        let store = std::sync::Arc::new(Store::open(&temp("group")).unwrap());
        for name in ["bob", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"] {
            store.claim(name, name.as_bytes(), None).unwrap();
        }
        // Eight senders at once, 50 batches of 2 each to bob; bob acknowledges as they come.
        let senders: Vec<_> = (0..8)
            .map(|s| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let from = format!("s{s}");
                    let mut ids = Vec::new();
                    for k in 0..50 {
                        let texts = [format!("{from} {k}a"), format!("{from} {k}b")];
                        let batch: Vec<Keep<'_>> = texts
                            .iter()
                            .map(|t| Keep {
                                to: "bob",
                                envelope: t.as_bytes(),
                                held: false,
                                room: None,
                            })
                            .collect();
                        for kept in store.keep_batch(&from, &batch) {
                            ids.push(kept.unwrap().id);
                        }
                    }
                    ids
                })
            })
            .collect();
        let mut all: Vec<i64> = senders.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 800, "each message kept once, with its own id");
        let held = store.held_for("bob").unwrap();
        assert_eq!(held.len(), 800);
        // Each sender's messages in the order it sent them.
        for s in 0..8 {
            let mine: Vec<String> = held
                .iter()
                .filter(|h| h.from == format!("s{s}"))
                .map(|h| String::from_utf8(h.envelope.clone()).unwrap())
                .collect();
            let sent: Vec<String> =
                (0..50).flat_map(|k| [format!("s{s} {k}a"), format!("s{s} {k}b")]).collect();
            assert_eq!(mine, sent);
        }
        // Acknowledged from two threads at once: all gone, and the counts with them.
        let (first, second) = all.split_at(400);
        let (a, b) = (first.to_vec(), second.to_vec());
        let acks: Vec<_> = [a, b]
            .into_iter()
            .map(|ids| {
                let store = store.clone();
                std::thread::spawn(move || store.ack("bob", &ids).unwrap())
            })
            .collect();
        acks.into_iter().for_each(|t| drop(t.join().unwrap()));
        assert!(store.held_for("bob").unwrap().is_empty());
        assert!(store.keep("bob", "s0", b"room again", false).is_ok());
    }

    #[test]
    fn a_throwaway_binding_lasts_its_session_only() {
        let path = temp("throwaway");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.claim("tess", b"t1", Some(1)).unwrap(), Claim::New);
        assert_eq!(store.claim("Tess", b"t1", Some(1)).unwrap(), Claim::Same);
        assert_eq!(store.claim("tess", b"t2", Some(1)).unwrap(), Claim::InUse);
        assert_eq!(store.claim("tess", b"k", None).unwrap(), Claim::InUse);
        assert_eq!(store.claim("bob", b"b", None).unwrap(), Claim::New);
        // To tess while she is on: kept. From her: kept with her key, which will be gone
        // from the names when bob reads it.
        store.keep("tess", "bob", b"e1", false).unwrap();
        store.keep("bob", "tess", b"e2", true).unwrap();
        // Released by her key only, with what waits for her; what she sent stays.
        assert_eq!(store.release_throwaway("tess", b"t2", 1).unwrap(), 0);
        assert_eq!(store.release_throwaway("tess", b"t1", 1).unwrap(), 1);
        assert_eq!(store.key_of("tess").unwrap(), None);
        let held = store.held_for("bob").unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].from.as_str(), held[0].sender_key.as_deref()),
            ("tess", Some(&b"t1"[..]))
        );
        // Nobody can write to her now; a lasting sender's key is not copied (`names` has it).
        store.keep("tess", "bob", b"e3", true).unwrap_err();
        store.keep("bob", "bob", b"e4", true).unwrap();
        assert_eq!(store.held_for("bob").unwrap()[1].sender_key, None);
        // Free again, for any key; and a server that stops mid-session ends it at its start.
        assert_eq!(store.claim("tess", b"t3", Some(1)).unwrap(), Claim::New);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.key_of("tess").unwrap(), None);
        assert_eq!(store.key_of("bob").unwrap(), Some(("bob".into(), b"b".to_vec())));
        // A bound name is never released as a throwaway one.
        assert_eq!(store.release_throwaway("bob", b"b", 1).unwrap(), 0);
        // A reconnect's claim (session 8, the same key) takes the binding over: the first
        // session, ending after it, releases nothing; the one holding it does.
        assert_eq!(store.claim("rita", b"r", Some(7)).unwrap(), Claim::New);
        assert_eq!(store.claim("rita", b"r", Some(8)).unwrap(), Claim::Same);
        assert_eq!(store.release_throwaway("rita", b"r", 7).unwrap(), 0);
        assert_eq!(store.key_of("rita").unwrap(), Some(("rita".into(), b"r".to_vec())));
        store.release_throwaway("rita", b"r", 8).unwrap();
        assert_eq!(store.key_of("rita").unwrap(), None);
        assert_eq!(store.claim("bob", b"b", None).unwrap(), Claim::Same);
    }

    #[test]
    fn a_name_is_bound_to_its_first_key_across_restarts() {
        let path = temp("claim");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.claim("Bob", b"key1", None).unwrap(), Claim::New);
        assert_eq!(store.claim("bob", b"key1", None).unwrap(), Claim::Same);
        assert_eq!(store.claim("BOB", b"key2", None).unwrap(), Claim::Other);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.claim("bob", b"key2", None).unwrap(), Claim::Other);
        assert_eq!(store.key_of("bob").unwrap(), Some(("Bob".into(), b"key1".to_vec())));
        assert!(store.forget("bob").unwrap().released);
        assert!(!store.forget("bob").unwrap().released);
        assert_eq!(store.claim("bob", b"key2", None).unwrap(), Claim::New);
        // A look-alike of a registered name, whatever its key.
        assert_eq!(store.claim("b0b", b"key2", None).unwrap(), Claim::LooksLike("bob".into()));
    }

    #[test]
    fn held_messages_come_back_in_order_within_bounds() {
        let store = Store::open(Path::new(":memory:")).unwrap();
        assert_eq!(store.hold("bob", "alice", b"x"), Err(HoldError::Unregistered("bob".into())));
        store.claim("bob", b"k", None).unwrap();
        for i in 0..3u8 {
            store.hold("bob", "alice", &[i]).unwrap();
        }
        let held = store.held_for("BOB").unwrap();
        let bytes: Vec<Vec<u8>> = held.iter().map(|h| h.envelope.clone()).collect();
        assert_eq!(bytes, [vec![0], vec![1], vec![2]]);
        let acked = store.ack("bob", &[held[0].id]).unwrap();
        assert_eq!(acked, [HeldAck { sender: "alice".into(), count: 1, more: true }]);
        assert_eq!(store.held_for("bob").unwrap().len(), 2);
        // 10 MB in all: a message that would pass it is refused.
        let big = vec![0u8; MAILBOX_BYTES as usize];
        assert_eq!(store.hold("bob", "alice", &big), Err(HoldError::Full { name: "bob".into() }));
        // One sender may hold 100 of bob's 1000 places, whatever case it writes its name in.
        for _ in 2..MAILBOX_PER_SENDER {
            store.hold("bob", "Alice", b"m").unwrap();
        }
        let share = HoldError::SenderShare { name: "bob".into() };
        assert_eq!(store.hold("bob", "alice", b"m"), Err(share.clone()));
        let message = share.to_string();
        assert!(message.contains("holds 100 messages from you; more once bob has"), "{message}");
        // The other senders share the rest, until the mailbox is full.
        for i in MAILBOX_PER_SENDER..MAILBOX_MESSAGES {
            store.hold("bob", &format!("s{}", i / MAILBOX_PER_SENDER), b"m").unwrap();
        }
        assert_eq!(store.hold("bob", "carol", b"m"), Err(HoldError::Full { name: "bob".into() }));
        // Once bob has read one of alice's, she may leave another.
        let first = store.held_for("bob").unwrap()[0].id;
        store.ack("bob", &[first]).unwrap();
        assert_eq!(store.hold("bob", "alice", b"m"), Ok(()));
    }

    /// Ages `name`'s `last_seen` by `days`, as if that long had passed since.
    fn age(store: &Store, name: &str, days: i64) {
        store
            .db()
            .execute(
                "UPDATE names SET last_seen = last_seen - ?1 WHERE lower_name = ?2",
                params![days * 86_400, name],
            )
            .unwrap();
    }

    #[test]
    fn a_name_nobody_joins_with_for_180_days_is_released_and_one_in_use_is_kept() {
        let store = Store::open(Path::new(":memory:")).unwrap();
        assert_eq!(store.claim("bob", b"k1", None).unwrap(), Claim::New);
        assert_eq!(store.claim("carol", b"k2", None).unwrap(), Claim::New);
        store.hold("bob", "carol", b"x").unwrap();
        // carol joins every 100 days: 200 days after she registered, her name is hers.
        age(&store, "carol", 100);
        assert_eq!(store.claim("carol", b"k2", None).unwrap(), Claim::Same);
        age(&store, "carol", 100);
        // bob has not been back for 181 days: no longer registered, for a key lookup or a
        // held message; his name, its look-alikes and his mailbox are free again.
        age(&store, "bob", 181);
        assert_eq!(store.key_of("bob").unwrap(), None);
        assert_eq!(store.hold("bob", "carol", b"y"), Err(HoldError::Unregistered("bob".into())));
        assert_eq!(store.claim("b0b", b"k3", None).unwrap(), Claim::New);
        assert_eq!(store.claim("carol", b"other", None).unwrap(), Claim::Other);
        assert!(store.held_for("bob").unwrap().is_empty());
        let left: i64 =
            store.db().query_row("SELECT count(*) FROM mailbox", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn throwaway_senders_share_a_tenth_of_a_mailbox_counted_again_at_a_restart() {
        let path = temp("throwaway-share");
        let store = Store::open(&path).unwrap();
        store.claim("bob", b"kb", None).unwrap();
        for (i, name) in ["t1", "t2"].iter().enumerate() {
            store.claim(name, b"kt", Some(i as u64 + 1)).unwrap();
        }
        for i in 0..MAILBOX_THROWAWAY {
            store.hold("bob", if i % 2 == 0 { "t1" } else { "t2" }, b"m").unwrap();
        }
        let share = HoldError::ThrowawayShare { name: "bob".into() };
        assert_eq!(store.hold("bob", "t1", b"m"), Err(share.clone()));
        store.claim("carol", b"kc", None).unwrap();
        assert_eq!(store.hold("bob", "carol", b"m"), Ok(()));
        // Counted again from the file: still full for throwaway keys.
        drop(store);
        let store = Store::open(&path).unwrap();
        store.claim("t3", b"kt", Some(3)).unwrap();
        assert_eq!(store.hold("bob", "t3", b"m"), Err(share));
    }

    #[test]
    fn a_schema_1_file_is_brought_up_to_date_and_keeps_its_names_and_mail() {
        let path = temp("schema1");
        // What the first release wrote (schema 1: names had no `last_seen`).
        let registered = now() - 10 * 86_400;
        let v1 = Connection::open(&path).unwrap();
        v1.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             INSERT INTO meta (key, value) VALUES ('schema', 1);
             CREATE TABLE names (lower_name TEXT PRIMARY KEY, name TEXT NOT NULL,
                 key BLOB NOT NULL, created INTEGER NOT NULL, look TEXT NOT NULL);
             CREATE INDEX names_look ON names (look);
             CREATE TABLE mailbox (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 recipient TEXT NOT NULL, sender TEXT NOT NULL, envelope BLOB NOT NULL,
                 queued_at INTEGER NOT NULL);
             CREATE INDEX mailbox_recipient ON mailbox (recipient, id);",
        )
        .unwrap();
        v1.execute("INSERT INTO names VALUES ('bob', 'Bob', x'6b31', ?1, 'bob')", [registered])
            .unwrap();
        v1.execute("INSERT INTO mailbox VALUES (NULL, 'bob', 'alice', x'01', ?1)", [now()])
            .unwrap();
        // Its look-alike form by an older, narrower rule (trailing punctuation counted).
        v1.execute("INSERT INTO names VALUES ('carol_', 'carol_', x'6b32', ?1, 'carol_')", [now()])
            .unwrap();
        drop(v1);

        let store = Store::open(&path).unwrap();
        let (schema, seen): (i64, i64) = store
            .db()
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'schema'), last_seen FROM names",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((schema, seen), (SCHEMA_VERSION, registered), "seen when registered");
        assert_eq!(store.claim("bob", b"k1", None).unwrap(), Claim::Same);
        assert_eq!(store.claim("bob", b"k2", None).unwrap(), Claim::Other);
        assert_eq!(store.held_for("bob").unwrap().len(), 1);
        // Checked by today's rule: carol_ and carol look alike.
        assert_eq!(store.claim("carol", b"k3", None).unwrap(), Claim::LooksLike("carol_".into()));
        // Opened again: already up to date, nothing to do.
        drop(store);
        assert_eq!(Store::open(&path).unwrap().claim("bob", b"k1", None).unwrap(), Claim::Same);
        // A file from a newer release is refused, not downgraded.
        let newer = SCHEMA_VERSION + 1;
        Connection::open(&path).unwrap().execute("UPDATE meta SET value = ?1", [newer]).unwrap();
        let err = Store::open(&path).unwrap_err();
        let said = format!("schema {newer}, this one knows {SCHEMA_VERSION}");
        assert!(err.to_string().contains(&said), "{err}");
    }

    #[test]
    fn a_database_that_held_names_and_went_missing_is_refused_unless_made_anew() {
        let path = temp("marker");
        let marker = marker_path(&path).unwrap();
        // Never there: nothing to forget in, and nothing made.
        assert!(matches!(
            Store::open_as(&path, Opening::Existing),
            Err(StoreError::Missing { .. })
        ));
        assert!(!path.exists());
        // A new database gets its marker with its first name, not before.
        let store = Store::open(&path).unwrap();
        assert!(!marker.exists());
        store.claim("bob", b"k", None).unwrap();
        assert!(marker.exists());
        drop(store);
        std::fs::remove_file(&path).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Lost { .. }), "{err}");
        assert!(err.to_string().contains("--init-db"), "{err}");
        assert!(!path.exists());
        // Told to, it begins anew.
        let store = Store::open_as(&path, Opening::Init).unwrap();
        assert_eq!(store.key_of("bob").unwrap(), None);
    }

    #[test]
    fn a_file_that_is_not_ours_is_refused_and_left_alone() {
        let path = temp("foreign");
        std::fs::write(&path, b"this is not a database, it is a shopping list").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("is not a chatroom database"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"this is not a database, it is a shopping list");
        // Another program's SQLite file.
        let path = temp("other-sqlite");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE songs (t TEXT);").unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(err.to_string().contains("other tables: songs"), "{err}");
    }
}
