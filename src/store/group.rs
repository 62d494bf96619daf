//! Group commit: every session's messages to keep and acknowledgements to delete are written
//! together, as many as wait, in one transaction and so one sync to disk, as PostgreSQL and
//! Kafka do. No thread of its own: the first session to arrive leads. It takes every job
//! waiting (its own among them), commits them, answers each, and hands the lead to the first
//! session that arrived meanwhile, whose job goes in the next group. A session is answered
//! once the transaction that holds its job is durable: `SENT` still means stored.

use crossbeam_channel::{Sender, bounded};

use super::mailbox::{ack_in, count_of, keep_in};
use super::*;

/// A message to keep, owned: it waits in another session's hands until its group commits.
pub struct KeepOwned {
    pub to: String,
    pub envelope: Vec<u8>,
    pub held: bool,
    pub room: Option<String>,
}

/// One session's part of a group.
pub(super) enum Work {
    Keep { from: String, batch: Vec<KeepOwned> },
    Ack { name: String, ids: Vec<i64> },
}

/// What a session is told: its results, or that it leads the next group.
pub(super) enum Reply {
    Kept(Vec<Result<Kept, HoldError>>),
    Acked(Result<Vec<HeldAck>, StoreError>),
    Lead,
}

struct Job {
    work: Work,
    reply: Sender<Reply>,
}

/// The jobs waiting for the next group, and whether a session is leading one.
#[derive(Default)]
pub(super) struct Queue {
    jobs: Vec<Job>,
    leading: bool,
}

impl Store {
    /// Has `hook` told of every message kept from now on, as soon as its transaction is
    /// durable and in the order of the ids (each group's messages before the next group's):
    /// how live messages reach their recipient's writer without a read of the database. Set
    /// once; it must not use the store.
    pub fn on_kept(&self, hook: impl Fn(&str, Held) + Send + Sync + 'static) {
        let _ = self.kept_hook.set(Box::new(hook));
    }

