//! The other users, as this client knows them: the directory of names and keys kept up to date
//! from the server's events, and the two ends of a direct message: a [`Sealer`] for what we
//! send and an [`Opener`] for what we receive. The crypto itself is in `keys.rs`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::profile::{self, ProfileError};
use super::seen::{Noted, SeenBook};
use crate::cmd::{Chat, RoomChat};
use crate::keys::{self, Identity, KeyError, ReplayGuard};
use crate::names;
use crate::wire::{ServerMsg, User};

/// A user as the client knows them.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub key: Vec<u8>,
    pub fingerprint: String,
}

impl From<User> for Peer {
    fn from(user: User) -> Peer {
        let fingerprint = keys::fingerprint(&user.key);
        Peer { name: user.name, key: user.key, fingerprint }
    }
}

/// The users this client knows: everyone online, in join order, kept up to date from `URIF`,
/// `JOND` and `LEFT`; and the keys of registered users who are offline, as the server sent
/// them (`USER`: to write to them, or to check messages they left for us).
#[derive(Debug, Default, Clone)]
pub struct Directory {
    online: Vec<Peer>,
    offline: Vec<Peer>,
}

/// What one server message changed in the directory, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `name` came online.
    Joined(String),
    /// `name` went offline.
    Left(String),
    /// The whole list was replaced; `ignored` entries broke the name rules or repeated a name.
    Listed { ignored: usize },
    /// An offline user's key was learned.
    KeyLearned(String),
    /// The server named a user with a name that breaks the rules: nothing was changed.
    Refused(String),
    /// Not a directory message.
    None,
}

impl Directory {
    /// The directory of a `URIF` list. Names that break the rules (`names::check`) are left
    /// out, and of two entries with one name the later wins. Linear in the list's length: a
    /// hostile server's 65 536 entries cost milliseconds, not seconds.
    pub fn new(users: Vec<User>) -> Directory {
        let mut seen = HashSet::new();
        let mut online: Vec<Peer> = users
            .into_iter()
            .rev()
            .filter(|u| names::check(&u.name).is_ok() && seen.insert(u.name.to_ascii_lowercase()))
            .map(Peer::from)
            .collect();
        online.reverse();
        Directory { online, offline: Vec::new() }
    }

    /// Applies one message from the server: `URIF`, `JOND`, `LEFT` and `USER` change the
    /// directory; anything else is `Change::None`. The terminal, the tests and the benchmarks
    /// all keep their directory with this one function.
    pub fn apply(&mut self, msg: &ServerMsg) -> Change {
        match msg {
            ServerMsg::Directory(users) => {
                let listed = users.len();
                let offline = std::mem::take(&mut self.offline);
                *self = Directory::new(users.clone());
                self.offline = offline;
                self.offline.retain(|p| !self.online.iter().any(|o| same(&o.name, &p.name)));
                Change::Listed { ignored: listed - self.online.len() }
            }
            ServerMsg::Joined(user) if names::check(&user.name).is_ok() => {
                self.remove(&user.name);
                self.offline.retain(|p| !same(&p.name, &user.name));
                self.online.push(Peer::from(user.clone()));
                Change::Joined(user.name.clone())
            }
            ServerMsg::Left { name } => {
                // Still a registered user: their key stays known, to write to them offline
                // and to check what they sent before they left.
                if let Some(at) = self.online.iter().position(|p| same(&p.name, name)) {
                    let peer = self.online.remove(at);
                    self.offline.retain(|p| !same(&p.name, name));
                    self.offline.push(peer);
                }
                Change::Left(name.clone())
            }
            ServerMsg::UserKey(user) if names::check(&user.name).is_ok() => {
                if self.online(&user.name).is_none() {
                    self.offline.retain(|p| !same(&p.name, &user.name));
                    self.offline.push(Peer::from(user.clone()));
                }
                Change::KeyLearned(user.name.clone())
            }
            ServerMsg::Joined(user) | ServerMsg::UserKey(user) => {
                Change::Refused(user.name.clone())
            }
            _ => Change::None,
        }
    }

    /// Takes `name` off the online list.
    fn remove(&mut self, name: &str) {
        self.online.retain(|p| !same(&p.name, name));
    }

