//! One client's chat on the server, in and out of the store. What it sends is kept in the
//! database before it is told `SENT`; what it acknowledges (`ACKN`) is deleted, and the
//! senders of messages that were held for it while it was away are told (`DLVD`). Each is done
//! a batch at a time, one transaction (and one sync to disk) a batch: the session flushes
//! when it has read everything the client sent so far, or a batch is full.
//!
//! A message for an online recipient whose mailbox is full is not refused: it waits here, in
//! its sender's session, and is tried again until the recipient makes room by acknowledging
//! (flow control, as TCP's and HTTP/2's windows do): the sender is answered `SENT` late, and a
//! client keeps at most [`WINDOW`] messages unanswered (`WLCM` says so), so what waits is
//! bounded. It is refused only if the recipient takes nothing for `mailbox_patience`, or is
//! offline (its mailbox full is then a bound against abuse, docs/SECURITY.md).
//!
//! The recipient's writer sends what is kept (`outbox::Pump`); this file only stores, wakes it
//! and deletes.

use log::{debug, warn};
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::registry::Recipient;
use crate::report::Chain;
use crate::store::{HeldAck, HoldError, Keep, Kept};
use crate::wire::{EncodedFrame, ErrorCode, ServerMsg};

/// Messages or acknowledgements kept in hand before they are written in one transaction.
pub const BATCH: usize = 64;

/// Messages (envelopes: a room message counts one a member) a client may have sent and not
/// yet had answered (`SENT` or an error): the window `WLCM` announces. More is refused as a
/// flood; up to it, a message waits for its recipient rather than be refused for speed.
pub const WINDOW: usize = crate::wire::CHAT_WINDOW as usize;

/// How often a session tries its waiting messages again while its client sends nothing.
pub const RETRY: Duration = Duration::from_millis(2);

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
    /// When it was first tried and found its recipient's mailbox full.
    waiting_since: Option<Instant>,
}

/// What one client has sent and acknowledged since the last flush.
#[derive(Default)]
pub struct Mail {
    pending: Vec<Pending>,
    /// Messages for online recipients whose mailbox was full, oldest first: tried again
    /// before anything newer.
    waiting: Vec<Pending>,
    acks: Vec<i64>,
    /// Held messages acknowledged this session, per sender, not yet marked: the sender hears
    /// once, when none of theirs is left waiting, not once a batch.
    delivered: Vec<(String, u32)>,
}

impl Mail {
    /// Takes a chat message for `to` (`online`: its session, if any) to store at the next
    /// flush.
    pub fn chat(&mut self, to: String, online: Option<Recipient>, envelope: Vec<u8>) {
        let waiting_since = None;
        self.pending.push(Pending { to, online, envelope, room: None, last: true, waiting_since });
    }

    /// Takes a room message, one envelope for each member it is for (`(member, session if
    /// online, envelope)`), to store at the next flush; the sender gets one `SENT` for all.
    pub fn room_chat(&mut self, room: &str, parts: Vec<(String, Option<Recipient>, Vec<u8>)>) {
        let count = parts.len();
        for (i, (to, online, envelope)) in parts.into_iter().enumerate() {
            let room = Some(room.to_owned());
            let last = i + 1 == count;
            self.pending.push(Pending { to, online, envelope, room, last, waiting_since: None });
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

    /// Whether `more` envelopes would take the client past its window of unanswered ones.
    pub fn over_window(&self, more: usize) -> bool {
        self.pending.len() + self.waiting.len() + more > WINDOW
    }

    /// Whether messages wait for room in a mailbox (to be tried again, `RETRY`).
    pub fn waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Stores what `me` sent and deletes what it acknowledged, each in one transaction; `reply`
    /// sends `me` its answers (`SENT`, or why not), in the order the messages came.
    pub fn flush(&mut self, me: &str, ctx: &Context, reply: impl Fn(EncodedFrame)) {
        // Acknowledgements first: they make room others may be waiting for.
        if !self.acks.is_empty() {
            self.delete(me, ctx);
        }
        if !self.pending.is_empty() || !self.waiting.is_empty() {
            self.store(me, ctx, &reply);
        }
    }

    /// Keeps what waited and what is new, in that order; a message for an online recipient
    /// whose mailbox is full waits again (unanswered), until `mailbox_patience` has passed.
    fn store(&mut self, me: &str, ctx: &Context, reply: &impl Fn(EncodedFrame)) {
        let mut tried = std::mem::take(&mut self.waiting);
        tried.append(&mut self.pending);
        let results = keep(me, ctx, &tried.iter().collect::<Vec<_>>());
        let now = Instant::now();
        let (mut answered, mut outcomes) = (Vec::new(), Vec::new());
        for (mut message, result) in tried.into_iter().zip(results) {
            let full =
                matches!(result, Err(HoldError::Full { .. } | HoldError::SenderShare { .. }));
            let since = *message.waiting_since.get_or_insert(now);
            // Room messages are answered once for all their members: they do not wait.
            let wait = full && message.online.is_some() && message.room.is_none();
            if wait && now.duration_since(since) < ctx.config.mailbox_patience {
                self.waiting.push(message);
                continue;
            }
            answered.push(message);
            outcomes.push(result);
        }
        answer(me, &answered, outcomes, reply);
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
        HoldError::Full { .. }
        | HoldError::SenderShare { .. }
        | HoldError::ThrowawayShare { .. } => ErrorCode::MailboxFull,
        HoldError::Failed => ErrorCode::NotStored,
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
