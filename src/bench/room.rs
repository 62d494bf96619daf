//! `chatroom bench chat --room N`: one room of N members. The first seals M messages for the
//! N - 1 others, as the terminal client does (one envelope each, each signed), then sends them
//! all as fast as the server takes them; the others count and acknowledge what arrives.
//! Two figures, kept apart: what sealing costs the sender per member (its own CPU), and how
//! many messages a second the server delivers to the room's members.

use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{ChatBench, Member, join_all, percentile, unique_prefix};
use crate::client::ClientError;
use crate::client::peers::{Opener, Peer, Sealer};
use crate::cmd;
use crate::keys::Identity;
use crate::roster::{Action, Change, GENESIS, key_hash};
use crate::wire::{Encode, ServerMsg};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomReport {
    pub members: usize,
    pub messages: usize,
    /// The sender's sealing time for one message, divided by the members it was sealed for:
    /// median and 99th percentile, in milliseconds.
    pub seal_ms_per_member_p50: f64,
    pub seal_ms_per_member_p99: f64,
    /// Envelopes that should arrive: `messages` x (`members` - 1).
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Delivered envelopes whose text did not open (checked for every member's first).
    pub corrupted: u64,
    pub errors: u64,
    pub seconds: f64,
    pub delivered_per_second: f64,
}

impl RoomReport {
    pub fn text(&self) -> String {
        format!(
            "room of {} members, {} messages: sealing {:.3} ms per member (p50; p99 {:.3} ms)\n\
             delivered {}/{} envelopes in {:.2} s: {:.0} a second; lost {}, corrupted {}, errors {}",
            self.members,
            self.messages,
            self.seal_ms_per_member_p50,
            self.seal_ms_per_member_p99,
            self.delivered,
            self.expected,
            self.seconds,
            self.delivered_per_second,
            self.lost,
            self.corrupted,
            self.errors
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "members": self.members,
            "messages": self.messages,
            "seal_ms_per_member_p50": self.seal_ms_per_member_p50,
            "seal_ms_per_member_p99": self.seal_ms_per_member_p99,
            "expected": self.expected,
            "delivered": self.delivered,
            "lost": self.lost,
            "corrupted": self.corrupted,
            "errors": self.errors,
            "seconds": self.seconds,
            "delivered_per_second": self.delivered_per_second,
        })
        .to_string()
    }
}

/// What one member counted.
#[derive(Default)]
struct Count {
    delivered: u64,
    corrupted: u64,
    errors: u64,
    last_at: Option<Instant>,
}

