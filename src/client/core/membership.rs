//! Rooms, as the client checks them: the room commands (`/join`, `/leave`, `/invite`,
//! `/kick`, `/rooms`), each signed here; the chains of changes the server sends (`RLOG`,
//! `RCHG`), checked against what this client already holds (`client::rosters`); what the
//! server says about a room's members (`RINF`, `RLST`) compared with them; and a room
//! message shown only if a member wrote it. The server is trusted for nothing it cannot
//! prove: every lie is named on screen and left out.

use super::{Core, Step};
use crate::client::menu::Command;
use crate::client::peers::Peer;
use crate::client::rooms;
use crate::client::rosters::Applied;
use crate::cmd;
use crate::names;
use crate::report::Chain;
use crate::roster::{Action, Change, GENESIS, Hash, Roster, key_hash};
use crate::wire::User;

/// Room messages held until the room's chain is caught up with (a member we have not yet
/// seen join): at most this many, the rest wait on the server for the next session.
const MAX_HELD: usize = 256;

/// A room message from someone not (yet) in our roster of the room.
pub(super) struct HeldChat {
    id: u64,
    room: String,
    from: String,
    envelope: Vec<u8>,
}

impl Core {
    /// `/join`, `/leave`, `/invite`, `/kick`, `/rooms`: each sends its request and waits for
    /// the answer (`Step::Room`), then goes `back`; one refused here goes back at once.
    pub(super) fn room_command(&mut self, command: Command, back: Step) {
        let room = match &command {
            Command::Join(room)
            | Command::Leave(room)
            | Command::Invite(room, _)
            | Command::Kick(room, _) => room.clone(),
            // `/rooms` is answered from what we hold, once the server's list (compared with
            // it) is back.
            _ => {
                self.send(cmd::RoomList);
                return self.enter(Step::Room { room: String::new(), back: Box::new(back) });
            }
        };
        if let Err(e) = names::check_room(&room) {
            self.say(format!("No room {room:?}: {e}."));
            return self.enter(back);
        }
        let sent = match command {
            Command::Join(_) => {
                self.joining.insert(room.to_ascii_lowercase());
                self.sync(&room);
                true
            }
            Command::Leave(_) => {
                let me = self.me.clone();
                self.sign(&room, Action::Leave, &me)
            }
            Command::Invite(_, name) => self.invite(&room, &name),
            Command::Kick(_, name) => self.sign(&room, Action::Remove, &name),
            _ => false,
        };
        match sent {
            true => {
                self.enter(Step::Room { room: room.to_ascii_lowercase(), back: Box::new(back) })
            }
            false => self.enter(back),
        }
    }

    /// The room command waiting on `room` is answered: back to where it was typed.
    pub(super) fn room_done(&mut self, room: &str) {
        if let Step::Room { room: waiting, .. } = &self.step
            && waiting.eq_ignore_ascii_case(room)
            && let Step::Room { back, .. } = std::mem::replace(&mut self.step, Step::Menu)
        {
            self.enter(*back);
        }
    }

    /// Asks for `room`'s changes after the last one we hold.
    pub(super) fn sync(&mut self, room: &str) {
        self.syncing.insert(room.to_ascii_lowercase());
        let since = self.rosters.head(room);
        self.send(cmd::RoomJoin { room: room.to_owned(), since });
    }

    /// `/invite #room NAME`, with NAME's key as we know it (asked of the server first if we
    /// do not), unless it changed and is not trusted.
    /// Whether a request went (the change, or the question for the key).
    fn invite(&mut self, room: &str, name: &str) -> bool {
        if self.trust.is_blocked(name) {
            self.say(format!(
                "Not inviting {name}: their key changed. Type /trust {name} if you are sure."
            ));
            return false;
        }
        match self.directory.get(name).cloned() {
            Some(peer) => self.sign(room, Action::Invite, &peer.name),
            None => {
                self.inviting = Some((room.to_owned(), name.to_owned()));
                self.send(cmd::KeyQuery { name: name.to_owned() });
                true
            }
        }
    }

    /// The key of someone we were about to invite has come.
    pub(super) fn key_learned(&mut self, name: &str) {
        if let Some((room, wanted)) = self.inviting.take() {
            if !wanted.eq_ignore_ascii_case(name) {
                self.inviting = Some((room, wanted));
            } else if !self.invite(&room, name) {
                self.room_done(&room);
            }
        }
    }

