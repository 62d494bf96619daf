//! `chatroom bench`: drives a running server with real clients over real sockets and reports
//! throughput, latency and losses. Speed is measured here, never asserted in tests; the tests
//! only check that the counts a bench reports are right.

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::ClientError;
use crate::client::link::{self, LinkReader, LinkWriter};
use crate::client::peers::{Directory, Opener, Sealer};
use crate::keys::Identity;
use crate::wire::{ClientMsg, EndReason, PlayMode, ServerMsg};

/// How `bench chat` builds its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatMode {
    /// Pre-built envelopes: measures the server's relay alone.
    Relay,
    /// Real sealing and opening: encryption, signatures, verification, decryption.
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
    pub lost: u64,
    pub corrupted: u64,
    pub errors: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone)]
pub struct StreamBench {
    pub server: String,
    pub clients: usize,
    pub video: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamReport {
    pub clients: usize,
    pub frames: u64,
    pub missing: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub frames_per_second: f64,
    pub per_client_fps: Vec<f64>,
    pub megabytes_per_second: f64,
    pub first_frame_p50_ms: f64,
    pub first_frame_p99_ms: f64,
    pub errors: u64,
}

/// The value at quantile `q` (0 to 1) of `samples`, which it sorts.
pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[rank]
}

/// One joined bench client.
struct Member {
    name: String,
    reader: LinkReader,
    writer: LinkWriter,
    directory: Directory,
}

fn join_all(
    server: &str,
    prefix: &str,
    count: usize,
    ids: &[Arc<Identity>],
) -> Result<Vec<Member>, ClientError> {
    let mut members = Vec::with_capacity(count);
    for i in 0..count {
        let (mut reader, writer) = link::connect(server, false)?;
        let name = format!("{prefix}{i}");
        let joined = link::join(&mut reader, &writer, &name, &ids[i % ids.len()])?;
        members.push(Member {
            name: joined.name,
            reader,
            writer,
            directory: Directory::new(joined.directory),
        });
    }
    Ok(members)
}

fn unique_prefix(kind: &str) -> String {
    format!("{kind}{}x", std::process::id() % 100_000)
}

/// The payload of a relay-mode message: who sent it, its number, and when (nanoseconds since
/// the bench started), padded to the size of a real envelope of a short text.
const RELAY_ENVELOPE: usize = 600;

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

/// What one receiving client counted.
#[derive(Default)]
struct Tally {
    delivered: u64,
    corrupted: u64,
    errors: u64,
    latencies_ms: Vec<f64>,
    /// Last sequence number seen per sender. A recipient gets only some of a sender's
    /// numbers (the rest go to others), so gaps are normal; a repeat or a step back is not.
    last: HashMap<u32, u64>,
}

/// Most messages a bench sender puts in one write.
const BATCH: usize = 32;