/// Runs `bench chat --room members`.
pub fn run(cfg: &ChatBench, members: usize) -> Result<RoomReport, ClientError> {
    let members = members.clamp(2, crate::wire::MAX_ROOM_MEMBERS);
    let ids: Vec<Arc<Identity>> = (0..members.min(4))
        .map(|_| Identity::generate(cfg.key_bits).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let prefix = unique_prefix("r");
    let room = format!("#{prefix}");
    let mut joined = join_all(&cfg.server, &prefix, members, &ids)?;
    seat_all(&room, &mut joined, &ids)?;
    // The room as the sender sees it when it writes: every member with their key.
    let sender = &mut joined[0];
    sender.writer.send(&cmd::RoomQuery { room: room.clone() })?;
    let peers: Vec<Peer> =
        room_info(sender)?.into_iter().filter(|p| p.name != sender.name).map(Peer::from).collect();
    let others: Vec<&Peer> = peers.iter().collect();

    let mut sealer = Sealer::new(ids[0].clone(), &sender.name);
    let (sealed, mut per_member) = seal_timed(&mut sealer, &room, &others, cfg.messages)?;

    let barrier = Arc::new(Barrier::new(members + 1));
    let writers: Vec<_> = joined.iter().map(|m| m.writer.clone()).collect();
    let counting = start_counting(joined, &ids, cfg, &barrier)?;
    barrier.wait();
    let start = Instant::now();
    let mut errors = 0;
    for frame in &sealed {
        if writers[0].send_frame(frame).is_err() {
            errors += 1;
        }
    }
    let counts: Vec<Count> = counting.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    for w in &writers {
        let _ = w.send(&cmd::Quit);
    }
    let expected = (cfg.messages * (members - 1)) as u64;
    let delivered: u64 = counts.iter().map(|c| c.delivered).sum();
    let end = counts.iter().filter_map(|c| c.last_at).max().unwrap_or(start);
    let seconds = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok(RoomReport {
        members,
        messages: cfg.messages,
        seal_ms_per_member_p50: percentile(&mut per_member.clone(), 0.5),
        seal_ms_per_member_p99: percentile(&mut per_member, 0.99),
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        corrupted: counts.iter().map(|c| c.corrupted).sum(),
        errors: errors + counts.iter().map(|c| c.errors).sum::<u64>(),
        seconds,
        delivered_per_second: delivered as f64 / seconds,
    })
}

/// Every message sealed before the run, each timed: the sender's own cost, per member (ms).
fn seal_timed(
    sealer: &mut Sealer,
    room: &str,
    others: &[&Peer],
    messages: usize,
) -> Result<(Vec<Vec<u8>>, Vec<f64>), ClientError> {
    let (mut sealed, mut per_member) = (Vec::with_capacity(messages), Vec::with_capacity(messages));
    for k in 0..messages {
        let started = Instant::now();
        sealed.push(sealer.seal_room(room, others, &format!("room bench {k}"))?.encode());
        per_member.push(started.elapsed().as_secs_f64() * 1e3 / others.len() as f64);
    }
    Ok((sealed, per_member))
}

/// A `bench-room-N` thread per member, counting what it receives once `barrier` opens.
fn start_counting(
    joined: Vec<Member>,
    ids: &[Arc<Identity>],
    cfg: &ChatBench,
    barrier: &Arc<Barrier>,
) -> Result<Vec<JoinHandle<Count>>, ClientError> {
    let mut counting = Vec::new();
    for (i, member) in joined.into_iter().enumerate() {
        let (id, barrier) = (ids[i % ids.len()].clone(), barrier.clone());
        let (want, wait) = (cfg.messages as u64, cfg.wait);
        counting.push(
            thread::Builder::new()
                .name(format!("bench-room-{i}"))
                .spawn(move || count(member, id, want, wait, &barrier))?,
        );
    }
    Ok(counting)
}

/// Makes `room` with the first member as its first member, who invites each other, each of
/// whom accepts: the changes the terminal client signs (`roster.rs`), sent one at a time.
pub(super) fn seat_all(
    room: &str,
    joined: &mut [Member],
    ids: &[Arc<Identity>],
) -> Result<(), ClientError> {
    let id = |i: usize| &ids[i % ids.len()];
    let key = |i: usize| key_hash(id(i).public_der());
    let first = joined[0].name.clone();
    let create = Change::signed(id(0), &first, room, GENESIS, Action::Create, &first, key(0))?;
    let mut head = submit(&mut joined[0], &create)?;
    for i in 1..joined.len() {
        let name = joined[i].name.clone();
        let invite = Change::signed(id(0), &first, room, head, Action::Invite, &name, key(i))?;
        head = submit(&mut joined[0], &invite)?;
        let accept = Change::signed(id(i), &name, room, head, Action::Join, &name, key(i))?;
        head = submit(&mut joined[i], &accept)?;
    }
    Ok(())
}

/// Sends `change` and reads until the server passes it back (taken); its hash.
fn submit(member: &mut Member, change: &Change) -> Result<crate::roster::Hash, ClientError> {
    let bytes = change.encode();
    member.writer.send(&cmd::RoomChange { change: bytes.clone() })?;
    loop {
        match member.reader.recv()? {
            ServerMsg::RoomChange { change: back } if back == bytes => return Ok(change.hash()),
            ServerMsg::Error { code, text } => return Err(ClientError::Refused { code, text }),
            other => {
                member.directory.apply(&other);
            }
        }
    }
}

/// The members of the next `RINF`, reading past what else comes.
fn room_info(member: &mut Member) -> Result<Vec<crate::wire::User>, ClientError> {
    loop {
        match member.reader.recv()? {
            ServerMsg::RoomInfo { members, .. } => return Ok(members),
            ServerMsg::Error { code, text } => return Err(ClientError::Refused { code, text }),
            other => {
                member.directory.apply(&other);
            }
        }
    }
}

/// Reads until `want` room messages have come (or none for `wait`), acknowledging each; the
/// first one is opened, to check what was sealed is what arrives. The sender reads its answers
/// instead (`sender`: one `SENT` or `ERRR` a message), counting the errors.
fn count(mut member: Member, id: Arc<Identity>, want: u64, wait: Duration, go: &Barrier) -> Count {
    let mut counted = Count::default();
    let mut opener = Opener::new(id, &member.name);
    go.wait();
    let _ = member.reader.stream().set_read_timeout(Some(wait));
    let mut answered = 0;
    while counted.delivered + counted.corrupted + answered < want {
        match member.reader.recv() {
            Ok(ServerMsg::Sent { .. }) => answered += 1,
            Ok(ServerMsg::RoomChat { id, room, from, envelope }) => {
                let _ = member.writer.send(&cmd::Ack { id });
                if counted.delivered == 0
                    && opener.open(&member.directory, &room, &from, &envelope).is_err()
                {
                    counted.corrupted += 1;
                    continue;
                }
                counted.delivered += 1;
                counted.last_at = Some(Instant::now());
            }
            Ok(ServerMsg::Error { .. }) => {
                counted.errors += 1;
                answered += 1;
            }
            Ok(other) => {
                member.directory.apply(&other);
            }
            Err(_) => break,
        }
    }
    counted
}