    /// Signs `action` about `subject` in `room`, after the last change we hold, and sends
    /// it. The server's `RCHG` back says it was taken.
    fn sign(&mut self, room: &str, action: Action, subject: &str) -> bool {
        let Some(roster) = self.rosters.get(room) else {
            self.say(format!("You are not in {room}"));
            return false;
        };
        let me = self.me.clone();
        let seated = roster.member(&me).or_else(|| roster.invitation(&me)).is_some();
        let key = match action {
            Action::Invite => self.directory.get(subject).map(|p| key_hash(&p.key)),
            Action::Remove => {
                roster.member(subject).or_else(|| roster.invitation(subject)).map(|s| s.key)
            }
            _ => Some(key_hash(self.identity.public_der())),
        };
        let Some(key) = key.filter(|_| seated) else {
            self.say(match seated {
                false => format!("You are not in {room}"),
                true => format!("{subject} is not in {room}"),
            });
            return false;
        };
        let (name, head) = (roster.room().to_owned(), roster.head());
        self.send_signed(&name, head, action, subject, key)
    }

    /// Signs a change and sends it; whether it went.
    fn send_signed(
        &mut self,
        room: &str,
        prev: Hash,
        action: Action,
        subject: &str,
        key: Hash,
    ) -> bool {
        let me = self.me.clone();
        match Change::signed(&self.identity, &me, room, prev, action, subject, key) {
            Ok(change) => {
                self.send(cmd::RoomChange { change: change.encode() });
                true
            }
            Err(e) => {
                self.say(format!("Cannot sign the change: {}", Chain(&e)));
                false
            }
        }
    }

    /// `RLOG`: `room`'s changes after the last one we hold. Then, if we asked to join, what
    /// joining takes: making the room, accepting its invitation, or nothing (we are in).
    pub(super) fn on_room_log(&mut self, room: String, changes: Vec<Vec<u8>>) {
        if let Err(e) = names::check_room(&room) {
            return self.say(format!("Warning: ignored a room history for {room:?}: {e}"));
        }
        let lower = room.to_ascii_lowercase();
        self.syncing.remove(&lower);
        let known = self.rosters.get(&room).is_some();
        self.apply_changes(&room, &changes, known);
        // A join that signs a change waits for it to come back; anything else is done.
        let signing = self.joining.remove(&lower) && self.join_now(&room);
        if !signing {
            self.room_done(&room);
        }
        self.release_held(&lower);
    }

    /// `RCHG`: one change, as it happens. One that does not follow the last we hold means we
    /// missed some: we catch up instead.
    pub(super) fn on_room_change(&mut self, bytes: Vec<u8>) {
        let change = match Change::parse(&bytes) {
            Ok(change) => change,
            Err(e) => {
                return self.say(format!("WARNING: ignored a room change from the server: {e}"));
            }
        };
        let room = change.room.clone();
        if self.rosters.knows(&room, &change.hash()) {
            return self.say(format!(
                "WARNING: the server sent a change to {room} again (a replay): ignored"
            ));
        }
        // (With no chain of the room, the head is zeros: only its first change follows it.)
        if self.rosters.head(&room) != change.prev {
            return self.sync(&room);
        }
        self.apply_changes(&room, &[bytes], true);
        if change.by.eq_ignore_ascii_case(&self.me) {
            self.room_done(&room);
        }
    }

    /// Applies `changes` to our chain of `room`, each said (when `tell`, or when it is our
    /// own invitation), and names the first that does not hold.
    fn apply_changes(&mut self, room: &str, changes: &[Vec<u8>], tell: bool) {
        let (applied, failed, unsaved) = self.rosters.apply(room, changes);
        let me = self.me.clone();
        for one in &applied {
            let (by, subject) = (&one.change.by, &one.change.subject);
            let invited_me =
                one.change.action == Action::Invite && subject.eq_ignore_ascii_case(&me);
            let about_me = subject.eq_ignore_ascii_case(&me) || by.eq_ignore_ascii_case(&me);
            if let (true, Some(line)) = (tell || invited_me, rooms::change_line(one, &me)) {
                // Others' comings and goings are said unless one name churns.
                match about_me {
                    true => self.say(line),
                    false => self.notice(&subject.clone(), line),
                }
            }
            self.after_own(one);
        }
        if let Some(e) = failed {
            let left = changes.len() - applied.len();
            self.say(format!(
                "WARNING: the server sent a change to {room} that does not hold ({e}): ignored, \
                 with the {left} after it"
            ));
        }
        if let Some(e) = unsaved {
            self.say(format!("Cannot save {room}'s members: {}", Chain(&e)));
        }
    }

