//! `chatroom bench chat`: N clients join; S of them send M messages each to the others, at a
//! rate or as fast as they can; every client counts what it receives. Each message carries its
//! sender, its number and the time it was sent, so a receiver can tell delivered from lost,
//! corrupted or replayed, and measure latency.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Member, join_all, percentile, unique_prefix};
use crate::client::ClientError;
use crate::client::link::{LinkReader, LinkWriter};
use crate::client::peers::{Directory, Opener, Sealer};
use crate::cmd::{self, ClientMsg};
use crate::keys::Identity;
use crate::wire::{Encode, ServerMsg};

/// How `bench chat` builds its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChatMode {
    /// Pre-built envelopes: measures the server's relay alone.
    Relay,
    /// Real sealing and opening: encryption, signatures, verification, decryption.
    #[value(name = "e2e")]
    EndToEnd,
}

#[derive(Debug, Clone)]
pub struct ChatBench {
    pub server: String,
    pub clients: usize,
    /// Messages each sender sends.
    pub messages: usize,
    pub senders: usize,
    pub mode: ChatMode,
    /// Messages a second per sender (0: as fast as possible).
    pub rate: u32,
    pub key_bits: usize,
    /// How long a receiver waits for a message that has not come before counting it lost.
    pub wait: Duration,
    /// How long the clients stay joined, idle, after the run: time to read the server's
    /// memory with many clients connected.
    pub hold: Duration,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatReport {
    pub clients: usize,
    pub senders: usize,
    pub sent: u64,
    pub delivered: u64,
    /// Messages the server refused, each told to its sender (`ERRR`).
    pub refused: u64,
    /// Messages neither delivered nor refused: gone without a word.
    pub lost: u64,
    /// Delivered more than once (the server sends a message again until it is acknowledged).
    pub duplicated: u64,
    pub corrupted: u64,
    pub errors: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Most messages a sender puts in one write.
const BATCH: usize = 32;

/// The payload of a relay-mode message: who sent it, its number, and when (nanoseconds since
/// the bench started), padded to the size of a real envelope of a short text.
const RELAY_ENVELOPE: usize = 600;

/// What every thread of one run shares.
struct Plan {
    mode: ChatMode,
    clients: usize,
    messages: usize,
    rate: u32,
    /// Each client's name, and each name's index (the sender number messages carry).
    names: Vec<String>,
    index_of: HashMap<String, u32>,
    /// The last joiner's directory: it knows everyone, so senders seal for any client with it.
    everyone: Directory,
    /// Receivers and senders start together.
    barrier: Barrier,
    start: Instant,
    wait: Duration,
}

impl Plan {
    fn target(&self, s: usize, k: usize) -> usize {
        target(self.clients, s, k)
    }

    fn nanos(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// Of `n` clients, sender `s` sends its `k`-th message to client (s + 1 + k) mod n, skipping
/// itself: load spreads over every recipient, and each recipient can compute what it should get.
pub(super) fn target(n: usize, s: usize, k: usize) -> usize {
    let t = (s + 1 + k % (n - 1)) % n;
    if t == s { (t + 1) % n } else { t }
}

/// How many messages each of `n` clients should get when `senders` send `messages` each.
pub(super) fn expected_counts(n: usize, senders: usize, messages: usize) -> Vec<u64> {
    let mut expected = vec![0u64; n];
    for s in 0..senders {
        for k in 0..messages {
            expected[target(n, s, k)] += 1;
        }
    }
    expected
}

/// What one receiving client counted.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) delivered: u64,
    pub(super) duplicated: u64,
    pub(super) corrupted: u64,
    pub(super) errors: u64,
    pub(super) latencies_ms: Vec<f64>,
    /// Last sequence number seen per sender. A recipient gets only some of a sender's
    /// numbers (the rest go to others), so gaps are normal; a repeat or a step back is not.
    pub(super) last: HashMap<u32, u64>,
    /// When the last message arrived, after the start.
    pub(super) last_at: Duration,
}

impl Tally {
    /// Counts message `seq` of `sender`, sent at `nanos` after `start`, if it is new; one seen
    /// already (a sender's messages come in order) is counted as duplicated.
    pub(super) fn deliver(&mut self, sender: u32, seq: u64, nanos: u64, start: Instant) -> bool {
        if self.last.get(&sender).is_some_and(|last| seq <= *last) {
            self.duplicated += 1;
            return true;
        }
        self.last.insert(sender, seq);
        self.delivered += 1;
        let late = (start.elapsed().as_nanos() as u64).saturating_sub(nanos);
        self.latencies_ms.push(late as f64 / 1e6);
        self.last_at = start.elapsed();
        true
    }
}

/// Runs `bench chat`.
pub fn run(cfg: &ChatBench) -> Result<ChatReport, ClientError> {
    let clients = cfg.clients.max(2);
    let senders = cfg.senders.clamp(1, clients);
    let ids: Vec<Arc<Identity>> = (0..clients.min(8))
        .map(|_| Identity::generate(cfg.key_bits).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let members = join_all(&cfg.server, &unique_prefix("c"), clients, &ids)?;
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let plan = Arc::new(Plan {
        mode: cfg.mode,
        clients,
        messages: cfg.messages,
        rate: cfg.rate,
        index_of: names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect(),
        names,
        everyone: members.last().map(|m| m.directory.clone()).unwrap_or_default(),
        barrier: Barrier::new(clients + senders),
        start: Instant::now(),
        wait: cfg.wait,
    });
    let expected = expected_counts(clients, senders, cfg.messages);
    let mut receivers = Vec::new();
    let mut links = Vec::new();
    for (i, member) in members.into_iter().enumerate() {
        // What the receiver counts as answered (`SENT`, or a refusal), for the sender's window.
        let answered = Arc::new(AtomicU64::new(0));
        links.push((member.writer.clone(), answered.clone(), member.window));
        let id = ids[i % ids.len()].clone();
        receivers.push(spawn_receiver(i, member, id, (expected[i], answered), &plan)?);
    }
    let sending: Vec<JoinHandle<u64>> = (0..senders)
        .map(|s| spawn_sender(s, links[s].clone(), ids[s % ids.len()].clone(), &plan))
        .collect::<Result<_, _>>()?;
    let writers: Vec<LinkWriter> = links.into_iter().map(|(w, _, _)| w).collect();
    let send_errors: u64 = sending.into_iter().map(|h| h.join().unwrap_or(1)).sum();
    let tallies = receivers.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    let sent = (senders * cfg.messages) as u64;
    let report = ChatReport::new(clients, senders, sent, tallies, send_errors, plan.start);
    if !cfg.hold.is_zero() {
        eprintln!("{clients} clients joined and idle for {} s", cfg.hold.as_secs_f64());
        thread::sleep(cfg.hold);
    }
    for w in &writers {
        let _ = w.send(&cmd::Quit);
    }
    Ok(report)
}

fn spawn_receiver(
    i: usize,
    member: Member,
    id: Arc<Identity>,
    (want, answered): (u64, Arc<AtomicU64>),
    plan: &Arc<Plan>,
) -> std::io::Result<JoinHandle<Tally>> {
    let plan = plan.clone();
    thread::Builder::new().name(format!("bench-recv-{i}")).spawn(move || {
        let Member { name, mut reader, writer, directory, .. } = member;
        let opener = Opener::new(id, &name);
        plan.barrier.wait();
        let _ = reader.stream().set_read_timeout(Some(plan.wait));
        let tally = receive((&mut reader, &writer), opener, directory, (want, &answered), &plan);
        // Its sender waits for answers no more.
        answered.store(u64::MAX / 2, Ordering::Release);
        tally
    })
}

/// Reads until `want` messages have come (or the wait for the next one runs out), and
/// acknowledges each, as a client does once it has shown it: in one write for all that came
/// in one read.
fn receive(
    (reader, writer): (&mut LinkReader, &LinkWriter),
    mut opener: Opener,
    mut directory: Directory,
    (want, answered): (u64, &AtomicU64),
    plan: &Plan,
) -> Tally {
    let mut tally = Tally::default();
    let mut acks = Vec::new();
    while tally.delivered + tally.corrupted < want {
        if !acks.is_empty() && (!reader.buffered() || acks.len() >= 64 * 16) {
            let _ = writer.send_frame(&std::mem::take(&mut acks));
        }
        match reader.recv() {
            Ok(ServerMsg::Chat { id, from, envelope }) => {
                acks.extend_from_slice(&cmd::Ack { id }.encode());
                let parsed = match plan.mode {
                    ChatMode::Relay => parse_relay(&envelope),
                    ChatMode::EndToEnd => opener
                        .open(&directory, "", &from, &envelope)
                        .ok()
                        .and_then(|text| parse_text(&text)),
                };
                match parsed {
                    Some((sender, seq, nanos))
                        if plan.index_of.get(&from) == Some(&sender)
                            && tally.deliver(sender, seq, nanos, plan.start) => {}
                    _ => tally.corrupted += 1,
                }
            }
            Ok(ServerMsg::Error { .. }) => {
                tally.errors += 1;
                answered.fetch_add(1, Ordering::Release);
            }
            Ok(ServerMsg::Sent { .. }) => {
                answered.fetch_add(1, Ordering::Release);
            }
            Ok(msg) => {
                directory.apply(&msg);
            }
            Err(_) => break,
        }
    }
    tally
}

/// A sender's connection: its writer, the count of its messages answered, its window.
type Link = (LinkWriter, Arc<AtomicU64>, u16);

fn spawn_sender(
    s: usize,
    link: Link,
    id: Arc<Identity>,
    plan: &Arc<Plan>,
) -> std::io::Result<JoinHandle<u64>> {
    let plan = plan.clone();
    thread::Builder::new().name(format!("bench-send-{s}")).spawn(move || {
        let sealer = Sealer::new(id, &plan.names[s]);
        plan.barrier.wait();
        send_all(s, &link, sealer, &plan)
    })
}

/// Sends sender `s`'s messages, never more unanswered than the server's window (flow
/// control: the server answers late rather than refuse); returns how many could not be sent.
fn send_all(s: usize, (writer, answered, window): &Link, mut sealer: Sealer, plan: &Plan) -> u64 {
    let began = Instant::now();
    let mut errors = 0u64;
    let mut batch = Vec::with_capacity(64 * 1024);
    // Sealing takes milliseconds: a sealed message goes out at once rather than wait for the
    // rest of a batch.
    let batch_max = if plan.mode == ChatMode::EndToEnd { 1 } else { BATCH };
    let mut k = 0;
    while k < plan.messages {
        // Send what is due in one write, as a real client's socket buffer would: a write per
        // message would measure the bench's system calls, not the server.
        let upto = due(k, began, plan.rate, batch_max).min(plan.messages);
        let open =
            |sent: usize| sent as u64 <= answered.load(Ordering::Acquire) + u64::from(*window);
        while !open(upto) {
            thread::sleep(Duration::from_micros(50));
        }
        batch.clear();
        for k in k..upto {
            match message(s, k, &mut sealer, plan) {
                Some(msg) => batch.extend_from_slice(&msg.encode()),
                None => errors += 1,
            }
        }
        if writer.send_frame(&batch).is_err() {
            errors += (upto - k) as u64;
        }
        k = upto;
    }
    errors
}

/// Where the next batch from message `k` ends: at most `batch_max` messages; paced, only
/// those already due (sleeping until the first one is).
pub(super) fn due(k: usize, began: Instant, rate: u32, batch_max: usize) -> usize {
    if rate == 0 {
        return k + batch_max;
    }
    let first_due = began + Duration::from_secs_f64(k as f64 / f64::from(rate));
    thread::sleep(first_due.saturating_duration_since(Instant::now()));
    let due_now = (began.elapsed().as_secs_f64() * f64::from(rate)) as usize + 1;
    due_now.clamp(k + 1, k + batch_max)
}

/// Sender `s`'s `k`-th message, stamped with the time now. `None` if it cannot be sealed.
fn message(s: usize, k: usize, sealer: &mut Sealer, plan: &Plan) -> Option<ClientMsg> {
    let to = &plan.names[plan.target(s, k)];
    let nanos = plan.nanos();
    match plan.mode {
        ChatMode::Relay => Some(ClientMsg::Chat(cmd::Chat {
            to: to.clone(),
            envelope: relay_payload(s as u32, k as u64, nanos),
        })),
        ChatMode::EndToEnd => {
            let peer = plan.everyone.get(to)?;
            sealer.seal(peer, &format!("{s} {k} {nanos}")).ok().map(ClientMsg::from)
        }
    }
}

fn relay_payload(sender: u32, seq: u64, nanos: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(RELAY_ENVELOPE);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&nanos.to_be_bytes());
    // A checksum-like fill, so a corrupted byte is noticed.
    p.extend((20..RELAY_ENVELOPE).map(|i| (i as u64 ^ seq) as u8));
    p
}

fn parse_relay(p: &[u8]) -> Option<(u32, u64, u64)> {
    if p.len() != RELAY_ENVELOPE {
        return None;
    }
    let sender = u32::from_be_bytes(p[0..4].try_into().ok()?);
    let seq = u64::from_be_bytes(p[4..12].try_into().ok()?);
    let nanos = u64::from_be_bytes(p[12..20].try_into().ok()?);
    let intact = p[20..].iter().enumerate().all(|(i, b)| *b == ((i as u64 + 20) ^ seq) as u8);
    intact.then_some((sender, seq, nanos))
}

/// An end-to-end message's text: `SENDER SEQ NANOS`.
fn parse_text(text: &str) -> Option<(u32, u64, u64)> {
    let mut it = text.split(' ');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

impl ChatReport {
    /// The report of a run that started at `start`.
    pub(super) fn new(
        clients: usize,
        senders: usize,
        sent: u64,
        tallies: Vec<Tally>,
        send_errors: u64,
        start: Instant,
    ) -> ChatReport {
        let mut report = ChatReport { clients, senders, sent, ..Default::default() };
        let mut latencies = Vec::new();
        let mut last_at = Duration::ZERO;
        for tally in tallies {
            report.delivered += tally.delivered;
            report.duplicated += tally.duplicated;
            report.corrupted += tally.corrupted;
            report.refused += tally.errors;
            latencies.extend(tally.latencies_ms);
            last_at = last_at.max(tally.last_at);
        }
        // Up to the last delivery: a receiver waiting for a lost message is not throughput.
        report.seconds = if report.delivered > 0 { last_at } else { start.elapsed() }.as_secs_f64();
        report.errors = report.refused + send_errors;
        report.lost = report.sent.saturating_sub(report.delivered + report.refused);
        report.messages_per_second = report.delivered as f64 / report.seconds.max(1e-9);
        report.p50_ms = percentile(&mut latencies, 0.5);
        report.p99_ms = percentile(&mut latencies, 0.99);
        report
    }

    pub fn text(&self) -> String {
        let ChatReport { clients, senders, sent, delivered, refused, lost, corrupted, .. } = self;
        let (seconds, rate, p50, p99) =
            (self.seconds, self.messages_per_second, self.p50_ms, self.p99_ms);
        let duplicated = self.duplicated;
        format!(
            "chat: {clients} clients, {senders} senders: {sent} sent, {delivered} delivered, \
             {refused} refused, {lost} lost, {duplicated} duplicated, {corrupted} corrupted in \
             {seconds:.2} s\n\
             throughput: {rate:.0} messages/s delivered; \
             latency p50 {p50:.3} ms, p99 {p99:.3} ms"
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "bench": "chat",
            "clients": self.clients,
            "senders": self.senders,
            "sent": self.sent,
            "delivered": self.delivered,
            "refused": self.refused,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "corrupted": self.corrupted,
            "errors": self.errors,
            "seconds": self.seconds,
            "messages_per_second": self.messages_per_second,
            "latency_p50_ms": self.p50_ms,
            "latency_p99_ms": self.p99_ms,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_payloads_detect_corruption() {
        let mut p = relay_payload(3, 77, 123_456);
        assert_eq!(parse_relay(&p), Some((3, 77, 123_456)));
        p[300] ^= 1;
        assert_eq!(parse_relay(&p), None);
    }
}
