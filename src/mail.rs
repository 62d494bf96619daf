//! One client's chat on the server, in and out of the store. What it sends is kept in the
//! database before it is told `SENT`; what it acknowledges (`ACKN`) is deleted, and the
//! senders of messages that were held for it while it was away are told (`DLVD`). Each is done
//! a batch at a time, one transaction (and one sync to disk) a batch: the session flushes
//! when it has read everything the client sent so far, or a batch is full.
//!
//! The recipient's writer sends what is kept (`outbox::Pump`); this file only stores, wakes it
//! and deletes.

use log::{debug, warn};
use std::thread;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::registry::Recipient;
use crate::report::Chain;
use crate::store::{HeldAck, HoldError, Keep, Kept};
use crate::wire::{EncodedFrame, ErrorCode, ServerMsg};

/// Messages or acknowledgements kept in hand before they are written in one transaction.
pub const BATCH: usize = 64;

/// Keeps `messages` from `me`, in one transaction (`Store::keep_batch`).
fn keep(me: &str, ctx: &Context, messages: &[&Pending]) -> Vec<Result<Kept, HoldError>> {
    let batch: Vec<Keep<'_>> = messages
        .iter()
        .map(|p| Keep {
            to: &p.to,
            envelope: &p.envelope,
            held: p.online.is_none(),
            room: p.room.as_deref(),
        })
        .collect();
    ctx.store.keep_batch(me, &batch)
}

/// A chat message read from the client, within its budgets, not yet stored.
struct Pending {
    to: String,
    /// The recipient, if online (to wake its writer once the message is stored).
    online: Option<Recipient>,
    envelope: Vec<u8>,
    /// The room a room message was written to: one `Pending` a member, one answer for all.
    room: Option<String>,
    /// The last envelope of its message: the sender is answered once it is stored.
    last: bool,
}

/// What one client has sent and acknowledged since the last flush.
#[derive(Default)]
pub struct Mail {
    pending: Vec<Pending>,
    acks: Vec<i64>,
    /// Held messages acknowledged this session, per sender, not yet marked: the sender hears
    /// once, when none of theirs is left waiting, not once a batch.
    delivered: Vec<(String, u32)>,
}

impl Mail {
    /// Takes a chat message for `to` (`online`: its session, if any) to store at the next
    /// flush.
    pub fn chat(&mut self, to: String, online: Option<Recipient>, envelope: Vec<u8>) {
        self.pending.push(Pending { to, online, envelope, room: None, last: true });
    }

    /// Takes a room message, one envelope for each member it is for (`(member, session if
    /// online, envelope)`), to store at the next flush; the sender gets one `SENT` for all.
    pub fn room_chat(&mut self, room: &str, parts: Vec<(String, Option<Recipient>, Vec<u8>)>) {
        let count = parts.len();
        for (i, (to, online, envelope)) in parts.into_iter().enumerate() {
            let room = Some(room.to_owned());
            self.pending.push(Pending { to, online, envelope, room, last: i + 1 == count });
        }
    }

    /// Takes the client's acknowledgement of message `id` (deleted at the next flush).
    pub fn ack(&mut self, id: u64) {
        // An id beyond i64 names no row: the delete finds nothing.
        self.acks.push(i64::try_from(id).unwrap_or(-1));
    }

    /// Whether a flush is due even though the client may be sending more.
    pub fn full(&self) -> bool {
        self.pending.len() >= BATCH || self.acks.len() >= BATCH
    }

    /// Stores what `me` sent and deletes what it acknowledged, each in one transaction; `reply`
    /// sends `me` its answers (`SENT`, or why not), in the order the messages came.
    pub fn flush(&mut self, me: &str, ctx: &Context, reply: impl Fn(EncodedFrame)) {
        // Acknowledgements first: they make room others may be waiting for.
        if !self.acks.is_empty() {
            self.delete(me, ctx);
        }
        if !self.pending.is_empty() {
            self.store(me, ctx, &reply);
        }
    }

    fn store(&mut self, me: &str, ctx: &Context, reply: &impl Fn(EncodedFrame)) {
        let pending = std::mem::take(&mut self.pending);
        let mut results = keep(me, ctx, &pending.iter().collect::<Vec<_>>());
        wait_for_room(me, ctx, &pending, &mut results);
        answer(me, &pending, results, reply);
    }