    /// A user online. Names are unique ignoring case, and so is this lookup.
    pub fn online(&self, name: &str) -> Option<&Peer> {
        self.online.iter().find(|p| same(&p.name, name))
    }

    /// A user online, or else one whose key the server sent while they are offline.
    pub fn get(&self, name: &str) -> Option<&Peer> {
        self.online(name).or_else(|| self.offline.iter().find(|p| same(&p.name, name)))
    }

    /// Everyone online, in join order.
    pub fn peers(&self) -> &[Peer] {
        &self.online
    }
}

/// Names are one ignoring case.
fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Seals outgoing messages: our identity, our name, and the sequence number that makes
/// each of our messages unique: a counter that only grows, kept in our profile (`counter`),
/// never read from the clock after it first starts.
pub struct Sealer {
    identity: Arc<Identity>,
    me: String,
    next_seq: u64,
    /// Where the counter is kept, and the number up to which it is written there.
    counter: Option<(PathBuf, u64)>,
}

/// Sequence numbers taken from the counter file at a time: one write a thousand messages,
/// and after a crash at most a thousand numbers are skipped, never one used twice.
const COUNTER_BLOCK: u64 = 1000;

impl Sealer {
    /// A sealer whose counter starts at the clock (microseconds since 1970) and is kept in
    /// memory only: for a key used once (`--ephemeral`, tests, benchmarks), whose recipients
    /// have never seen a number from it.
    pub fn new(identity: Arc<Identity>, me: &str) -> Sealer {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_micros() as u64);
        Sealer { identity, me: me.to_owned(), next_seq: now.max(1), counter: None }
    }

    /// A sealer whose counter is kept in `file` across sessions. A missing file starts it at
    /// the clock, above any number this key sent before the counter was kept.
    pub fn counting(identity: Arc<Identity>, me: &str, file: PathBuf) -> Sealer {
        let mut sealer = Sealer::new(identity, me);
        let kept = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u64>().ok());
        if let Some(next) = kept {
            sealer.next_seq = next.max(1);
        }
        sealer.counter = Some((file, sealer.next_seq));
        sealer
    }

    /// Goes on from above `seq` if the counter is at or below it: the server kept a message
    /// of ours numbered `seq` (from another machine with this key, or before the counter file
    /// was lost), and a recipient would drop anything numbered below as already seen.
    /// A number past `u64::MAX / 2` (no clock or counter comes near it) is a server's lie
    /// meant to run the counter out: ignored, and false returned.
    pub fn above(&mut self, seq: u64) -> bool {
        if seq >= u64::MAX / 2 {
            return false;
        }
        self.next_seq = self.next_seq.max(seq + 1);
        true
    }

    /// The `CHAT` frame carrying `text` sealed for `to`, with the next sequence number.
    pub fn seal(&mut self, to: &Peer, text: &str) -> Result<Chat, KeyError> {
        let key = keys::parse_public_key(&to.key)?;
        let seq = self.next_seq;
        self.reserve(seq)?;
        let envelope = self.identity.seal(&self.me, &to.name, &key, seq, text)?;
        self.next_seq = seq + 1;
        Ok(Chat { to: to.name.clone(), envelope })
    }

    /// The `RCHT` frame carrying `text` for `room`, sealed once for each of `members` with
    /// one sequence number (each member sees it once), the room in the signed bytes.
    pub fn seal_room(
        &mut self,
        room: &str,
        members: &[&Peer],
        text: &str,
    ) -> Result<RoomChat, KeyError> {
        let seq = self.next_seq;
        self.reserve(seq)?;
        let mut envelopes = Vec::with_capacity(members.len());
        for member in members {
            let key = keys::parse_public_key(&member.key)?;
            let envelope = self.identity.seal_in(room, &self.me, &member.name, &key, seq, text)?;
            envelopes.push((member.name.clone(), envelope));
        }
        self.next_seq = seq + 1;
        Ok(RoomChat { room: room.to_owned(), envelopes })
    }

    /// Writes the counter ahead of `seq` before `seq` is used: a crash can skip numbers, never
    /// send one twice.
    fn reserve(&mut self, seq: u64) -> Result<(), KeyError> {
        let Some((file, written)) = &mut self.counter else { return Ok(()) };
        if seq < *written {
            return Ok(());
        }
        let next = seq + COUNTER_BLOCK;
        profile::write_whole(file, format!("{next}\n").as_bytes())
            .map_err(|e| KeyError::Crypto(format!("cannot keep the message counter: {e}")))?;
        *written = next;
        Ok(())
    }
}