    /// What our own joining or leaving does: the joined line, or the room forgotten.
    fn after_own(&mut self, one: &Applied) {
        let change = &one.change;
        if !change.subject.eq_ignore_ascii_case(&self.me) {
            return;
        }
        match change.action {
            Action::Create | Action::Join => {
                if let Some(roster) = self.rosters.get(&change.room) {
                    let line = rooms::joined_line(roster.room(), &member_names(roster));
                    self.say(line);
                }
            }
            Action::Leave | Action::Remove | Action::Expire => self.rosters.forget(&change.room),
            Action::Invite => {}
        }
    }

    /// After `RLOG` for a `/join`: sign what it takes (whether a change went), or say why
    /// not.
    fn join_now(&mut self, room: &str) -> bool {
        let me = self.me.clone();
        let mine = key_hash(self.identity.public_der());
        let Some(roster) = self.rosters.get(room) else {
            return self.send_signed(room, GENESIS, Action::Create, &me, mine);
        };
        let (name, head) = (roster.room().to_owned(), roster.head());
        if roster.member(&me).is_some() {
            let line = rooms::joined_line(&name, &member_names(roster));
            self.say(line);
            return false;
        }
        if roster.invitation(&me).is_some_and(|s| s.key == mine) {
            return self.send_signed(&name, head, Action::Join, &me, mine);
        }
        self.say(format!("{name} is invite-only: ask a member to /invite you"));
        false
    }

    /// `RINF`, for a message to `room`: the members to seal for are those of our roster,
    /// with the key the room signed in. Whoever the server adds, hides or gives another key
    /// is named and left out.
    pub(super) fn room_members(&mut self, room: &str, listed: Vec<User>) -> Option<Vec<Peer>> {
        let Some(roster) = self.rosters.get(room).filter(|r| r.member(&self.me).is_some()) else {
            self.say(format!("You are not in {room}"));
            return None;
        };
        let roster = roster.clone();
        let mut lines = Vec::new();
        let (listed, invalid): (Vec<User>, Vec<User>) =
            listed.into_iter().partition(|u| names::check(&u.name).is_ok());
        if !invalid.is_empty() {
            lines.push("Warning: ignored members the server listed with invalid names.".into());
        }
        for user in &listed {
            if roster.member(&user.name).is_none() {
                lines.push(format!(
                    "WARNING: the server lists {} in {}, but no member invited them: left out.",
                    user.name,
                    roster.room()
                ));
            }
        }
        let mut peers = Vec::new();
        for seat in roster.members().iter().filter(|s| !s.name.eq_ignore_ascii_case(&self.me)) {
            let user = listed.iter().find(|u| u.name.eq_ignore_ascii_case(&seat.name));
            match user {
                None => lines.push(format!(
                    "WARNING: the server does not list {} in {}, though a member invited them: \
                     not sealed for them.",
                    seat.name,
                    roster.room()
                )),
                Some(u) if key_hash(&u.key) != seat.key => lines.push(format!(
                    "WARNING: the server gives {} in {} a key other than the one the room \
                     signed in: not sealed for them.",
                    seat.name,
                    roster.room()
                )),
                Some(u) => peers.push(Peer::from(u.clone())),
            }
        }
        lines.into_iter().for_each(|l| self.say(l));
        Some(peers)
    }

