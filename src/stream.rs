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

use crate::cache::{FrameCache, Source};
use crate::registry::{ConnId, Registry};
use crate::report::Chain;
use crate::video::catalog::Video;
use crate::wire::{EncodedFrame, EndReason, Segment, ServerMsg};

/// What a stream needs from its session.
pub(crate) struct StreamConfig {
    /// The user, for thread names and log lines.
    pub user: String,
    /// The client's connection, to cut it if it stops reading.
    pub conn: ConnId,
    pub registry: Registry,
    /// The client's video lane.
    pub lane: Sender<EncodedFrame>,
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
            .spawn(move || Stream { config, video, plan, stopped, sent: 0 }.run())?;
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

/// How long before the end of a segment the next one is prefetched. Its first frame needs a
/// seek, which decodes every frame from the key frame before it (up to 250 frames in H.264 as
/// x264 writes it: a quarter of a second at 720p), done meanwhile with the current segment's
/// work. Not longer: a prefetched producer reads only a few frames ahead of its first, then
/// waits, and gives up if nobody asks for a frame within `cache::IDLE` (5 s).
const PREFETCH_LEAD: Duration = Duration::from_secs(2);

/// Quality that follows the link, for `auto` streams: which resolution the next frame comes
/// from, judged by how full the client's video lane is when the frame is offered. A lane that
/// is full (this frame takes its last place) means frames are made faster than the client takes them (its link, or its reading,
/// is the limit): one step down, at once. A lane found empty frame after frame for `settle`
/// frames means the client takes everything as it comes: one step up. After a step, `settle`
/// frames pass before the next step up, so a link at the edge of two resolutions does not
/// switch every frame. This is a buffer rule, as dash.js's BOLA chooses by its buffer level,
/// the lane (with the socket's buffer, kept small for `auto`) standing in for the player's
/// buffer; a throughput rule (hls.js) would measure bytes over time instead.
pub(crate) struct Adapt {
    level: usize,
    levels: usize,
    settle: u32,
    /// Offers in a row that found the lane full, and that found it empty.
    full: u32,
    empty: u32,
    /// Frames left before a step up is allowed again.
    hold: u32,
}

impl Adapt {
    pub(crate) fn new(levels: usize, settle: u32) -> Adapt {
        Adapt { level: 0, levels, settle, full: 0, empty: 0, hold: settle }
    }

    /// The resolution (0: the lowest) of the next frame, given how many frames wait in a
    /// lane of `capacity`.
    pub(crate) fn next(&mut self, queued: usize, capacity: usize) -> usize {
        self.hold = self.hold.saturating_sub(1);
        // Full: this frame takes the last place (a slow reader's lane is never found with
        // all places taken, since the stream waited for one to free).
        (self.full, self.empty) = match queued {
            q if q + 1 >= capacity => (self.full + 1, 0),
            0 => (0, self.empty + 1),
            _ => (0, 0),
        };
        if self.full >= 2 && self.level > 0 {
            self.level -= 1;
            (self.full, self.hold) = (0, self.settle);
        } else if self.empty >= self.settle && self.hold == 0 && self.level + 1 < self.levels {
            self.level += 1;
            (self.empty, self.hold) = (0, self.settle);
        }
        self.level
    }
}

/// One stream, on its thread.
struct Stream {
    config: StreamConfig,
    video: Video,
    plan: Vec<Segment>,
    stopped: Receiver<()>,
    /// Frames put in the lane so far.
    sent: u32,
}

/// Why sending stopped early.
enum Halt {
    /// The stream is over, for this reason: the end frame tells the client.
    End(EndReason),
    /// The client left or stalled: no end frame.
    ClientGone,
}

impl Stream {
    fn run(mut self) {
        let (user, name) = (self.config.user.clone(), self.video.name.clone());
        let auto = crate::video::catalog::is_auto(&self.plan);
        let total = crate::video::catalog::plan_frames(&self.video, &self.plan);
        info!(
            "{user} started {name} ({total} frames, {})",
            crate::video::catalog::describe_plan(&self.plan)
        );
        let played = if auto { self.play_auto(total) } else { self.play(total) };
        let reason = match played {
            Ok(()) => EndReason::Complete,
            Err(Halt::End(reason)) => reason,
            Err(Halt::ClientGone) => {
                info!("{user}'s stream of {name} ended: client gone after {} frames", self.sent);
                return;
            }
        };
        let sent = self.sent;
        let end = ServerMsg::StreamEnd { sent, reason }.encode_shared();
        if self.config.lane.send_timeout(end, self.config.stall_timeout).is_err() {
            info!(
                "{user}'s stream of {name} ended ({reason}, {sent} frames); \
                 the client did not take the end"
            );
        } else {
            info!("{user}'s stream of {name} ended: {reason}, {sent} frames");
        }
    }

    /// Announces the stream; returns the plan's sources, in its order, and when it began.
    fn announce(&self, total: u32) -> Result<(Vec<Source>, Instant), Halt> {
        let start = ServerMsg::StreamStart {
            video: self.video.name.clone(),
            frames: total,
            fps: self.video.fps as f32,
            plan: self.plan.clone(),
        };
        self.offer(start.encode_shared())?;
        let began = Instant::now();
        let sources: Vec<Source> = (self.plan.iter())
            .filter_map(|seg| self.video.file(&seg.label))
            .map(FrameCache::source)
            .collect();
        if sources.len() != self.plan.len() {
            return Err(Halt::End(EndReason::Error));
        }
        Ok((sources, began))
    }

