//! Names bound to keys: the binding a join claims (or is refused), a throwaway binding held by
//! one session, `--forget`, and names released after [`NAME_EXPIRY`] unused.

use super::rooms::sweep_rooms;
use super::*;

impl Store {
    /// The key `name` is registered with, if any (and not expired).
    pub fn key_of(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(registered(&self.db(), &name.to_ascii_lowercase())?)
    }

    /// Whether `key` may join as `name`: binds a free name to it, and notes that a name is in
    /// use (`last_seen`). Expired names are released first. A throwaway key's binding lasts
    /// its session only: `throwaway` is then `Some(holder)`, a number the session is known by
    /// (its connection's id), and [`Store::release_throwaway`] ends the binding if it is
    /// still that session's. A later claim with the same key (a reconnect) takes it over.
    pub fn claim(
        &self,
        name: &str,
        key: &[u8],
        throwaway: Option<u64>,
    ) -> Result<Claim, StoreError> {
        let holder = throwaway.map_or(0, |h| h as i64);
        let mut db = self.db();
        let tx = db.transaction()?;
        let (lower, look, now) = (name.to_ascii_lowercase(), crate::names::look_alike(name), now());
        let released = release_expired(&tx, now)?;
        let alike: Option<String> = tx
            .query_row(
                "SELECT name FROM names WHERE look = ?1 AND lower_name != ?2 LIMIT 1",
                params![look, lower],
                |r| r.get(0),
            )
            .optional()?;
        let claim = match alike {
            Some(other) => Claim::LooksLike(other),
            None => {
                let inserted = tx.execute(
                    "INSERT INTO names
                         (lower_name, name, key, created, look, last_seen, throwaway, holder)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7) ON CONFLICT (lower_name) DO NOTHING",
                    params![lower, name, key, now, look, throwaway.is_some(), holder],
                )?;
                if inserted == 1 {
                    Claim::New
                } else {
                    claim_bound(&tx, &lower, key, now, throwaway.map(|_| holder))?
                }
            }
        };
        tx.commit()?;
        if released > 0 {
            db.recount()?;
        }
        // The lock is let go first: the marker takes it again.
        drop(db);
        if claim == Claim::New && throwaway.is_none() {
            self.mark_if_named()?;
        }
        Ok(claim)
    }

    /// Ends the binding of `name` to the throwaway `key` that session `holder` claimed (its
    /// session is over), with the messages waiting for it: nobody can read them now. Those it
    /// sent stay, with its key (`Held::sender_key`). Returns how many messages went; nothing
    /// if `name` is not bound to that throwaway key, or a later session holds it now.
    pub fn release_throwaway(
        &self,
        name: &str,
        key: &[u8],
        holder: u64,
    ) -> Result<usize, StoreError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let lower = name.to_ascii_lowercase();
        let released = tx.execute(
            "DELETE FROM names
             WHERE lower_name = ?1 AND key = ?2 AND throwaway = 1 AND holder = ?3",
            params![lower, key, holder as i64],
        )? == 1;
        let mut gone = 0;
        if released {
            gone = tx.execute("DELETE FROM mailbox WHERE recipient = ?1", [&lower])?;
            sweep_rooms(&tx)?;
        }
        tx.commit()?;
        if gone > 0 {
            db.recount()?;
        }
        Ok(gone)
    }

    /// Releases `name`, and deletes the messages waiting for it and those it sent that wait
    /// for others (their recipients could no longer check them: the key goes with the name).
    /// Says what it did; nothing if `name` was not registered.
    pub fn forget(&self, name: &str) -> Result<Forgotten, StoreError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let lower = name.to_ascii_lowercase();
        let released = tx.execute("DELETE FROM names WHERE lower_name = ?1", [&lower])? == 1;
        let (mut to, mut from) = (0, 0);
        if released {
            to = tx.execute("DELETE FROM mailbox WHERE recipient = ?1", [&lower])?;
            from = tx.execute("DELETE FROM mailbox WHERE lower(sender) = ?1", [&lower])?;
            sweep_rooms(&tx)?;
        }
        tx.commit()?;
        db.recount()?;
        Ok(Forgotten { released, to, from })
    }
}