/// What seeing a user's key means, against the key pinned for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// First time: now pinned.
    First,
    /// The pinned key.
    Same,
    /// Another key than the pinned one (whose full fingerprint is given), for a user we
    /// exchanged messages with: nothing is sent to them until `/trust`.
    Changed { pinned: String },
    /// Another key, for a user we never exchanged a message with (only seen in a list): there
    /// is nothing of theirs to protect, so the new key is pinned at once.
    Replaced,
}

/// Trust on first use: the full fingerprint of each user's key, pinned the first time it is
/// seen (kept in `known_users`, unless the session is ephemeral), whether we exchanged
/// messages with them, and the users whose key changed since, to whom nothing is sent until
/// `/trust NAME`.
#[derive(Debug, Default)]
pub struct Trust {
    /// By lower-cased name: the full fingerprint, and whether a message went either way.
    pins: BTreeMap<String, (String, bool)>,
    blocked: HashSet<String>,
    file: Option<PathBuf>,
}

/// Written after a pin's fingerprint in `known_users` once a message went either way. A pin
/// without it, from a version that did not say, counts as talked to (warned about, as then).
const TALKED: &str = "talked";
const SEEN_ONLY: &str = "seen";

impl Trust {
    /// Pins read from `file` (and written back to it), or kept in memory only.
    pub fn new(file: Option<PathBuf>) -> Trust {
        let read = file.as_deref().map(profile::read_pairs).unwrap_or_default();
        let pins = read
            .into_iter()
            .filter_map(|(name, value)| {
                let mut words = value.split_whitespace();
                let fp = words.next()?.to_owned();
                Some((name, (fp, words.next() != Some(SEEN_ONLY))))
            })
            .collect();
        Trust { pins, blocked: HashSet::new(), file }
    }

    /// Checks `key` against `name`'s pin; pins it if it is the first, or if the pin was of a
    /// user we never exchanged a message with.
    pub fn see(&mut self, name: &str, key: &[u8]) -> Result<Seen, ProfileError> {
        let lower = name.to_ascii_lowercase();
        let fp = keys::full_fingerprint(key);
        match self.pins.get(&lower) {
            Some((pinned, _)) if *pinned == fp => Ok(Seen::Same),
            Some((pinned, true)) => {
                let pinned = pinned.clone();
                self.blocked.insert(lower);
                Ok(Seen::Changed { pinned })
            }
            Some((_, false)) => {
                self.pins.insert(lower, (fp, false));
                self.save()?;
                Ok(Seen::Replaced)
            }
            None => {
                self.pins.insert(lower, (fp, false));
                self.save()?;
                Ok(Seen::First)
            }
        }
    }

    /// A message went to or came from `name` under their pinned key: a change of key from
    /// now on is warned about.
    pub fn talked(&mut self, name: &str) -> Result<(), ProfileError> {
        match self.pins.get_mut(&name.to_ascii_lowercase()) {
            Some((_, talked)) if !*talked => {
                *talked = true;
                self.save()
            }
            _ => Ok(()),
        }
    }

    /// Accepts `key` as `name`'s from now on.
    pub fn trust(&mut self, name: &str, key: &[u8]) -> Result<(), ProfileError> {
        let lower = name.to_ascii_lowercase();
        self.blocked.remove(&lower);
        self.pins.insert(lower, (keys::full_fingerprint(key), true));
        self.save()
    }

    /// Another name pinned here that looks like `name` (`names::look_alike`), if any: a
    /// hostile server need not refuse look-alikes as ours does.
    pub fn looks_like(&self, name: &str) -> Option<&str> {
        let (lower, look) = (name.to_ascii_lowercase(), names::look_alike(name));
        let mut pinned = self.pins.keys();
        pinned.find(|p| **p != lower && names::look_alike(p) == look).map(String::as_str)
    }

    /// Whether sending to `name` waits for `/trust` (their key changed).
    pub fn is_blocked(&self, name: &str) -> bool {
        self.blocked.contains(&name.to_ascii_lowercase())
    }

