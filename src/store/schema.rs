//! The file's tables: made at the current [`SCHEMA_VERSION`], or brought up to it from an older
//! one, a step per version.

use super::*;

/// The rooms and their members (schema 5), for a new database and for the step up to 5.
macro_rules! room_tables {
    () => {
        "CREATE TABLE rooms (lower_name TEXT PRIMARY KEY, name TEXT NOT NULL, created INTEGER NOT NULL);
         CREATE TABLE room_members (
             room TEXT NOT NULL,
             member TEXT NOT NULL,
             joined INTEGER NOT NULL,
             PRIMARY KEY (room, member)
         );
         CREATE INDEX room_members_member ON room_members (member);"
    };
}

/// Each room's chain of signed membership changes, and who is only invited (schema 7).
macro_rules! room_log_tables {
    () => {
        "CREATE TABLE room_log (
             room TEXT NOT NULL,
             seq INTEGER NOT NULL,
             change BLOB NOT NULL,
             PRIMARY KEY (room, seq)
         );
         ALTER TABLE room_members ADD COLUMN invited INTEGER NOT NULL DEFAULT 0;"
    };
}

/// A new database, at the current schema.
pub(super) fn create(db: &Connection) -> Result<(), rusqlite::Error> {
    db.execute_batch(concat!(
        "BEGIN;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         INSERT INTO meta (key, value) VALUES ('schema', 8);
         CREATE TABLE names (
             lower_name TEXT PRIMARY KEY,
             name TEXT NOT NULL,
             key BLOB NOT NULL,
             created INTEGER NOT NULL,
             look TEXT NOT NULL,
             last_seen INTEGER NOT NULL,
             throwaway INTEGER NOT NULL DEFAULT 0,
             holder INTEGER NOT NULL DEFAULT 0,
             last_seq INTEGER NOT NULL DEFAULT 0
         );
         CREATE INDEX names_look ON names (look);
         CREATE INDEX names_last_seen ON names (last_seen);
         CREATE TABLE mailbox (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             recipient TEXT NOT NULL,
             sender TEXT NOT NULL,
             envelope BLOB NOT NULL,
             queued_at INTEGER NOT NULL,
             held INTEGER NOT NULL DEFAULT 1,
             sender_key BLOB,
             room TEXT
         );
         CREATE INDEX mailbox_recipient ON mailbox (recipient, id);",
        room_tables!(),
        room_log_tables!(),
        "COMMIT;"
    ))
}

/// The steps up from each older schema: the version each brings the file to, and its SQL.
const STEPS: &[(i64, &str)] = &[
    // 2: when each name was last joined with, to release names nobody uses. Names from
    // before count as seen when they were registered.
    (
        2,
        "ALTER TABLE names ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
         UPDATE names SET last_seen = created;
         CREATE INDEX names_last_seen ON names (last_seen);",
    ),
    // 3: whether a message was held for someone offline (every message is kept now, until
    // acknowledged). What was kept before was all held.
    (3, "ALTER TABLE mailbox ADD COLUMN held INTEGER NOT NULL DEFAULT 1;"),
    // 4: names bound to a throwaway key (`--ephemeral`), for their session only, and the
    // key kept with such a sender's messages. Every name from before was bound for good.
    (
        4,
        "ALTER TABLE names ADD COLUMN throwaway INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE mailbox ADD COLUMN sender_key BLOB;",
    ),
    // 5: rooms, their members, and the room a kept message was written to.
    (5, concat!(room_tables!(), "ALTER TABLE mailbox ADD COLUMN room TEXT;")),
    // 6: which session holds a throwaway binding, so that a session ending releases it
    // only if no later one (a reconnect with the same key) has claimed it since.
    (6, "ALTER TABLE names ADD COLUMN holder INTEGER NOT NULL DEFAULT 0;"),
    // 7: rooms whose membership members sign (`room_log`). A room of before has no signed
    // history a client could check: it goes, and its members make it again.
    (7, concat!("DELETE FROM room_members; DELETE FROM rooms;", room_log_tables!())),
    // 8: the highest message number kept from each name's key, told at its join (`WLCM`),
    // so that a key moved to a new machine numbers its messages above what was sent before.
    (8, "ALTER TABLE names ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;"),
];

/// Brings a database of schema `found` up to `SCHEMA_VERSION`, one step a version, each in a
/// transaction: a server killed in the middle leaves the file at the last whole step.
pub(super) fn migrate(db: &mut Connection, found: i64) -> Result<(), rusqlite::Error> {
    for (version, sql) in STEPS.iter().filter(|(v, _)| found < *v) {
        let tx = db.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'schema'", [version])?;
        tx.commit()?;
    }
    Ok(())
}
