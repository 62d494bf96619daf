//! Rooms: each room's chain of signed membership changes (`room_log`), the one truth, and an
//! index made from it (`rooms`, `room_members`) to route messages and answer lists fast.
//! Every change is checked against the chain ([`Roster::apply`]) inside the transaction that
//! stores it, so two changes sent at once cannot both follow the same one. A name released
//! (a throwaway's session over, a name unused for the expiry period, `--forget`) loses its
//! seats by the server's own unsigned change ([`Action::Expire`]), which can only take a
//! reader away.

use super::*;
use crate::roster::{Action, Change, Hash, Roster, RosterError};

impl Store {
    /// Checks `change` against its room's chain and `limits` (the server's own rules, given
    /// the roster before it), then stores it and the index it makes. Returns the roster
    /// before and after.
    pub fn apply_change(
        &self,
        change: &Change,
        limits: impl FnOnce(&Roster) -> Result<(), RoomRefusal>,
    ) -> Result<(Roster, Roster), RoomRefusal> {
        let mut db = self.db();
        let result = (|| -> Result<Result<(Roster, Roster), RoomRefusal>, rusqlite::Error> {
            let tx = db.transaction()?;
            let before = roster_of(&tx, &change.room)?;
            if let Err(refused) = limits(&before) {
                return Ok(Err(refused));
            }
            let seats = matches!(change.action, Action::Create | Action::Join);
            if seats && room_count(&tx, &change.subject, false)? >= MAX_ROOMS_PER_USER {
                return Ok(Err(RoomRefusal::TooMany));
            }
            // Invitations wait in the invitee's room list: as many as the rooms one may be in.
            let inviting = change.action == Action::Invite;
            if inviting && room_count(&tx, &change.subject, true)? >= MAX_ROOMS_PER_USER {
                return Ok(Err(RoomRefusal::TooManyInvitations(change.subject.clone())));
            }
            let mut after = before.clone();
            if let Err(e) = after.apply(change) {
                return Ok(Err(RoomRefusal::Change(change.room.clone(), e)));
            }
            store_change(&tx, change, &after)?;
            tx.commit()?;
            Ok(Ok((before, after)))
        })();
        result.unwrap_or_else(|e| {
            log::error!("cannot change {}: {e}", change.room);
            Err(RoomRefusal::Failed)
        })
    }

    /// `room`'s changes after the one whose hash is `since` (all of them if `since` is not in
    /// the chain), for `asker`: a member, someone invited, or someone who was in it (to learn
    /// they were removed). A room that does not exist has no changes: `asker` may make it.
    pub fn changes_since(
        &self,
        room: &str,
        asker: &str,
        since: &Hash,
    ) -> Result<Vec<Vec<u8>>, RoomRefusal> {
        let db = self.db();
        let result = (|| -> Result<Result<Vec<Vec<u8>>, RoomRefusal>, rusqlite::Error> {
            let log = log_of(&db.conn, room)?;
            let changes: Vec<Change> = log.iter().filter_map(|b| Change::parse(b).ok()).collect();
            let known =
                |c: &Change| [&c.subject, &c.by].iter().any(|n| n.eq_ignore_ascii_case(asker));
            if !log.is_empty() && !changes.iter().any(known) {
                let name = changes.first().map_or(room, |c| c.room.as_str());
                return Ok(Err(RoomRefusal::InviteOnly(name.to_owned())));
            }
            let start = changes.iter().position(|c| c.hash() == *since).map_or(0, |i| i + 1);
            Ok(Ok(log.into_iter().skip(start).collect()))
        })();
        result.unwrap_or_else(|e| {
            log::error!("cannot read {room}: {e}");
            Err(RoomRefusal::Failed)
        })
    }

    /// The rooms `name` is in, or invited to (`invited`), by name.
    pub fn seats_of(&self, name: &str, invited: bool) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let rooms = db
            .conn
            .prepare_cached(
                "SELECT r.name FROM room_members m JOIN rooms r ON r.lower_name = m.room
                 WHERE m.member = ?1 AND m.invited = ?2 ORDER BY r.lower_name",
            )?
            .query_map(params![name.to_ascii_lowercase(), invited], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rooms)
    }

    /// `room` and its members, if `member` is one of them.
    pub fn room_for(&self, room: &str, member: &str) -> Result<Room, RoomRefusal> {
        match self.room_any(room) {
            Ok(found) if found.members.iter().any(|m| m.eq_ignore_ascii_case(member)) => Ok(found),
            Ok(_) => Err(RoomRefusal::NotMember(room.to_owned())),
            Err(e) => Err(e),
        }
    }

    /// `room` and its members (none if it does not exist).
    pub fn room_any(&self, room: &str) -> Result<Room, RoomRefusal> {
        let db = self.db();
        let lower = room.to_ascii_lowercase();
        let result = (|| -> Result<Room, rusqlite::Error> {
            let name: Option<String> = db
                .conn
                .query_row("SELECT name FROM rooms WHERE lower_name = ?1", [&lower], |r| r.get(0))
                .optional()?;
            let members = members_of(&db.conn, &lower)?;
            Ok(Room { name: name.unwrap_or_else(|| room.to_owned()), members })
        })();
        result.map_err(|e| {
            log::error!("cannot read {room}: {e}");
            RoomRefusal::Failed
        })
    }

    /// The rooms `member` is in, by name, each with its members.
    pub fn rooms_of(&self, member: &str) -> Result<Vec<Room>, StoreError> {
        let names = self.seats_of(member, false)?;
        let db = self.db();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let members = members_of(&db.conn, &name.to_ascii_lowercase())?;
            out.push(Room { name, members });
        }
        Ok(out)
    }

    /// `room`'s last change, if it has one.
    pub fn last_change(&self, room: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(log_of(&self.db().conn, room)?.pop())
    }
}

