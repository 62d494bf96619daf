//! A room's membership as its members sign it. Each change (made, invited, joined, left,
//! removed) is signed by a member's key and names the change before it by its SHA-256, so a
//! room's history is a chain that anyone can check and only a member can extend: the server
//! keeps it and relays it, every client folds it into a roster of its own, and a room
//! message is sealed for that roster only (docs/SECURITY.md, "Rooms the server cannot
//! join"). This is what Signal's groups and MLS do at a larger scale; here a change is one
//! signature and one hash.
//!
//! Pure: bytes in, a roster out. No socket, file or clock; the server (`rooms.rs`) and the
//! client (`client/rosters.rs`) both fold changes with [`Roster::apply`].

use sha2::{Digest, Sha256};

use crate::keys::{self, Identity, KeyError};
use crate::names;
use crate::wire::{
    FrameWriter, MAX_CHANGES, MAX_KEY_DER, MAX_NAME, MAX_ROOM, MAX_ROOM_MEMBERS, Reader,
};
use crate::wire::{Tag, WireError};

/// A change's SHA-256, and the SHA-256 of a public key (its full fingerprint).
pub type Hash = [u8; 32];

/// What the first change of a room follows.
pub const GENESIS: Hash = [0; 32];

/// What a signature covers first, so it cannot pass for a signature of anything else.
const CONTEXT: &[u8] = b"chatroom room change\0";
const VERSION: u8 = 1;
const MAX_SIGNATURE: usize = 512;

/// What a change does to the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The room's first change: its first member, by themselves.
    Create = 1,
    /// A member invites someone (their name and key).
    Invite = 2,
    /// The invitee accepts, signing with the key the invitation named.
    Join = 3,
    /// A member (or an invitee) leaves, by themselves.
    Leave = 4,
    /// A member removes another (`/kick`): the one who invited them, or any member once
    /// that one is gone. The room's first member cannot be removed.
    Remove = 5,
    /// The server ends a seat it may end without asking: a throwaway name's, at the end of
    /// its session, or a name unused for the expiry period. Unsigned: it can only take a
    /// reader away, never add one.
    Expire = 6,
}

impl Action {
    fn from_u8(b: u8) -> Option<Action> {
        [Action::Create, Action::Invite, Action::Join, Action::Leave, Action::Remove]
            .into_iter()
            .chain([Action::Expire])
            .find(|a| *a as u8 == b)
    }
}

/// One signed change to a room's membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub room: String,
    /// The hash of the change this one follows ([`GENESIS`] for `Create`).
    pub prev: Hash,
    pub action: Action,
    /// Who the change is about, and their key's SHA-256.
    pub subject: String,
    pub subject_key: Hash,
    /// Who signed it, with their public key (DER): empty for `Expire`.
    pub by: String,
    pub by_key: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A seat in a room: a member, or someone invited who has not yet joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    pub name: String,
    pub key: Hash,
    /// Who invited them (`None` for the room's first member).
    pub invited_by: Option<String>,
}

/// Why a change does not apply: each way a server (or anyone) could lie has its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    #[error("malformed change: {0}")]
    Malformed(#[from] WireError),
    #[error("a change for {0}, not this room")]
    WrongRoom(String),
    #[error("a change that does not follow the last one (replayed, reordered or forked)")]
    NotNext,
    #[error("a change signed by {0} that does not verify: forged or altered")]
    BadSignature(String),
    #[error("{0} is not a member, so cannot sign a change")]
    NotMember(String),
    #[error("{0} signed with a key other than the one the room knows for them")]
    WrongKey(String),
    #[error("{0} is already in the room or invited")]
    AlreadyIn(String),
    #[error("{0} was not invited (with that key)")]
    NotInvited(String),
    #[error("{0} is not in the room")]
    NotIn(String),
    #[error("{by} may not remove {subject}: only the member who invited them may")]
    MayNotRemove { by: String, subject: String },
    #[error("the room is full: at most {MAX_ROOM_MEMBERS} members and invitations")]
    Full,
    #[error("the room's history is full ({MAX_CHANGES} changes)")]
    TooLong,
    #[error("the room already exists")]
    Exists,
    #[error("a change to a room that does not exist yet: its first change must make it")]
    NoRoom,
    #[error("{0} must sign this change themselves")]
    NotOwn(String),
    #[error("an unsigned change that is not the server ending a seat")]
    Unsigned,
}

/// SHA-256 of a DER public key: how a change names a key.
pub fn key_hash(public_der: &[u8]) -> Hash {
    Sha256::digest(public_der).into()
}

/// The hash of a change's bytes ([`Change::encode`]).
pub fn hash_of(encoded: &[u8]) -> Hash {
    Sha256::digest(encoded).into()
}

impl Change {
    /// A change signed by `identity`, whose name is `by`.
    #[allow(clippy::too_many_arguments)]
    pub fn signed(
        identity: &Identity,
        by: &str,
        room: &str,
        prev: Hash,
        action: Action,
        subject: &str,
        subject_key: Hash,
    ) -> Result<Change, KeyError> {
        let mut change = Change {
            room: room.to_owned(),
            prev,
            action,
            subject: subject.to_owned(),
            subject_key,
            by: by.to_owned(),
            by_key: identity.public_der().to_vec(),
            signature: Vec::new(),
        };
        change.signature = identity.sign(CONTEXT, &change.signed_bytes())?;
        Ok(change)
    }