    /// Keeps each of a sender's messages as [`Store::keep`] does, in the next group commit
    /// (`group.rs`: with what other sessions write meanwhile, one sync to disk for all). If the
    /// transaction fails, none is kept: each says `Failed`.
    pub fn keep_batch(&self, from: &str, batch: &[Keep<'_>]) -> Vec<Result<Kept, HoldError>> {
        let count = batch.len();
        let batch = batch
            .iter()
            .map(|k| KeepOwned {
                to: k.to.to_owned(),
                envelope: k.envelope.to_vec(),
                held: k.held,
                room: k.room.map(str::to_owned),
            })
            .collect();
        match self.in_group(Work::Keep { from: from.to_owned(), batch }) {
            Reply::Kept(kept) => kept,
            _ => (0..count).map(|_| Err(HoldError::Failed)).collect(),
        }
    }

    /// Deletes the messages `ids` that `name` acknowledged, in the next group commit (only its
    /// own: an id of someone else's mail is ignored). Returns, for each sender, how many of
    /// those had been held while `name` was offline, and whether more of theirs are still held.
    pub fn ack(&self, name: &str, ids: &[i64]) -> Result<Vec<HeldAck>, StoreError> {
        match self.in_group(Work::Ack { name: name.to_owned(), ids: ids.to_vec() }) {
            Reply::Acked(held) => held,
            _ => Err(StoreError::Group("no answer".into())),
        }
    }

    /// Does `work` in the next group commit; returns when its transaction is durable.
    pub(super) fn in_group(&self, work: Work) -> Reply {
        let (reply, answer) = bounded(1);
        let lead = {
            let mut queue = self.queue.lock_anyway();
            queue.jobs.push(Job { work, reply });
            !std::mem::replace(&mut queue.leading, true)
        };
        if !lead {
            match answer.recv() {
                Ok(Reply::Lead) => {}
                Ok(done) => return done,
                Err(_) => return Reply::Lead,
            }
        }
        let jobs = std::mem::take(&mut self.queue.lock_anyway().jobs);
        self.commit_group(jobs);
        {
            let mut queue = self.queue.lock_anyway();
            match queue.jobs.first() {
                // Its job is in the next group: it leads it.
                Some(next) => {
                    let _ = next.reply.send(Reply::Lead);
                }
                None => queue.leading = false,
            }
        }
        answer.recv().unwrap_or(Reply::Lead)
    }

    /// Writes `jobs` in one transaction and answers each. The mailbox counts change as the
    /// rows do: in a copy, kept only if the transaction commits.
    fn commit_group(&self, mut jobs: Vec<Job>) {
        if !self.file_intact() {
            for job in jobs {
                let _ = job.reply.send(failed(&job.work));
            }
            return;
        }
        let mut guard = self.db();
        let done = (|| -> Result<Vec<Reply>, rusqlite::Error> {
            guard.expire()?;
            let Db { conn, boxes, .. } = &mut *guard;
            let tx = conn.transaction()?;
            let mut counting: HashMap<String, MailCount> = HashMap::new();
            let mut replies = Vec::with_capacity(jobs.len());
            for job in &jobs {
                replies.push(match &job.work {
                    Work::Keep { from, batch } => {
                        Reply::Kept(keep_all_in(&tx, from, batch, boxes, &mut counting)?)
                    }
                    Work::Ack { name, ids } => {
                        Reply::Acked(Ok(ack_in(&tx, name, ids, boxes, &mut counting)?))
                    }
                });
            }
            tx.commit()?;
            boxes.extend(counting);
            Ok(replies)
        })();
        // Told before the next group can commit: in the order of the ids.
        if let (Ok(replies), Some(hook)) = (&done, self.kept_hook.get()) {
            hand_over(hook, &mut jobs, replies);
        }
        drop(guard);
        let replies = done.unwrap_or_else(|e| {
            log::error!("cannot write {} sessions' mail: {e}", jobs.len());
            jobs.iter().map(|job| failed(&job.work)).collect()
        });
        for (job, reply) in jobs.into_iter().zip(replies) {
            let _ = job.reply.send(reply);
        }
    }
}

/// Tells `hook` of each message the group kept (the envelopes move out of the jobs: their
/// senders are answered with ids, not bytes).
fn hand_over(hook: &KeptHook, jobs: &mut [Job], replies: &[Reply]) {
    for (job, reply) in jobs.iter_mut().zip(replies) {
        let (Work::Keep { from, batch }, Reply::Kept(kept)) = (&mut job.work, reply) else {
            continue;
        };
        for (k, result) in batch.iter_mut().zip(kept) {
            if let Ok(Kept { id, .. }) = result {
                let envelope = std::mem::take(&mut k.envelope);
                let held = Held {
                    id: *id,
                    from: from.clone(),
                    envelope,
                    sender_key: None,
                    room: k.room.take(),
                };
                hook(&k.to.to_ascii_lowercase(), held);
            }
        }
    }
}

impl Store {
    /// Whether the database file is the one opened: one deleted or replaced under the server
    /// would take messages nobody will read again, so nothing more is kept (each sender is
    /// told `NotStored`, never `SENT`), and the log says why, once.
    fn file_intact(&self) -> bool {
        let Some(guard) = &self.guard else { return true };
        if guard.intact() {
            return true;
        }
        if !self.file_gone.swap(true, std::sync::atomic::Ordering::Relaxed) {
            log::error!(
                "{} was deleted or replaced while this server used it: no message is kept any \
                 more; restart the server (its lost messages were only in the deleted file)",
                guard.path.display()
            );
        }
        false
    }
}

/// What each job of a group that did not commit is told.
fn failed(work: &Work) -> Reply {
    match work {
        Work::Keep { batch, .. } => {
            Reply::Kept(batch.iter().map(|_| Err(HoldError::Failed)).collect())
        }
        Work::Ack { .. } => Reply::Acked(Err(StoreError::Group("see the log".into()))),
    }
}

/// Keeps a sender's batch in the group's transaction. Once one message to a recipient is
/// refused, so is every later one to them in the batch: a smaller message after a large one
/// must not overtake it.
fn keep_all_in(
    tx: &rusqlite::Transaction<'_>,
    from: &str,
    batch: &[KeepOwned],
    boxes: &HashMap<String, MailCount>,
    counting: &mut HashMap<String, MailCount>,
) -> Result<Vec<Result<Kept, HoldError>>, rusqlite::Error> {
    let mut refused: Vec<(String, HoldError)> = Vec::new();
    let mut kept = Vec::with_capacity(batch.len());
    let mut highest = 0;
    for k in batch {
        let lower = k.to.to_ascii_lowercase();
        if let Some((_, e)) = refused.iter().find(|(to, _)| *to == lower) {
            kept.push(Err(e.clone()));
            continue;
        }
        let keep = Keep { to: &k.to, envelope: &k.envelope, held: k.held, room: k.room.as_deref() };
        let result = keep_in(tx, from, &keep, count_of(boxes, counting, &lower))?;
        match &result {
            Err(e) => refused.push((lower, e.clone())),
            // The number is in the envelope's clear header (what a recipient checks first).
            Ok(_) => highest = highest.max(crate::keys::envelope_seq(&k.envelope).unwrap_or(0)),
        }
        kept.push(result);
    }
    if highest > 0 {
        tx.prepare_cached("UPDATE names SET last_seq = max(last_seq, ?1) WHERE lower_name = ?2")?
            .execute(params![highest as i64, from.to_ascii_lowercase()])?;
    }
    Ok(kept)
}