    fn save(&self) -> Result<(), ProfileError> {
        let word = |talked: bool| if talked { TALKED } else { SEEN_ONLY };
        let pairs = || {
            let pins = self.pins.iter();
            pins.map(|(name, (fp, talked))| (name.clone(), format!("{fp} {}", word(*talked))))
        };
        match &self.file {
            Some(file) => profile::write_pairs(file, &pairs().collect()),
            None => Ok(()),
        }
    }
}

/// Why an incoming message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// Shown in an earlier session: the server sent it again because our acknowledgement did
    /// not reach it. Not shown again, and nothing to warn about.
    #[error("shown before")]
    ShownBefore,
    /// The server stamped a name that is not in our directory.
    #[error("the sender is not in the directory")]
    UnknownSender,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Opens incoming messages: drops replays (before any RSA work), then checks the sender's
/// signature against the directory's key, then decrypts. Failures are only ever reported
/// locally, never to the network, so nobody can use us as an oracle for their guesses.
pub struct Opener {
    identity: Arc<Identity>,
    me: String,
    guard: ReplayGuard,
    /// The `seen` file, where what was shown is kept between sessions, if it is.
    book: Option<Arc<Mutex<SeenBook>>>,
    /// Each sender's highest number when this session began: a number seen then is a message
    /// sent again (`ShownBefore`), one seen since is a replay.
    earlier: std::collections::HashMap<(String, String), u64>,
    /// Messages an earlier session was printing when it ended (sender, fingerprint, number).
    cut_off: HashSet<(String, String, u64)>,
    /// The message accepted last, for `take_accepted`.
    accepted: Option<Accepted>,
}

/// The message an [`Opener`] accepted last: its two notes in the `seen` file (if there is
/// one) and whether an earlier session was printing it when it ended.
#[derive(Debug, PartialEq)]
pub struct Accepted {
    pub noted: Option<Noted>,
    pub maybe_shown: bool,
}

impl Opener {
    pub fn new(identity: Arc<Identity>, me: &str) -> Opener {
        let (guard, earlier, cut_off) = Default::default();
        let me = me.to_owned();
        Opener { identity, me, guard, book: None, earlier, cut_off, accepted: None }
    }

    /// An opener that remembers, in `file`, the sequence numbers accepted from each sender's
    /// key: a message shown in an earlier session is not shown again.
    pub fn remembering(identity: Arc<Identity>, me: &str, file: PathBuf) -> Opener {
        let mut opener = Opener::new(identity, me);
        let (book, loaded) = SeenBook::load(file);
        for (sender, fp, window) in loaded.windows {
            opener.guard.restore(&sender, &fp, window);
        }
        opener.cut_off = loaded.cut_off.into_iter().collect();
        opener.book = Some(book);
        opener.new_session();
        opener
    }

    /// A new session begins (a reconnect): what was seen until now was seen "before".
    pub fn new_session(&mut self) {
        let tops = self.guard.entries().map(|(s, fp, w)| ((s.to_owned(), fp.to_owned()), w.top));
        self.earlier = tops.collect();
    }

    /// The text of an envelope the server says is from `from`, that came through `room`
    /// (`""`: a direct message).
    pub fn open(
        &mut self,
        directory: &Directory,
        room: &str,
        from: &str,
        envelope: &[u8],
    ) -> Result<String, DropReason> {
        self.open_from(directory.get(from), room, envelope)
    }

    /// The text of an envelope from `peer` (as the server stamped it), if we know their key.
    pub fn open_from(
        &mut self,
        peer: Option<&Peer>,
        room: &str,
        envelope: &[u8],
    ) -> Result<String, DropReason> {
        let peer = peer.ok_or(DropReason::UnknownSender)?;
        // Cheap checks first: a replayed number costs a parse, not an RSA verification and
        // decryption (which a flood of replays would make the victim pay for).
        let claimed = keys::envelope_seq(envelope)?;
        let who = (peer.name.to_ascii_lowercase(), peer.fingerprint.clone());
        if let Err(replay) = self.guard.is_new(&peer.name, &peer.fingerprint, claimed) {
            let before = self.earlier.get(&who).is_some_and(|top| claimed <= *top);
            return Err(if before { DropReason::ShownBefore } else { DropReason::Key(replay) });
        }
        let opened = self
            .identity
            .open_in(room, &peer.name, &peer.key, &self.me, envelope)
            .map_err(DropReason::Key)?;
        self.guard.check(&peer.name, &peer.fingerprint, opened.seq).map_err(DropReason::Key)?;
        let (sender, fp) = who;
        let maybe_shown = self.cut_off.remove(&(sender.clone(), fp.clone(), opened.seq));
        let noted = self.book.as_ref().zip(self.guard.window(&sender, &fp));
        let noted = noted.map(|(book, w)| Noted::new(book, &sender, &fp, opened.seq, &w));
        self.accepted = Some(Accepted { noted, maybe_shown });
        Ok(opened.text)
    }