    /// The server's change ending `seat` (unsigned: see [`Action::Expire`]).
    pub fn expire(room: &str, prev: Hash, seat: &Seat) -> Change {
        Change {
            room: room.to_owned(),
            prev,
            action: Action::Expire,
            subject: seat.name.clone(),
            subject_key: seat.key,
            by: String::new(),
            by_key: Vec::new(),
            signature: Vec::new(),
        }
    }

    /// Everything but the signature: what the signature covers.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut w = FrameWriter::bare();
        w.u8(VERSION);
        w.str8(&self.room);
        w.raw(&self.prev);
        w.u8(self.action as u8);
        w.str8(&self.subject);
        w.raw(&self.subject_key);
        w.str8(&self.by);
        w.blob16(&self.by_key);
        w.finish()
    }

    /// The change as bytes: what the server stores and relays, and what its hash is of.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.signed_bytes();
        let mut w = FrameWriter::bare();
        w.blob16(&self.signature);
        bytes.extend_from_slice(&w.finish());
        bytes
    }

    /// The change's hash: what the next change names as `prev`.
    pub fn hash(&self) -> Hash {
        hash_of(&self.encode())
    }

    /// Reads a change, every field bounded.
    pub fn parse(bytes: &[u8]) -> Result<Change, WireError> {
        let mut r = Reader::new(bytes);
        if r.u8("change version")? != VERSION {
            return Err(WireError::BadValue { what: "change version" });
        }
        let room = r.str8("room", MAX_ROOM)?;
        let prev = r.array("previous change")?;
        let action = Action::from_u8(r.u8("action")?)
            .ok_or(WireError::BadValue { what: "change action" })?;
        let subject = r.str8("subject", MAX_NAME)?;
        let subject_key = r.array("subject key")?;
        let by = r.str8("signer", MAX_NAME)?;
        let by_key = r.blob16("signer key", MAX_KEY_DER)?;
        let signature = r.blob16("signature", MAX_SIGNATURE)?;
        r.finish(Tag(*b"RCHG"))?;
        // Names as the rules allow them, so none prints as anything else.
        let by_ok = names::check(&by).is_ok() || (by.is_empty() && action == Action::Expire);
        if names::check_room(&room).is_err() || names::check(&subject).is_err() || !by_ok {
            return Err(WireError::BadValue { what: "name in a room change" });
        }
        Ok(Change { room, prev, action, subject, subject_key, by, by_key, signature })
    }

    /// Checks the signature against the key the change carries.
    fn verify(&self) -> Result<(), RosterError> {
        keys::verify(&self.by_key, CONTEXT, &self.signed_bytes(), &self.signature)
            .map_err(|_| RosterError::BadSignature(self.by.clone()))
    }
}

/// A room's membership as its chain of changes makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    room: String,
    head: Hash,
    changes: usize,
    members: Vec<Seat>,
    invited: Vec<Seat>,
    /// Everyone who has been a member, with their key: a message they wrote while they were
    /// one may arrive after they left.
    former: Vec<(String, Hash)>,
}

fn find<'a>(seats: &'a [Seat], name: &str) -> Option<&'a Seat> {
    seats.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

fn take(seats: &mut Vec<Seat>, name: &str) -> Option<Seat> {
    let i = seats.iter().position(|s| s.name.eq_ignore_ascii_case(name))?;
    Some(seats.remove(i))
}

impl Roster {
    /// A room with no change yet (one that does not exist).
    pub fn new(room: &str) -> Roster {
        Roster {
            room: room.to_owned(),
            head: GENESIS,
            changes: 0,
            members: Vec::new(),
            invited: Vec::new(),
            former: Vec::new(),
        }
    }

