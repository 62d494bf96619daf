//! The mailbox: every message kept before its sender hears `SENT`, within the bounds per
//! recipient and per sender, read back in order, and deleted on its recipient's `ACKN`.

use super::names::{registered, throwaway_key};
use super::*;

impl Store {
    /// Holds `envelope` from `from` for the registered user `to`, who is offline, within the
    /// mailbox bounds.
    pub fn hold(&self, to: &str, from: &str, envelope: &[u8]) -> Result<(), HoldError> {
        self.keep(to, from, envelope, true).map(|_| ())
    }

    /// Keeps `envelope` from `from` for the registered user `to` (`held`: who is offline),
    /// within the mailbox bounds, until `to` acknowledges it. Committed when this returns.
    pub fn keep(
        &self,
        to: &str,
        from: &str,
        envelope: &[u8],
        held: bool,
    ) -> Result<Kept, HoldError> {
        let batch = [Keep { to, envelope, held, room: None }];
        self.keep_batch(from, &batch).pop().unwrap_or(Err(HoldError::Failed))
    }

    /// The messages kept for `name`, oldest first (expired ones are dropped).
    pub fn held_for(&self, name: &str) -> Result<Vec<Held>, StoreError> {
        self.mail_after(name, 0, MAILBOX_MESSAGES as usize)
    }

    /// At most `limit` of the messages kept for `name` after the one with id `after`, oldest
    /// first (expired ones are dropped).
    pub fn mail_after(
        &self,
        name: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Held>, StoreError> {
        let mut db = self.db();
        db.expire()?;
        let mut query = db.prepare_cached(
            "SELECT id, sender, envelope, sender_key, room FROM mailbox WHERE recipient = ?1 AND id > ?2
             ORDER BY id LIMIT ?3",
        )?;
        let held = query
            .query_map(params![name.to_ascii_lowercase(), after, limit as i64], |r| {
                Ok(Held {
                    id: r.get(0)?,
                    from: r.get(1)?,
                    envelope: r.get(2)?,
                    sender_key: r.get(3)?,
                    room: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(held)
    }

    /// The highest message number kept from `name`'s key (0: none), for its `WLCM`.
    pub fn last_seq(&self, name: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> = self
            .db()
            .query_row(
                "SELECT last_seq FROM names WHERE lower_name = ?1",
                [name.to_ascii_lowercase()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(0).max(0) as u64)
    }

    /// Whether messages kept for `name` are waiting for its acknowledgement.
    pub fn awaits_ack(&self, name: &str) -> Result<bool, StoreError> {
        let waiting = self.db().query_row(
            "SELECT EXISTS (SELECT 1 FROM mailbox WHERE recipient = ?1)",
            [name.to_ascii_lowercase()],
            |r| r.get(0),
        )?;
        Ok(waiting)
    }

    /// The id of the last message kept for `name` (0 if none).
    pub fn last_mail_id(&self, name: &str) -> Result<i64, StoreError> {
        let last = self.db().query_row(
            "SELECT coalesce(max(id), 0) FROM mailbox WHERE recipient = ?1",
            [name.to_ascii_lowercase()],
            |r| r.get(0),
        )?;
        Ok(last)
    }
}

/// Deletes what `name` acknowledged, in the caller's transaction, taking each off the
/// working counts (`counting`).
pub(super) fn ack_in(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    ids: &[i64],
    boxes: &HashMap<String, MailCount>,
    counting: &mut HashMap<String, MailCount>,
) -> Result<Vec<HeldAck>, rusqlite::Error> {
    let lower = name.to_ascii_lowercase();
    let mut held: Vec<HeldAck> = Vec::new();
    let mut delete = tx.prepare_cached(
        "DELETE FROM mailbox WHERE id = ?1 AND recipient = ?2
         RETURNING sender, held, length(envelope), sender_key IS NOT NULL",
    )?;
    for id in ids {
        let row: Option<(String, bool, i64, bool)> = delete
            .query_row(params![id, lower], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((sender, was_held, bytes, throwaway)) = row else { continue };
        let mailbox = count_of(boxes, counting, &lower);
        mailbox.count -= 1;
        mailbox.bytes -= bytes;
        mailbox.throwaway -= i64::from(throwaway);
        if let Some(n) = mailbox.from.get_mut(&sender.to_ascii_lowercase()) {
            *n -= 1;
        }
        if was_held {
            match held.iter_mut().find(|h| h.sender.eq_ignore_ascii_case(&sender)) {
                Some(h) => h.count += 1,
                None => held.push(HeldAck { sender, count: 1, more: false }),
            }
        }
    }
    let mut more = tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM mailbox
         WHERE recipient = ?1 AND sender = ?2 COLLATE NOCASE AND held)",
    )?;
    for h in &mut held {
        h.more = more.query_row(params![lower, h.sender], |r| r.get(0))?;
    }
    Ok(held)
}

/// Keeps one message within the mailbox bounds (`mailbox`: its recipient's counts, updated),
/// in the caller's transaction.
pub(super) fn keep_in(
    tx: &rusqlite::Transaction<'_>,
    from: &str,
    keep: &Keep<'_>,
    mailbox: &mut MailCount,
) -> Result<Result<Kept, HoldError>, rusqlite::Error> {
    let Keep { to, envelope, held, room } = *keep;
    let lower = to.to_ascii_lowercase();
    let Some((name, _)) = registered(tx, &lower)? else {
        return Ok(Err(HoldError::Unregistered(to.to_owned())));
    };
    let sender_key = throwaway_key(tx, from)?;
    let len = envelope.len() as i64;
    if mailbox.count >= MAILBOX_MESSAGES || mailbox.bytes + len > MAILBOX_BYTES {
        return Ok(Err(HoldError::Full { name }));
    }
    let sender = from.to_ascii_lowercase();
    if mailbox.from.get(&sender).copied().unwrap_or(0) >= MAILBOX_PER_SENDER {
        return Ok(Err(HoldError::SenderShare { name }));
    }
    if sender_key.is_some() && mailbox.throwaway >= MAILBOX_THROWAWAY {
        return Ok(Err(HoldError::ThrowawayShare { name }));
    }
    tx.prepare_cached(
        "INSERT INTO mailbox (recipient, sender, envelope, queued_at, held, sender_key, room)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![lower, from, envelope, now(), held, sender_key, room])?;
    mailbox.count += 1;
    mailbox.bytes += len;
    mailbox.throwaway += i64::from(sender_key.is_some());
    *mailbox.from.entry(sender).or_insert(0) += 1;
    Ok(Ok(Kept { id: tx.last_insert_rowid(), to: name }))
}

/// The working count of `to`'s mailbox: as committed, then as this group changed it.
pub(super) fn count_of<'a>(
    boxes: &HashMap<String, MailCount>,
    counting: &'a mut HashMap<String, MailCount>,
    lower: &str,
) -> &'a mut MailCount {
    counting
        .entry(lower.to_owned())
        .or_insert_with(|| boxes.get(lower).cloned().unwrap_or_default())
}