    fn delete(&mut self, me: &str, ctx: &Context) {
        let acks = std::mem::take(&mut self.acks);
        match ctx.store.ack(me, &acks) {
            Ok(held) => {
                for HeldAck { sender, count, more } in held {
                    let total = match self.delivered.iter().position(|(s, _)| *s == sender) {
                        Some(i) if more => {
                            self.delivered[i].1 += count;
                            continue;
                        }
                        Some(i) => self.delivered.swap_remove(i).1 + count,
                        None if more => {
                            self.delivered.push((sender, count));
                            continue;
                        }
                        None => count,
                    };
                    let mark = ServerMsg::Delivered { to: me.to_owned(), count: total };
                    // The mark is a courtesy: a sender offline, or whose lane is full, misses it.
                    if let Some(sender) = ctx.registry.lookup(&sender) {
                        sender.outbox.offer(mark.encode_shared());
                    }
                }
            }
            // Not deleted: sent again at the next session, and shown once all the same.
            Err(e) => {
                warn!("cannot delete {} messages {me} acknowledged: {}", acks.len(), Chain(&e))
            }
        }
    }
}

/// The answer to a message the store did not take.
fn refusal(to: &str, e: &HoldError) -> ServerMsg {
    let text = match e {
        HoldError::Unregistered(_) => format!("no user named {to:?} is online or registered"),
        _ => e.to_string(),
    };
    ServerMsg::Error { code: refusal_code(e), text }
}

fn refusal_code(e: &HoldError) -> ErrorCode {
    match e {
        HoldError::Unregistered(_) => ErrorCode::UnknownUser,
        HoldError::Full { .. } | HoldError::SenderShare { .. } => ErrorCode::MailboxFull,
        HoldError::Failed => ErrorCode::NotStored,
    }
}

/// A message refused for a full mailbox whose reader is online waits a little for room, then is
/// kept or refused for good: `results` is updated in place.
fn wait_for_room(
    me: &str,
    ctx: &Context,
    pending: &[Pending],
    results: &mut [Result<Kept, HoldError>],
) {
    // A reader that is online and reading makes room as it acknowledges: the sender (this
    // thread, nobody else) waits a little for it before being refused
    // (`config.mailbox_patience`). But only a sender with no mail of its own awaiting its
    // acknowledgement (a lone flooder, say): this thread is also the one that reads this
    // client's acknowledgements, which may be what its recipient is waiting for, to make
    // room in *its* mailbox. In a flood among clients that all send and receive, every
    // reader slept waiting for another (docs/BENCHMARKS.md, "Found since"); such a sender
    // is refused at once instead. Asked only when a mailbox is full: no query otherwise.
    let mut patience = None;
    loop {
        let waiting: Vec<usize> = (0..pending.len())
            .filter(|&i| {
                pending[i].online.is_some()
                    && matches!(
                        results[i],
                        Err(HoldError::Full { .. } | HoldError::SenderShare { .. })
                    )
            })
            .collect();
        if waiting.is_empty() {
            break;
        }
        let until = *patience.get_or_insert_with(|| {
            // A store that cannot tell is taken as mail waiting: refuse, never stall.
            let mine = ctx.store.awaits_ack(me).unwrap_or(true);
            Instant::now() + if mine { Duration::ZERO } else { ctx.config.mailbox_patience }
        });
        if Instant::now() >= until {
            break;
        }
        thread::sleep(Duration::from_millis(5));
        let again = keep(me, ctx, &waiting.iter().map(|&i| &pending[i]).collect::<Vec<_>>());
        for (i, result) in waiting.into_iter().zip(again) {
            results[i] = result;
        }
    }
}

/// The answers, in order: `SENT` for each message kept (its recipient's writer woken), a
/// refusal for each not kept; a room message is answered once, after its last envelope.
fn answer(
    me: &str,
    pending: &[Pending],
    results: Vec<Result<Kept, HoldError>>,
    reply: &impl Fn(EncodedFrame),
) {
    // A room message is answered once, after its last envelope: `SENT`, then a refusal
    // for each member it could not be kept for (the rest were).
    let (mut room_queued, mut room_refusals) = (false, Vec::new());
    for (message, result) in pending.iter().zip(results) {
        let queued = message.online.is_none();
        match (&message.room, result) {
            (_, Ok(kept)) => {
                debug!("relay {me} -> {}: {} bytes", kept.to, message.envelope.len());
                if let Some(recipient) = &message.online {
                    recipient.outbox.wake_mail();
                }
                if message.room.is_none() {
                    reply(ServerMsg::Sent { to: kept.to, queued }.encode_shared());
                }
                room_queued |= queued;
            }
            (None, Err(e)) => reply(refusal(&message.to, &e).encode_shared()),
            (Some(room), Err(e)) => {
                let text = format!("{room}: not kept for {}: {e}", message.to);
                room_refusals.push(ServerMsg::Error { code: refusal_code(&e), text });
            }
        }
        if let (Some(room), true) = (&message.room, message.last) {
            reply(ServerMsg::Sent { to: room.clone(), queued: room_queued }.encode_shared());
            room_refusals.drain(..).for_each(|r| reply(r.encode_shared()));
            room_queued = false;
        }
    }
}
