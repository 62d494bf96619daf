//! One video stream on the server, on its own thread (`stream-<name>`): announces the plan,
//! takes the frames in timeline order from the shared frame cache (`cache.rs`, which decodes
//! and encodes each frame once for everyone), paces them at the video's frame rate, and feeds
//! them to the client's video lane, until the end, a stop, or the client leaving.
//!
//! Stream start, frames and end all go through the video lane, so they stay in order; chat
//! goes through the chat lane, which the writer serves first, so chat never waits for video.

use crossbeam_channel::{Receiver, Sender, bounded, select};
use log::{info, warn};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::cache::FrameCache;
use crate::server::{ConnId, Frame, Registry};
use crate::video::Video;
use crate::wire::{EndReason, Segment, ServerMsg};

/// What a stream needs from its session.
pub(crate) struct StreamConfig {
    /// The user, for thread names and log lines.
    pub user: String,
    pub conn: ConnId,
    pub registry: Registry,
    /// The client's video lane.
    pub lane: Sender<Frame>,
    pub cache: FrameCache,
    pub pace: bool,
    /// How long a frame may wait for room in the lane before the client is cut off.
    pub stall_timeout: Duration,
}

/// A running stream. Stopping it (or dropping the session) ends its thread.
pub(crate) struct StreamHandle {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl StreamHandle {
    pub(crate) fn start(
        config: StreamConfig,
        video: Video,
        plan: Vec<Segment>,
    ) -> std::io::Result<StreamHandle> {
        let (stop, stopped) = bounded(1);
        let thread = thread::Builder::new()
            .name(format!("stream-{}", config.user))
            .spawn(move || run(config, video, plan, stopped))?;
        Ok(StreamHandle { stop, thread })
    }

    /// Stops the stream and waits until its end frame is queued.
    pub(crate) fn stop(self) {
        let _ = self.stop.try_send(());
        let _ = self.thread.join();
    }
}

/// How long a stream waits on the cache before checking for a stop.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// How many frames before the end of a segment the next one is prefetched: its first frame
/// needs a seek, a few hundred milliseconds at 720p, done meanwhile on the other core.
const PREFETCH_LEAD: u32 = 48;

fn run(config: StreamConfig, video: Video, plan: Vec<Segment>, stopped: Receiver<()>) {
    let name = video.name.clone();
    let total: u32 = plan.iter().map(|s| s.frames).sum();
    let start_msg = ServerMsg::StreamStart {
        video: name.clone(),
        frames: total,
        fps: video.fps as f32,
        plan: plan.clone(),
    };
    info!("{} started {name} ({total} frames, {})", config.user, Segment::describe(&plan));
    let fps = video.fps;
    let mut sent = 0u32;

    let outcome = (|| {
        if !offer(&config, &stopped, start_msg.encode().into())? {
            return Ok(EndReason::Stopped);
        }
        let began = Instant::now();
        let sources: Vec<_> =
            plan.iter().filter_map(|seg| video.file(&seg.label)).map(FrameCache::source).collect();
        if sources.len() != plan.len() {
            return Ok(EndReason::Error);
        }
        // Paced, the lead is at most 2 s of video: a prefetched producer that nobody asks
        // anything of for 5 s gives up (see cache.rs).
        let lead = if config.pace {
            PREFETCH_LEAD.min((fps * 2.0).ceil() as u32).max(1)
        } else {
            PREFETCH_LEAD
        };
        for (k, (seg, source)) in plan.iter().zip(&sources).enumerate() {
            let end = seg.start + seg.frames;
            let prefetch_at = end.saturating_sub(lead).max(seg.start);
            for index in seg.start..end {
                if let (true, Some(next)) = (index == prefetch_at, plan.get(k + 1)) {
                    // Ignored if it fails: the stream starts the producer itself when it gets there.
                    let _ = config.cache.prefetch(
                        &sources[k + 1],
                        next.start,
                        next.start + next.frames,
                    );
                }
                let frame = loop {
                    match config.cache.fetch(source, index, end, STOP_CHECK) {
                        Ok(Some(frame)) => break frame,
                        Ok(None) if stopped.try_recv().is_ok() => return Ok(EndReason::Stopped),
                        Ok(None) => continue,
                        Err(e) => {
                            warn!("{}'s stream of {name} failed: {e}", config.user);
                            return Ok(EndReason::Error);
                        }
                    }
                };
                if config.pace {
                    // Frame t is due t/fps after the start; waiting on the stop channel instead
                    // of sleeping makes a stop take effect at once.
                    let due = began + Duration::from_secs_f64(sent as f64 / fps);
                    if stopped.recv_deadline(due).is_ok() {
                        return Ok(EndReason::Stopped);
                    }
                }
                if !offer(&config, &stopped, frame)? {
                    return Ok(EndReason::Stopped);
                }
                sent += 1;
            }
        }
        Ok(EndReason::Complete)
    })();

    match outcome {
        Ok(reason) => {
            let end: Frame = ServerMsg::StreamEnd { sent, reason }.encode().into();
            if config.lane.send_timeout(end, config.stall_timeout).is_err() {
                info!(
                    "{}'s stream of {name} ended ({reason}, {sent} frames); the client did not take the end",
                    config.user
                );
            } else {
                info!("{}'s stream of {name} ended: {reason}, {sent} frames", config.user);
            }
        }
        Err(ClientGone) => {
            info!("{}'s stream of {name} ended: client gone after {sent} frames", config.user)
        }
    }
}

/// The client left or stalled: the stream ends without an end frame.
struct ClientGone;

/// Puts a frame in the video lane, waiting for room. `Ok(false)` if a stop came first.
fn offer(config: &StreamConfig, stopped: &Receiver<()>, frame: Frame) -> Result<bool, ClientGone> {
    select! {
        send(config.lane, frame) -> sent => match sent {
            Ok(()) => Ok(true),
            Err(_) => Err(ClientGone),
        },
        recv(stopped) -> _ => Ok(false),
        default(config.stall_timeout) => {
            config.registry.cut(config.conn, "it stopped reading its stream");
            Err(ClientGone)
        },
    }
}
