//! Rooms and their members: joining (within [`MAX_ROOM_MEMBERS`] and [`MAX_ROOMS_PER_USER`]),
//! leaving, the membership a room message is checked against, and rooms left empty swept.

use super::*;

impl Store {
    /// Adds `member` to `room`, making the room if it is new. Returns the room as it is now,
    /// and whether `member` was new to it.
    pub fn join_room(&self, room: &str, member: &str) -> Result<(Room, bool), RoomRefusal> {
        let mut db = self.db();
        let (lower, who) = (room.to_ascii_lowercase(), member.to_ascii_lowercase());
        let result = (|| -> Result<Result<(Room, bool), RoomRefusal>, rusqlite::Error> {
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO rooms (lower_name, name, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT (lower_name) DO NOTHING",
                params![lower, room, now()],
            )?;
            let name: String =
                tx.query_row("SELECT name FROM rooms WHERE lower_name = ?1", [&lower], |r| {
                    r.get(0)
                })?;
            let members = members_of(&tx, &lower)?;
            let already = members.iter().any(|m| m.eq_ignore_ascii_case(member));
            if !already {
                if members.len() >= MAX_ROOM_MEMBERS {
                    return Ok(Err(RoomRefusal::Full(name)));
                }
                let mine: i64 = tx.query_row(
                    "SELECT count(*) FROM room_members WHERE member = ?1",
                    [&who],
                    |r| r.get(0),
                )?;
                if mine >= MAX_ROOMS_PER_USER as i64 {
                    return Ok(Err(RoomRefusal::TooMany));
                }
                tx.execute(
                    "INSERT INTO room_members (room, member, joined) VALUES (?1, ?2, ?3)",
                    params![lower, who, now()],
                )?;
            }
            let members = members_of(&tx, &lower)?;
            tx.commit()?;
            Ok(Ok((Room { name, members }, !already)))
        })();
        result.unwrap_or_else(|e| {
            log::error!("cannot add {member} to {room}: {e}");
            Err(RoomRefusal::Failed)
        })
    }

    /// Takes `member` out of `room` (a room nobody is left in goes). Returns the room with
    /// the members left.
    pub fn leave_room(&self, room: &str, member: &str) -> Result<Room, RoomRefusal> {
        let mut db = self.db();
        let (lower, who) = (room.to_ascii_lowercase(), member.to_ascii_lowercase());
        let result = (|| -> Result<Result<Room, RoomRefusal>, rusqlite::Error> {
            let tx = db.transaction()?;
            let name: Option<String> = tx
                .query_row("SELECT name FROM rooms WHERE lower_name = ?1", [&lower], |r| r.get(0))
                .optional()?;
            let left = tx.execute(
                "DELETE FROM room_members WHERE room = ?1 AND member = ?2",
                params![lower, who],
            )?;
            let Some(name) = name.filter(|_| left == 1) else {
                return Ok(Err(RoomRefusal::NotMember(room.to_owned())));
            };
            let members = members_of(&tx, &lower)?;
            if members.is_empty() {
                tx.execute("DELETE FROM rooms WHERE lower_name = ?1", [&lower])?;
            }
            tx.commit()?;
            Ok(Ok(Room { name, members }))
        })();
        result.unwrap_or_else(|e| {
            log::error!("cannot take {member} out of {room}: {e}");
            Err(RoomRefusal::Failed)
        })
    }

    /// `room` and its members, if `member` is one of them.
    pub fn room_for(&self, room: &str, member: &str) -> Result<Room, RoomRefusal> {
        let db = self.db();
        let lower = room.to_ascii_lowercase();
        let result = (|| -> Result<Option<Room>, rusqlite::Error> {
            let name: Option<String> = db
                .conn
                .query_row("SELECT name FROM rooms WHERE lower_name = ?1", [&lower], |r| r.get(0))
                .optional()?;
            let Some(name) = name else { return Ok(None) };
            let members = members_of(&db.conn, &lower)?;
            Ok(members
                .iter()
                .any(|m| m.eq_ignore_ascii_case(member))
                .then_some(Room { name, members }))
        })();
        match result {
            Ok(Some(room)) => Ok(room),
            Ok(None) => Err(RoomRefusal::NotMember(room.to_owned())),
            Err(e) => {
                log::error!("cannot read {room}: {e}");
                Err(RoomRefusal::Failed)
            }
        }
    }

    /// The rooms `member` is in, by name, each with its members.
    pub fn rooms_of(&self, member: &str) -> Result<Vec<Room>, StoreError> {
        let db = self.db();
        let rooms: Vec<(String, String)> = db
            .conn
            .prepare_cached(
                "SELECT r.lower_name, r.name FROM room_members m JOIN rooms r ON r.lower_name = m.room
                 WHERE m.member = ?1 ORDER BY r.lower_name",
            )?
            .query_map([member.to_ascii_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(rooms.len());
        for (lower, name) in rooms {
            out.push(Room { name, members: members_of(&db.conn, &lower)? });
        }
        Ok(out)
    }
}

/// Ends the memberships of names no longer registered, then the rooms nobody is left in.
pub(super) fn sweep_rooms(db: &Connection) -> Result<(), rusqlite::Error> {
    db.execute_batch(
        "DELETE FROM room_members WHERE member NOT IN (SELECT lower_name FROM names);
         DELETE FROM rooms WHERE lower_name NOT IN (SELECT room FROM room_members);",
    )
}

/// `room`'s members, as registered, in the order they joined.
pub(super) fn members_of(db: &Connection, room: &str) -> Result<Vec<String>, rusqlite::Error> {
    db.prepare_cached(
        "SELECT n.name FROM room_members m JOIN names n ON n.lower_name = m.member
         WHERE m.room = ?1 ORDER BY m.joined, m.rowid",
    )?
    .query_map([room], |r| r.get(0))?
    .collect()
}