    /// The roster `changes` make, each checked.
    pub fn fold<'a>(
        room: &str,
        changes: impl IntoIterator<Item = &'a Change>,
    ) -> Result<Roster, RosterError> {
        let mut roster = Roster::new(room);
        for change in changes {
            roster.apply(change)?;
        }
        Ok(roster)
    }

    pub fn room(&self) -> &str {
        &self.room
    }

    /// The hash of the last change ([`GENESIS`] when there is none).
    pub fn head(&self) -> Hash {
        self.head
    }

    pub fn len(&self) -> usize {
        self.changes
    }

    pub fn is_empty(&self) -> bool {
        self.changes == 0
    }

    /// The members, in the order they came.
    pub fn members(&self) -> &[Seat] {
        &self.members
    }

    /// Those invited who have not yet joined.
    pub fn invited(&self) -> &[Seat] {
        &self.invited
    }

    pub fn member(&self, name: &str) -> Option<&Seat> {
        find(&self.members, name)
    }

    pub fn invitation(&self, name: &str) -> Option<&Seat> {
        find(&self.invited, name)
    }

    /// Whether `name`, with the key of hash `key`, is or was a member.
    pub fn has_seated(&self, name: &str, key: &Hash) -> bool {
        self.former.iter().any(|(n, k)| n.eq_ignore_ascii_case(name) && k == key)
    }

    /// Applies one change, if it follows the last one, its signature verifies and its rules
    /// hold; the roster is unchanged otherwise.
    pub fn apply(&mut self, change: &Change) -> Result<(), RosterError> {
        self.apply_checking(change, true)
    }

    /// Applies a change this program checked with [`Roster::apply`] before it stored it: all
    /// but the signature (an RSA verification a change) is checked again.
    pub fn restore(&mut self, change: &Change) -> Result<(), RosterError> {
        self.apply_checking(change, false)
    }

    fn apply_checking(&mut self, change: &Change, verify: bool) -> Result<(), RosterError> {
        if !change.room.eq_ignore_ascii_case(&self.room) {
            return Err(RosterError::WrongRoom(change.room.clone()));
        }
        if change.prev != self.head {
            return Err(RosterError::NotNext);
        }
        if self.changes >= MAX_CHANGES {
            return Err(RosterError::TooLong);
        }
        if self.changes == 0 && change.action != Action::Create {
            return Err(RosterError::NoRoom);
        }
        if change.action == Action::Expire {
            if !change.by.is_empty() || !change.by_key.is_empty() || !change.signature.is_empty() {
                return Err(RosterError::Unsigned);
            }
        } else {
            self.check_signer(change)?;
            if verify {
                change.verify()?;
            }
        }
        self.seat(change)?;
        self.head = change.hash();
        self.changes += 1;
        Ok(())
    }

    /// The signer may sign this change: a member with the key the room knows, or, for the
    /// changes one makes about oneself, the subject with the key the change names.
    fn check_signer(&self, change: &Change) -> Result<(), RosterError> {
        let signer = key_hash(&change.by_key);
        let own = matches!(change.action, Action::Create | Action::Join | Action::Leave);
        if own {
            if !change.by.eq_ignore_ascii_case(&change.subject) {
                return Err(RosterError::NotOwn(change.subject.clone()));
            }
            if signer != change.subject_key {
                return Err(RosterError::WrongKey(change.by.clone()));
            }
            return Ok(());
        }
        match self.member(&change.by) {
            None => Err(RosterError::NotMember(change.by.clone())),
            Some(seat) if seat.key != signer => Err(RosterError::WrongKey(change.by.clone())),
            Some(_) => Ok(()),
        }
    }

    /// What the change does to the seats, if its rules hold.
    fn seat(&mut self, change: &Change) -> Result<(), RosterError> {
        let subject = &change.subject;
        let seat = |invited_by: Option<&str>| Seat {
            name: subject.clone(),
            key: change.subject_key,
            invited_by: invited_by.map(str::to_owned),
        };
        match change.action {
            Action::Create => {
                if self.changes > 0 {
                    return Err(RosterError::Exists);
                }
                // The room's name as its first member wrote it.
                self.room = change.room.clone();
                self.members.push(seat(None));
            }
            Action::Invite => {
                if self.member(subject).is_some() || self.invitation(subject).is_some() {
                    return Err(RosterError::AlreadyIn(subject.clone()));
                }
                if self.members.len() + self.invited.len() >= MAX_ROOM_MEMBERS {
                    return Err(RosterError::Full);
                }
                self.invited.push(seat(Some(&change.by)));
            }
            Action::Join => match self.invitation(subject) {
                Some(invite) if invite.key == change.subject_key => {
                    let joined = take(&mut self.invited, subject).expect("found above");
                    self.members.push(joined);
                }
                _ => return Err(RosterError::NotInvited(subject.clone())),
            },
            Action::Leave | Action::Expire => self.unseat(subject, &change.subject_key)?,
            Action::Remove => {
                let target = self.member(subject).or_else(|| self.invitation(subject));
                let Some(target) = target else {
                    return Err(RosterError::NotIn(subject.clone()));
                };
                let allowed = match &target.invited_by {
                    None => false,
                    Some(inviter) => {
                        inviter.eq_ignore_ascii_case(&change.by) || self.member(inviter).is_none()
                    }
                };
                if !allowed {
                    let by = change.by.clone();
                    return Err(RosterError::MayNotRemove { by, subject: subject.clone() });
                }
                let key = target.key;
                self.unseat(subject, &key)?;
            }
        }
        if let Some(member) = self.member(subject) {
            let entry = (member.name.clone(), member.key);
            if !self.former.contains(&entry) {
                self.former.push(entry);
            }
        }
        Ok(())
    }

    /// Takes `name` (with that key) out, as a member or an invitee.
    fn unseat(&mut self, name: &str, key: &Hash) -> Result<(), RosterError> {
        let seated = |s: &Seat| s.name.eq_ignore_ascii_case(name) && s.key == *key;
        let before = self.members.len() + self.invited.len();
        self.members.retain(|s| !seated(s));
        self.invited.retain(|s| !seated(s));
        if self.members.len() + self.invited.len() == before {
            return Err(RosterError::NotIn(name.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