/// A claim of `lower`, already bound: by another key (held by a session as a throwaway, or
/// registered), or by this one, whose last join is noted (and, for a throwaway claim by
/// session `holder`, the binding handed to that session).
fn claim_bound(
    tx: &rusqlite::Transaction<'_>,
    lower: &str,
    key: &[u8],
    now: i64,
    holder: Option<i64>,
) -> Result<Claim, rusqlite::Error> {
    let (bound, bound_throwaway): (Vec<u8>, bool) =
        tx.query_row("SELECT key, throwaway FROM names WHERE lower_name = ?1", [lower], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if bound != key {
        return Ok(if bound_throwaway { Claim::InUse } else { Claim::Other });
    }
    // Expiry counts in months: a day's precision is plenty, and spares most joins a write
    // (and its sync to disk).
    tx.execute(
        "UPDATE names SET last_seen = ?1 WHERE lower_name = ?2 AND last_seen < ?1 - 86400",
        params![now, lower],
    )?;
    if let Some(holder) = holder.filter(|_| bound_throwaway) {
        tx.execute("UPDATE names SET holder = ?1 WHERE lower_name = ?2", params![holder, lower])?;
    }
    Ok(Claim::Same)
}

/// The name (as registered) and key of `lower`, if it is registered and has not expired: the
/// one place that says what "registered" means.
pub(super) fn registered(
    db: &Connection,
    lower: &str,
) -> Result<Option<(String, Vec<u8>)>, rusqlite::Error> {
    // Cached: it runs for every message kept.
    db.prepare_cached("SELECT name, key FROM names WHERE lower_name = ?1 AND last_seen >= ?2")?
        .query_row(params![lower, expired_before(now())], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// The key of `name` if it is a throwaway one (bound for its session only).
pub(super) fn throwaway_key(
    db: &Connection,
    name: &str,
) -> Result<Option<Vec<u8>>, rusqlite::Error> {
    db.prepare_cached("SELECT key FROM names WHERE lower_name = ?1 AND throwaway = 1")?
        .query_row([name.to_ascii_lowercase()], |r| r.get(0))
        .optional()
}

/// Releases the names nobody has joined with for `NAME_EXPIRY`, and what was held for them;
/// returns how many.
pub(super) fn release_expired(
    tx: &rusqlite::Transaction<'_>,
    now: i64,
) -> Result<usize, rusqlite::Error> {
    let before = expired_before(now);
    tx.execute(
        "DELETE FROM mailbox WHERE recipient IN (SELECT lower_name FROM names WHERE last_seen < ?1)",
        [before],
    )?;
    let released = tx.execute("DELETE FROM names WHERE last_seen < ?1", [before])?;
    if released > 0 {
        sweep_rooms(tx)?;
        log::info!("released {released} names unused for {} days", NAME_EXPIRY.as_secs() / 86_400);
    }
    Ok(released)
}

/// Sets every name's look-alike form to what `names::look_alike` says now: a file from a
/// version whose rule was narrower (before `bob.` and `bob` were alike) is checked by
/// today's rule from its next start. Names registered before stay; only new claims are
/// refused. Returns how many forms changed.
pub(super) fn refresh_looks(tx: &rusqlite::Transaction) -> Result<usize, rusqlite::Error> {
    let names: Vec<(String, String, String)> = tx
        .prepare("SELECT lower_name, name, look FROM names")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut changed = 0;
    for (lower, name, look) in names {
        let now = crate::names::look_alike(&name);
        if now != look {
            tx.execute("UPDATE names SET look = ?1 WHERE lower_name = ?2", params![now, lower])?;
            changed += 1;
        }
    }
    Ok(changed)
}