    /// Paced, waits until the next frame is due: frame t is due t/fps after `began`. Waiting
    /// on the stop channel instead of sleeping makes a stop take effect at once.
    fn wait_due(&self, began: Instant) -> Result<(), Halt> {
        if self.config.pace {
            let due = began + Duration::from_secs_f64(self.sent as f64 / self.video.fps);
            if self.stopped.recv_deadline(due).is_ok() {
                return Err(Halt::End(EndReason::Stopped));
            }
        }
        Ok(())
    }

    /// Announces the stream, then sends every frame of the plan, in order.
    fn play(&mut self, total: u32) -> Result<(), Halt> {
        let fps = self.video.fps;
        let (sources, began) = self.announce(total)?;
        for (k, seg) in self.plan.clone().iter().enumerate() {
            let end = seg.start + seg.frames;
            let mut prefetched = false;
            for index in seg.start..end {
                // The frames sent in PREFETCH_LEAD: at the video's rate when paced, else at
                // the rate sent so far (none known before the first frame).
                let rate = match self.config.pace {
                    true => fps,
                    false => self.sent as f64 / began.elapsed().as_secs_f64().max(1e-3),
                };
                let lead = (rate * PREFETCH_LEAD.as_secs_f64()).ceil() as u32;
                if let (false, true, Some(next)) =
                    (prefetched, end - index <= lead, self.plan.get(k + 1))
                {
                    prefetched = true;
                    // Ignored if it fails: the stream starts the producer itself when it gets
                    // there.
                    let next_end = next.start + next.frames;
                    let _ = self.config.cache.prefetch(&sources[k + 1], next.start, next_end);
                }
                let frame = self.fetch(&sources[k], index, end)?;
                self.wait_due(began)?;
                self.offer(frame)?;
                self.sent += 1;
            }
        }
        Ok(())
    }

    /// `auto`: the timeline in order, each frame from the resolution `Adapt` picks, starting
    /// from the lowest; a switch takes effect at the next frame, with no gap.
    fn play_auto(&mut self, total: u32) -> Result<(), Halt> {
        let (sources, began) = self.announce(total)?;
        // A second of steady room before stepping up (at least 8 frames unpaced).
        let settle = (self.video.fps.round() as u32).max(8);
        let mut adapt = Adapt::new(sources.len(), settle);
        let mut level = 0;
        for index in 0..total {
            let frame = self.fetch(&sources[level], index, total)?;
            self.wait_due(began)?;
            // How full the lane is as this frame goes in decides the next one's resolution.
            level = adapt.next(self.config.lane.len(), crate::outbox::VIDEO_LANE_FRAMES);
            self.offer(frame)?;
            self.sent += 1;
        }
        Ok(())
    }

    /// Frame `index` from the cache, checking for a stop while it is being made.
    fn fetch(&self, source: &Source, index: u32, end: u32) -> Result<EncodedFrame, Halt> {
        loop {
            match self.config.cache.fetch(source, index, end, STOP_CHECK) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) if self.stopped.try_recv().is_ok() => {
                    return Err(Halt::End(EndReason::Stopped));
                }
                Ok(None) => continue,
                Err(e) => {
                    warn!(
                        "{}'s stream of {} failed: {}",
                        self.config.user,
                        self.video.name,
                        Chain(&e)
                    );
                    return Err(Halt::End(EndReason::Error));
                }
            }
        }
    }

    /// Puts a frame in the video lane, waiting for room, unless a stop comes first. A client
    /// whose lane stays full past the stall timeout is cut off.
    fn offer(&self, frame: EncodedFrame) -> Result<(), Halt> {
        let config = &self.config;
        select! {
            send(config.lane, frame) -> sent => sent.map_err(|_| Halt::ClientGone),
            recv(self.stopped) -> _ => Err(Halt::End(EndReason::Stopped)),
            default(config.stall_timeout) => {
                config.registry.cut(config.conn, "it stopped reading its stream");
                Err(Halt::ClientGone)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_steps_down_at_once_when_the_lane_fills_and_up_after_a_steady_second() {
        let mut a = Adapt::new(3, 5);
        // Room every time: up one step per `settle` frames, to the top, no further.
        let levels: Vec<usize> = (0..20).map(|_| a.next(0, 4)).collect();
        assert_eq!(levels[..5], [0, 0, 0, 0, 1]);
        assert_eq!(levels[9], 2);
        assert_eq!(*levels.last().unwrap(), 2);
        // Full twice in a row: down at once, and again if it stays full.
        assert_eq!(a.next(4, 4), 2);
        assert_eq!(a.next(4, 4), 1);
        assert_eq!(a.next(4, 4), 1);
        assert_eq!(a.next(4, 4), 0);
        assert_eq!(a.next(4, 4), 0, "no lower than the lowest");
        // Half full: nothing changes.
        assert!((0..20).all(|_| a.next(2, 4) == 0));
    }
}