    /// `/rooms`: our rooms as we checked them, and what the server says otherwise.
    pub(super) fn list_rooms(&mut self, listed: &[(String, Vec<String>)]) {
        let mine: Vec<(String, Vec<String>)> = self
            .rosters
            .all()
            .filter(|r| r.member(&self.me).is_some())
            .map(|r| (r.room().to_owned(), member_names(r)))
            .collect();
        let directory = &self.directory;
        let mut lines = rooms::list_lines(&mine, &self.me, |m| directory.online(m).is_some());
        for roster in self.rosters.all().filter(|r| r.member(&self.me).is_none()) {
            let inviter = roster.invitation(&self.me).and_then(|s| s.invited_by.clone());
            if let Some(by) = inviter {
                let room = roster.room();
                lines.push(format!("Invited to {room} by {by}: /join {room} to accept"));
            }
        }
        for (room, listed_names) in listed {
            if names::check_room(room).is_err() {
                continue;
            }
            let roster = self.rosters.get(room);
            for name in listed_names.iter().filter(|n| names::check(n).is_ok()) {
                let seated = roster
                    .is_some_and(|r| r.member(name).is_some() || r.invitation(name).is_some());
                if !seated {
                    lines.push(format!(
                        "WARNING: the server lists {name} in {room}, but no member invited them"
                    ));
                }
            }
        }
        lines.into_iter().for_each(|l| self.say(l));
    }

    /// The rooms to catch up with at the start: those the server lists for us, and those we
    /// hold a chain for.
    pub(super) fn sync_all(&mut self, listed: &[(String, Vec<String>)]) {
        let mut rooms: Vec<String> = self.rosters.all().map(|r| r.room().to_owned()).collect();
        for (room, _) in listed {
            if names::check_room(room).is_ok()
                && !rooms.iter().any(|r| r.eq_ignore_ascii_case(room))
            {
                rooms.push(room.clone());
            }
        }
        rooms.iter().for_each(|room| self.sync(room));
    }

    /// Whether `from` is, or was, a member of `room` (with the key the directory gives).
    /// If not, the message waits (unacknowledged) while we catch up with the room, once.
    pub(super) fn admit(&mut self, id: u64, room: &str, from: &str, envelope: &[u8]) -> bool {
        if names::check_room(room).is_err() || names::check(from).is_err() {
            self.say(format!(
                "Warning: dropped a room message the server labelled {room:?} from {from:?}: not a \
                 valid room and name"
            ));
            self.send(cmd::Ack { id });
            return false;
        }
        if self.seated(room, from) {
            return true;
        }
        let lower = room.to_ascii_lowercase();
        if self.held.len() < MAX_HELD {
            let held = HeldChat {
                id,
                room: lower.clone(),
                from: from.to_owned(),
                envelope: envelope.to_vec(),
            };
            self.held.push(held);
            if !self.syncing.contains(&lower) {
                self.sync(room);
            }
        }
        false
    }

    /// Whether `from`, with the key the directory gives, is or was a member of `room` as our
    /// chain says.
    fn seated(&self, room: &str, from: &str) -> bool {
        let key = self.directory.get(from).map(|p| key_hash(&p.key));
        self.rosters.get(room).zip(key).is_some_and(|(r, k)| r.has_seated(from, &k))
    }

    /// After catching up with `room`: its held messages shown if a member wrote them, else
    /// dropped and said.
    fn release_held(&mut self, room: &str) {
        let (now, later): (Vec<HeldChat>, Vec<HeldChat>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| h.room == room);
        self.held = later;
        for held in now {
            if self.seated(room, &held.from) {
                self.show_chat(held.id, Some(room), &held.from, &held.envelope);
            } else {
                self.say(format!(
                    "Warning: dropped a message in {room} from {}: no member of {room} invited them",
                    held.from
                ));
                self.send(cmd::Ack { id: held.id });
            }
        }
    }

    /// The server refused to let us catch up with `room` (we are not in it): what waited for
    /// it is dropped.
    pub(super) fn sync_refused(&mut self, text: &str) {
        let room = text.split(' ').next().unwrap_or("").to_ascii_lowercase();
        if self.syncing.remove(&room) {
            self.joining.remove(&room);
            self.release_held(&room);
        }
        self.room_done(&room);
    }

    /// The rooms we are in, for Tab.
    pub(super) fn room_names(&self) -> Vec<String> {
        let me = &self.me;
        self.rosters.all().filter(|r| r.member(me).is_some()).map(|r| r.room().to_owned()).collect()
    }
}

fn member_names(roster: &Roster) -> Vec<String> {
    roster.members().iter().map(|s| s.name.clone()).collect()
}