/// Runs `bench chat`.
pub fn chat(cfg: &ChatBench) -> Result<ChatReport, ClientError> {
    let clients = cfg.clients.max(2);
    let senders = cfg.senders.clamp(1, clients);
    let ids: Vec<Arc<Identity>> = (0..clients.min(8))
        .map(|_| Identity::generate(cfg.key_bits).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let prefix = unique_prefix("c");
    let members = join_all(&cfg.server, &prefix, clients, &ids)?;
    // Sender s sends its k-th message to client (s + 1 + k) mod n, skipping itself: load spreads
    // over every recipient, and each recipient can compute what it should get.
    let target = move |s: usize, k: usize| {
        let t = (s + 1 + k % (clients - 1)) % clients;
        if t == s { (t + 1) % clients } else { t }
    };
    let mut expected = vec![0u64; clients];
    for s in 0..senders {
        for k in 0..cfg.messages {
            expected[target(s, k)] += 1;
        }
    }
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let index_of: Arc<HashMap<String, u32>> =
        Arc::new(names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect());
    let start = Instant::now();
    // Receivers and senders start together.
    let barrier = Arc::new(Barrier::new(clients + senders));
    let mut receivers = Vec::new();
    let mut writers = Vec::new();
    for (i, m) in members.into_iter().enumerate() {
        let Member { name, mut reader, writer, directory } = m;
        writers.push((writer, directory.clone()));
        let (barrier, index_of, mode, id, wait) =
            (barrier.clone(), index_of.clone(), cfg.mode, ids[i % ids.len()].clone(), cfg.wait);
        let want = expected[i];
        receivers.push(thread::Builder::new().name(format!("bench-recv-{i}")).spawn(
            move || {
                let mut tally = Tally::default();
                let mut opener = Opener::new(id, &name);
                let mut directory = directory;
                barrier.wait();
                let _ = reader.stream().set_read_timeout(Some(wait));
                while tally.delivered + tally.corrupted < want {
                    match reader.recv() {
                        Ok(ServerMsg::Chat { from, envelope }) => {
                            let parsed = match mode {
                                ChatMode::Relay => parse_relay(&envelope),
                                ChatMode::EndToEnd => {
                                    opener.open(&directory, &from, &envelope).ok().and_then(|t| {
                                        let mut it = t.split(' ');
                                        Some((
                                            it.next()?.parse().ok()?,
                                            it.next()?.parse().ok()?,
                                            it.next()?.parse().ok()?,
                                        ))
                                    })
                                }
                            };
                            match parsed {
                                Some((sender, seq, nanos))
                                    if index_of.get(&from) == Some(&sender)
                                        && tally
                                            .last
                                            .get(&sender)
                                            .is_none_or(|last| seq > *last) =>
                                {
                                    tally.last.insert(sender, seq);
                                    tally.delivered += 1;
                                    let now = start.elapsed().as_nanos() as u64;
                                    tally.latencies_ms.push(now.saturating_sub(nanos) as f64 / 1e6);
                                }
                                _ => tally.corrupted += 1,
                            }
                        }
                        Ok(ServerMsg::Joined(u)) => directory.add(u),
                        Ok(ServerMsg::Directory(users)) => directory = Directory::new(users),
                        Ok(ServerMsg::Error { .. }) => tally.errors += 1,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                tally
            },
        )?);
    }
    // Senders seal for any client: the last joiner's directory has everyone.
    let full = writers.last().map(|(_, d)| d.clone()).unwrap_or_default();
    let full = Arc::new(full);
    let mut sender_threads = Vec::new();
    for (s, (writer, _)) in writers.iter().take(senders).enumerate() {
        let (writer, names, full, id, barrier) = (
            writer.clone(),
            names.clone(),
            full.clone(),
            ids[s % ids.len()].clone(),
            barrier.clone(),
        );
        let (messages, rate, mode) = (cfg.messages, cfg.rate, cfg.mode);
        sender_threads.push(thread::Builder::new().name(format!("bench-send-{s}")).spawn(
            move || {
                let mut sealer = Sealer::new(id, &names[s]);
                barrier.wait();
                let began = Instant::now();
                let mut errors = 0u64;
                let mut batch = Vec::with_capacity(64 * 1024);
                // Sealing takes milliseconds: a sealed message goes out at once rather than wait
                // for the rest of a batch.
                let batch_max = if mode == ChatMode::EndToEnd { 1 } else { BATCH };
                let mut k = 0;
                while k < messages {
                    // Send what is due in one write, as a real client's socket buffer would:
                    // a write per message would measure the bench's system calls, not the server.
                    let upto = if rate > 0 {
                        let due = began + Duration::from_secs_f64(k as f64 / f64::from(rate));
                        thread::sleep(due.saturating_duration_since(Instant::now()));
                        let due_now =
                            (began.elapsed().as_secs_f64() * f64::from(rate)) as usize + 1;
                        due_now.clamp(k + 1, k + batch_max)
                    } else {
                        k + batch_max
                    }
                    .min(messages);
                    batch.clear();
                    for k in k..upto {
                        let to = &names[target(s, k)];
                        let nanos = start.elapsed().as_nanos() as u64;
                        let msg = match mode {
                            ChatMode::Relay => ClientMsg::Chat {
                                to: to.clone(),
                                envelope: relay_payload(s as u32, k as u64, nanos),
                            },
                            ChatMode::EndToEnd => match full
                                .get(to)
                                .map(|p| sealer.seal(p, &format!("{s} {k} {nanos}")))
                            {
                                Some(Ok(msg)) => msg,
                                _ => {
                                    errors += 1;
                                    continue;
                                }
                            },
                        };
                        batch.extend_from_slice(&msg.encode());
                    }
                    if writer.send_frame(&batch).is_err() {
                        errors += (upto - k) as u64;
                    }
                    k = upto;
                }
                errors
            },
        )?);
    }
    let send_errors: u64 = sender_threads.into_iter().map(|h| h.join().unwrap_or(1)).sum();
    let mut report = ChatReport {
        clients,
        senders,
        sent: (senders * cfg.messages) as u64,
        ..Default::default()
    };
    let mut latencies = Vec::new();
    for h in receivers {
        let tally = h.join().unwrap_or_default();
        report.delivered += tally.delivered;
        report.corrupted += tally.corrupted;
        report.errors += tally.errors;
        latencies.extend(tally.latencies_ms);
    }
    report.seconds = start.elapsed().as_secs_f64();
    report.errors += send_errors;
    report.lost = report.sent.saturating_sub(report.delivered);
    report.messages_per_second = report.delivered as f64 / report.seconds.max(1e-9);
    report.p50_ms = percentile(&mut latencies, 0.5);
    report.p99_ms = percentile(&mut latencies, 0.99);
    if !cfg.hold.is_zero() {
        eprintln!("{clients} clients joined and idle for {} s", cfg.hold.as_secs_f64());
        thread::sleep(cfg.hold);
    }
    for (w, _) in &writers {
        let _ = w.send(&ClientMsg::Quit);
    }
    Ok(report)
}

/// Runs `bench stream`: every client plays the same video (split mode) at once.
pub fn stream(cfg: &StreamBench) -> Result<StreamReport, ClientError> {
    let clients = cfg.clients.max(1);
    let ids = vec![Arc::new(Identity::generate(crate::keys::MIN_KEY_BITS)?)];
    let members = join_all(&cfg.server, &unique_prefix("s"), clients, &ids)?;
    let barrier = Arc::new(Barrier::new(clients));
    let start = Arc::new(Mutex::new(None::<Instant>));
    let handles: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let (barrier, start, video) = (barrier.clone(), start.clone(), cfg.video.clone());
            thread::Builder::new().name(format!("bench-stream-{i}")).spawn(move || {
                let Member { mut reader, writer, .. } = m;
                barrier.wait();
                let began = Instant::now();
                start.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(began);
                let _ = reader.stream().set_read_timeout(Some(Duration::from_secs(30)));
                let _ = writer.send(&ClientMsg::Play { video, mode: PlayMode::Split });
                let (mut frames, mut bytes, mut expected, mut missing, mut errors) =
                    (0u64, 0u64, 0u64, 0u64, 0u64);
                let mut first = None;
                let mut next_index = 0u32;
                loop {
                    match reader.recv() {
                        Ok(ServerMsg::StreamStart { frames: total, .. }) => {
                            expected = u64::from(total)
                        }
                        Ok(ServerMsg::Frame { index, jpeg, .. }) => {
                            first.get_or_insert_with(|| began.elapsed());
                            if index != next_index {
                                missing += u64::from(index.saturating_sub(next_index));
                            }
                            next_index = index + 1;
                            frames += 1;
                            bytes += jpeg.len() as u64;
                        }
                        Ok(ServerMsg::StreamEnd { reason, .. }) => {
                            if reason != EndReason::Complete {
                                errors += 1;
                            }
                            break;
                        }
                        Ok(ServerMsg::Error { .. }) => {
                            errors += 1;
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                let elapsed = began.elapsed();
                let _ = writer.send(&ClientMsg::Quit);
                missing += expected.saturating_sub(frames + missing);
                (frames, bytes, missing, errors, first, elapsed)
            })
        })
        .collect::<Result<_, _>>()?;
    let mut report = StreamReport { clients, ..Default::default() };
    let mut firsts = Vec::new();
    let mut longest = Duration::ZERO;
    for h in handles {
        let (frames, bytes, missing, errors, first, elapsed) = h.join().unwrap_or_default();
        report.frames += frames;
        report.bytes += bytes;
        report.missing += missing;
        report.errors += errors;
        report.per_client_fps.push(frames as f64 / elapsed.as_secs_f64().max(1e-9));
        if let Some(f) = first {
            firsts.push(f.as_secs_f64() * 1e3);
        }
        longest = longest.max(elapsed);
    }
    report.seconds = longest.as_secs_f64();
    report.frames_per_second = report.frames as f64 / report.seconds.max(1e-9);
    report.megabytes_per_second = report.bytes as f64 / 1e6 / report.seconds.max(1e-9);
    report.first_frame_p50_ms = percentile(&mut firsts, 0.5);
    report.first_frame_p99_ms = percentile(&mut firsts, 0.99);
    Ok(report)
}

impl ChatReport {
    pub fn text(&self) -> String {
        let ChatReport { clients, senders, sent, delivered, lost, corrupted, errors, .. } = self;
        let (seconds, rate, p50, p99) =
            (self.seconds, self.messages_per_second, self.p50_ms, self.p99_ms);
        format!(
            "chat: {clients} clients, {senders} senders: {sent} sent, {delivered} delivered, {lost} lost, \
             {corrupted} corrupted, {errors} errors in {seconds:.2} s\n\
             throughput: {rate:.0} messages/s delivered; latency p50 {p50:.3} ms, p99 {p99:.3} ms"
        )
    }

    pub fn json(&self) -> String {
        let ChatReport { clients, senders, sent, delivered, lost, corrupted, errors, .. } = self;
        let (seconds, rate, p50, p99) =
            (self.seconds, self.messages_per_second, self.p50_ms, self.p99_ms);
        format!(
            "{{\"bench\":\"chat\",\"clients\":{clients},\"senders\":{senders},\"sent\":{sent},\
             \"delivered\":{delivered},\"lost\":{lost},\"corrupted\":{corrupted},\"errors\":{errors},\
             \"seconds\":{seconds:.4},\"messages_per_second\":{rate:.1},\"latency_p50_ms\":{p50:.4},\
             \"latency_p99_ms\":{p99:.4}}}"
        )
    }
}

impl StreamReport {
    pub fn text(&self) -> String {
        let StreamReport { clients, frames, missing, errors, .. } = self;
        let (seconds, fps, mbps) =
            (self.seconds, self.frames_per_second, self.megabytes_per_second);
        let (p50, p99) = (self.first_frame_p50_ms, self.first_frame_p99_ms);
        let per: Vec<String> = self.per_client_fps.iter().map(|f| format!("{f:.0}")).collect();
        format!(
            "stream: {clients} clients: {frames} frames, {missing} missing, {errors} errors in {seconds:.2} s\n\
             throughput: {fps:.0} frames/s in all ({mbps:.1} MB/s); per client: {} frames/s\n\
             time to first frame: p50 {p50:.1} ms, p99 {p99:.1} ms",
            per.join(", ")
        )
    }

    pub fn json(&self) -> String {
        let StreamReport { clients, frames, missing, errors, bytes, .. } = self;
        let (seconds, fps, mbps) =
            (self.seconds, self.frames_per_second, self.megabytes_per_second);
        let (p50, p99) = (self.first_frame_p50_ms, self.first_frame_p99_ms);
        let per: Vec<String> = self.per_client_fps.iter().map(|f| format!("{f:.1}")).collect();
        format!(
            "{{\"bench\":\"stream\",\"clients\":{clients},\"frames\":{frames},\"missing\":{missing},\
             \"errors\":{errors},\"bytes\":{bytes},\"seconds\":{seconds:.4},\"frames_per_second\":{fps:.1},\
             \"per_client_fps\":[{}],\"megabytes_per_second\":{mbps:.2},\"first_frame_p50_ms\":{p50:.2},\
             \"first_frame_p99_ms\":{p99:.2}}}",
            per.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), 51.0);
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn relay_payloads_detect_corruption() {
        let mut p = relay_payload(3, 77, 123_456);
        assert_eq!(parse_relay(&p), Some((3, 77, 123_456)));
        p[300] ^= 1;
        assert_eq!(parse_relay(&p), None);
    }
}