    /// The message accepted last, taken: its notes are written as its line is printed
    /// ([`Noted::printing`] right before, [`Noted::printed`] after).
    pub fn take_accepted(&mut self) -> Option<Accepted> {
        self.accepted.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, key: u8) -> User {
        User { name: name.into(), key: vec![key] }
    }

    /// alice's sealer, bob's identity, and a directory of both.
    fn alice_and_bob() -> (Sealer, Arc<Identity>, Directory) {
        let alice = Arc::new(Identity::generate(keys::MIN_KEY_BITS).unwrap());
        let bob = Arc::new(Identity::generate(keys::MIN_KEY_BITS).unwrap());
        let directory = Directory::new(vec![
            User { name: "alice".into(), key: alice.public_der().to_vec() },
            User { name: "bob".into(), key: bob.public_der().to_vec() },
        ]);
        (Sealer::new(alice, "alice"), bob, directory)
    }

    /// The envelope of `text` from alice to bob.
    fn seal(sealer: &mut Sealer, directory: &Directory, text: &str) -> Vec<u8> {
        match sealer.seal(directory.get("bob").unwrap(), text) {
            Ok(Chat { envelope, .. }) => envelope,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_replay_is_dropped_before_any_rsa_work_and_failures_record_nothing() {
        let (mut sealer, bob, directory) = alice_and_bob();
        let mut seal = |text: &str| seal(&mut sealer, &directory, text);
        let spoil = |mut envelope: Vec<u8>| {
            let last = envelope.len() - 1;
            envelope[last] ^= 1; // a byte of the signature
            envelope
        };
        let (first, second) = (seal("one"), seal("two"));
        let mut opener = Opener::new(bob, "bob");
        assert_eq!(opener.open(&directory, "", "alice", &first), Ok("one".into()));
        // A replay whose signature is spoiled is called a replay: the signature was never
        // looked at (it would say Tampered).
        let seq = keys::envelope_seq(&first).unwrap();
        let replay = opener.open(&directory, "", "alice", &spoil(first.clone()));
        assert_eq!(replay, Err(DropReason::Key(KeyError::Replay { seq, last: seq })));
        // A new number with a bad signature is Tampered, and not recorded: the genuine message
        // with that number still opens.
        let forged = opener.open(&directory, "", "alice", &spoil(second.clone()));
        assert_eq!(forged, Err(DropReason::Key(KeyError::Tampered)));
        assert_eq!(opener.open(&directory, "", "alice", &second), Ok("two".into()));
    }

    #[test]
    fn what_was_shown_is_remembered_through_the_files_rewrites_and_in_a_new_session() {
        let (mut sealer, bob, directory) = alice_and_bob();
        let messages: Vec<Vec<u8>> =
            (0..300).map(|i| seal(&mut sealer, &directory, &format!("m{i}"))).collect();
        let dir = std::env::temp_dir().join(format!("chatroom-seen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("seen");
        // Shown as a session shows them: noted as printing, printed, noted as printed (past
        // a few hundred lines the file is written anew, whole).
        let mut opener = Opener::remembering(bob.clone(), "bob", file.clone());
        assert!(!file.exists(), "no file before the first message");
        for envelope in &messages {
            opener.open(&directory, "", "alice", envelope).unwrap();
            let noted = opener.take_accepted().unwrap().noted.unwrap();
            noted.printing();
            noted.printed();
        }
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines < messages.len(), "the file was never rewritten: {lines} lines");
        // The next session knows every one of them as shown before.
        let mut next = Opener::remembering(bob, "bob", file);
        for envelope in &messages {
            let again = next.open(&directory, "", "alice", envelope);
            assert_eq!(again, Err(DropReason::ShownBefore));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_message_cut_off_while_printing_is_shown_again_with_a_word_and_nothing_is_lost() {
        let (mut sealer, bob, directory) = alice_and_bob();
        let [one, two, three] = ["one", "two", "three"].map(|t| seal(&mut sealer, &directory, t));
        let dir = std::env::temp_dir().join(format!("chatroom-cut-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("seen");
        let mut opener = Opener::remembering(bob.clone(), "bob", file.clone());
        // "one" printed; "two" noted as printing, and the session killed before its second
        // note; "three" accepted, and killed before anything was written.
        for (envelope, notes) in [(&one, 2), (&two, 1), (&three, 0)] {
            opener.open(&directory, "", "alice", envelope).unwrap();
            let noted = opener.take_accepted().unwrap().noted.unwrap();
            if notes >= 1 {
                noted.printing();
            }
            if notes == 2 {
                noted.printed();
            }
        }
        let mut next = Opener::remembering(bob.clone(), "bob", file.clone());
        assert_eq!(next.open(&directory, "", "alice", &one), Err(DropReason::ShownBefore));
        // Shown again, said to be perhaps a repeat; the one never begun, plainly.
        for (envelope, text, maybe) in [(&two, "two", true), (&three, "three", false)] {
            assert_eq!(next.open(&directory, "", "alice", envelope), Ok(text.to_owned()));
            let accepted = next.take_accepted().unwrap();
            assert_eq!(accepted.maybe_shown, maybe, "{text}");
            accepted.noted.unwrap().printed();
        }
        let mut third = Opener::remembering(bob, "bob", file);
        for envelope in [&one, &two, &three] {
            assert_eq!(third.open(&directory, "", "alice", envelope), Err(DropReason::ShownBefore));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_directory_follows_joins_leaves_lists_and_offline_keys() {
        let mut d = Directory::default();
        assert_eq!(d.apply(&ServerMsg::Joined(user("alice", 1))), Change::Joined("alice".into()));
        // bob is offline: his key is known, but he is not listed as online.
        assert_eq!(d.apply(&ServerMsg::UserKey(user("bob", 2))), Change::KeyLearned("bob".into()));
        assert!(d.online("bob").is_none());
        assert_eq!(d.get("BOB").map(|p| p.key.clone()), Some(vec![2]));
        assert_eq!(d.peers().len(), 1);
        // He joins with the same key, and leaves: offline again, his key still known.
        assert_eq!(d.apply(&ServerMsg::Joined(user("bob", 2))), Change::Joined("bob".into()));
        assert_eq!(d.peers().len(), 2);
        assert_eq!(d.apply(&ServerMsg::Left { name: "Bob".into() }), Change::Left("Bob".into()));
        assert!(d.online("bob").is_none());
        assert_eq!(d.get("bob").map(|p| p.key.clone()), Some(vec![2]));
        // A new list replaces who is online and keeps offline keys of those not listed.
        d.apply(&ServerMsg::UserKey(user("carol", 3)));
        let listed = ServerMsg::Directory(vec![user("dave", 4), user("bad name", 5)]);
        assert_eq!(d.apply(&listed), Change::Listed { ignored: 1 });
        let names: Vec<&str> = d.peers().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dave"]);
        assert!(d.get("carol").is_some());
        assert_eq!(d.apply(&ServerMsg::Ping), Change::None);
    }

    #[test]
    fn a_directory_keeps_valid_names_once_and_the_later_entry_wins() {
        let listed = vec![
            user("alice", 1),
            user("bad\x1bname", 2),
            user("bob", 3),
            user("ALICE", 4),
            user("QUIT", 5),
            user(&"x".repeat(33), 6),
        ];
        let d = Directory::new(listed);
        let names: Vec<&str> = d.peers().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["bob", "ALICE"]);
        assert_eq!(d.get("alice").map(|p| p.key.clone()), Some(vec![4]));
        let mut d = d;
        let evil = ServerMsg::Joined(user("ev\x1bil", 7));
        assert_eq!(d.apply(&evil), Change::Refused("ev\x1bil".into()));
        assert_eq!(d.apply(&ServerMsg::Joined(user("carol", 8))), Change::Joined("carol".into()));
        assert_eq!(d.peers().len(), 3);
    }
}
