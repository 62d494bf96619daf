//! `chatroom bench stream`: N clients ask for the same video (split mode) at the same moment
//! and read every frame; the report gives frames per second in all and per client, the time to
//! the first frame, and any frame missing or any stream that did not complete.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::{Member, join_all, percentile, unique_prefix};
use crate::client::ClientError;
use crate::client::link::{LinkReader, LinkWriter};
use crate::cmd;
use crate::keys::{Identity, MIN_KEY_BITS};
use crate::wire::{EndReason, PlayMode, ServerMsg};

#[derive(Debug, Clone)]
pub struct StreamBench {
    pub server: String,
    pub clients: usize,
    pub video: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamReport {
    pub clients: usize,
    /// Frames the server announced (`STRM`), summed over the clients.
    pub announced: u64,
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

/// How long a client waits for the next frame before counting its stream as failed.
const FRAME_WAIT: Duration = Duration::from_secs(30);

/// What one client saw of its stream.
#[derive(Default)]
pub(super) struct Watched {
    pub(super) announced: u64,
    pub(super) frames: u64,
    pub(super) bytes: u64,
    pub(super) missing: u64,
    pub(super) errors: u64,
    /// From the request to the first frame, and to the last.
    pub(super) first: Option<Duration>,
    pub(super) elapsed: Duration,
}

/// Runs `bench stream`.
pub fn run(cfg: &StreamBench) -> Result<StreamReport, ClientError> {
    let clients = cfg.clients.max(1);
    let ids = vec![Arc::new(Identity::generate(MIN_KEY_BITS)?)];
    let members = join_all(&cfg.server, &unique_prefix("s"), clients, &ids)?;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(i, member)| {
            let (barrier, video) = (barrier.clone(), cfg.video.clone());
            thread::Builder::new().name(format!("bench-stream-{i}")).spawn(move || {
                let Member { mut reader, writer, .. } = member;
                barrier.wait();
                watch(&mut reader, &writer, video)
            })
        })
        .collect::<Result<_, _>>()?;
    let watched = handles.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    Ok(StreamReport::from_watched(clients, watched))
}

/// Plays `video` and reads the stream to its end.
fn watch(reader: &mut LinkReader, writer: &LinkWriter, video: String) -> Watched {
    let began = Instant::now();
    let _ = reader.stream().set_read_timeout(Some(FRAME_WAIT));
    let _ = writer.send(&cmd::Play { video, mode: PlayMode::Split });
    let mut w = Watched::default();
    let mut next_index = 0u32;
    loop {
        match reader.recv() {
            Ok(ServerMsg::StreamStart { frames: total, .. }) => w.announced = u64::from(total),
            Ok(ServerMsg::Frame { index, jpeg, .. }) => {
                w.first.get_or_insert_with(|| began.elapsed());
                w.missing += u64::from(index.saturating_sub(next_index));
                next_index = index + 1;
                w.frames += 1;
                w.bytes += jpeg.len() as u64;
            }
            Ok(ServerMsg::StreamEnd { reason, .. }) => {
                w.errors += u64::from(reason != EndReason::Complete);
                break;
            }
            Ok(ServerMsg::Error { .. }) | Err(_) => {
                w.errors += 1;
                break;
            }
            Ok(_) => {}
        }
    }
    w.elapsed = began.elapsed();
    let _ = writer.send(&cmd::Quit);
    w.missing += w.announced.saturating_sub(w.frames + w.missing);
    w
}

impl StreamReport {
    pub(super) fn from_watched(clients: usize, watched: Vec<Watched>) -> StreamReport {
        let mut report = StreamReport { clients, ..Default::default() };
        let mut firsts = Vec::new();
        let mut longest = Duration::ZERO;
        for w in watched {
            report.announced += w.announced;
            report.frames += w.frames;
            report.bytes += w.bytes;
            report.missing += w.missing;
            report.errors += w.errors;
            report.per_client_fps.push(w.frames as f64 / w.elapsed.as_secs_f64().max(1e-9));
            if let Some(f) = w.first {
                firsts.push(f.as_secs_f64() * 1e3);
            }
            longest = longest.max(w.elapsed);
        }
        report.seconds = longest.as_secs_f64();
        report.frames_per_second = report.frames as f64 / report.seconds.max(1e-9);
        report.megabytes_per_second = report.bytes as f64 / 1e6 / report.seconds.max(1e-9);
        report.first_frame_p50_ms = percentile(&mut firsts, 0.5);
        report.first_frame_p99_ms = percentile(&mut firsts, 0.99);
        report
    }

    pub fn text(&self) -> String {
        let StreamReport { clients, announced, frames, missing, errors, .. } = self;
        let (seconds, fps, mbps) =
            (self.seconds, self.frames_per_second, self.megabytes_per_second);
        let (p50, p99) = (self.first_frame_p50_ms, self.first_frame_p99_ms);
        let per: Vec<String> = self.per_client_fps.iter().map(|f| format!("{f:.0}")).collect();
        format!(
            "stream: {clients} clients: {frames} frames ({announced} announced), {missing} missing, \
             {errors} errors \
             in {seconds:.2} s\n\
             throughput: {fps:.0} frames/s in all ({mbps:.1} MB/s); per client: {} frames/s\n\
             time to first frame: p50 {p50:.1} ms, p99 {p99:.1} ms",
            per.join(", ")
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "bench": "stream",
            "clients": self.clients,
            "announced": self.announced,
            "frames": self.frames,
            "missing": self.missing,
            "errors": self.errors,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "frames_per_second": self.frames_per_second,
            "per_client_fps": self.per_client_fps,
            "megabytes_per_second": self.megabytes_per_second,
            "first_frame_p50_ms": self.first_frame_p50_ms,
            "first_frame_p99_ms": self.first_frame_p99_ms,
        })
        .to_string()
    }
}