/// How many rooms `name` is a member of (or, `invited`, invited to).
fn room_count(db: &Connection, name: &str, invited: bool) -> Result<usize, rusqlite::Error> {
    let n: i64 = db.query_row(
        "SELECT count(*) FROM room_members WHERE member = ?1 AND invited = ?2",
        params![name.to_ascii_lowercase(), invited],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// `room`'s stored changes, in order.
fn log_of(db: &Connection, room: &str) -> Result<Vec<Vec<u8>>, rusqlite::Error> {
    db.prepare_cached("SELECT change FROM room_log WHERE room = ?1 ORDER BY seq")?
        .query_map([room.to_ascii_lowercase()], |r| r.get(0))?
        .collect()
}

/// `room`'s roster as its stored chain makes it. Each change was checked when it was stored;
/// one that no longer applies (the file edited by hand) ends the chain there, said in the log.
fn roster_of(db: &Connection, room: &str) -> Result<Roster, rusqlite::Error> {
    let mut roster = Roster::new(room);
    for bytes in log_of(db, room)? {
        let change = Change::parse(&bytes).map_err(RosterError::from);
        if let Err(e) = change.and_then(|c| roster.restore(&c)) {
            log::error!("{room}'s stored history is broken after {} changes: {e}", roster.len());
            break;
        }
    }
    Ok(roster)
}

/// Stores `change`, then makes the index say what `after` says: a room with no member left
/// goes, with its history.
fn store_change(db: &Connection, change: &Change, after: &Roster) -> Result<(), rusqlite::Error> {
    let lower = change.room.to_ascii_lowercase();
    if after.members().is_empty() {
        for table in ["room_log", "room_members"] {
            db.execute(&format!("DELETE FROM {table} WHERE room = ?1"), [&lower])?;
        }
        db.execute("DELETE FROM rooms WHERE lower_name = ?1", [&lower])?;
        return Ok(());
    }
    if change.action == Action::Create {
        db.execute(
            "INSERT INTO rooms (lower_name, name, created) VALUES (?1, ?2, ?3)",
            params![lower, change.room, now()],
        )?;
    }
    db.execute(
        "INSERT INTO room_log (room, seq, change) VALUES (?1, ?2, ?3)",
        params![lower, after.len() as i64, change.encode()],
    )?;
    db.execute("DELETE FROM room_members WHERE room = ?1", [&lower])?;
    let seats = after.members().iter().map(|s| (s, false));
    for (i, (seat, invited)) in seats.chain(after.invited().iter().map(|s| (s, true))).enumerate() {
        db.execute(
            "INSERT INTO room_members (room, member, joined, invited) VALUES (?1, ?2, ?3, ?4)",
            params![lower, seat.name.to_ascii_lowercase(), i as i64, invited],
        )?;
    }
    Ok(())
}

/// Ends the seats of names no longer registered, each by an `Expire` change.
pub(super) fn sweep_rooms(db: &Connection) -> Result<(), rusqlite::Error> {
    let gone: Vec<(String, String)> = db
        .prepare_cached(
            "SELECT room, member FROM room_members WHERE member NOT IN (SELECT lower_name FROM names)",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (room, member) in gone {
        let mut roster = roster_of(db, &room)?;
        let seat = roster.member(&member).or_else(|| roster.invitation(&member)).cloned();
        let Some(seat) = seat else {
            db.execute(
                "DELETE FROM room_members WHERE room = ?1 AND member = ?2",
                params![room, member],
            )?;
            continue;
        };
        let change = Change::expire(roster.room(), roster.head(), &seat);
        match roster.apply(&change) {
            Ok(()) => store_change(db, &change, &roster)?,
            Err(e) => log::error!("cannot end {member}'s seat in {room}: {e}"),
        }
    }
    Ok(())
}

/// `room`'s members (not those only invited), as registered, in the order they joined: the
/// index, read for every room message, not the chain.
pub(super) fn members_of(db: &Connection, room: &str) -> Result<Vec<String>, rusqlite::Error> {
    db.prepare_cached(
        "SELECT n.name FROM room_members m JOIN names n ON n.lower_name = m.member
         WHERE m.room = ?1 AND m.invited = 0 ORDER BY m.joined, m.rowid",
    )?
    .query_map([room], |r| r.get(0))?
    .collect()
}
