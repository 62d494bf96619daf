//! Watch together: a room plays one stream, in step, for every member who takes part.
//!
//! One thread a watch (`watch-#room`) holds the room's timeline: the frame due next, playing
//! or paused. It takes each frame once from the frame cache (which decodes and encodes it once
//! for everyone, `cache.rs`) and offers it to every member's video lane at the same moment,
//! without waiting: a member whose lane is full misses that frame (an `auto` member also steps
//! down a resolution, as `stream::Adapt` does for one stream) and is told; the others are not
//! held back. Any member's control (pause, play, seek, stop) reaches the thread on its channel
//! and is told to every member online (`WTEV`). A member takes part by `Attach` (sent by its
//! client when it hears of the watch: at the start, when it comes online, when it joins the
//! room) and leaves it alone by `Detach` (`q`); its session ending drops its lane, which the
//! thread notices at the next frame.
//!
//! The frames are not sealed: the server holds the video (docs/SECURITY.md says what it learns).

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use log::info;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::cache::{FrameCache, Source};
use crate::registry::{ConnId, Registry};
use crate::store::Store;
use crate::stream::Adapt;
use crate::sync::LockAnyway;
use crate::video::catalog::{Video, is_auto, plan_frames};
use crate::wire::{EncodedFrame, EndReason, ErrorCode, SeekTo, Segment, ServerMsg, WatchEvent};

/// Watches running at once on one server: each holds a thread, and a decoder for each
/// resolution its members are at.
pub const MAX_WATCHES: usize = 8;
/// Controls waiting for a watch's thread: past them, a member is told the watch is busy
/// (each control is also one of its sender's requests, within the request budget).
const CONTROLS: usize = 64;
/// How long a start or an end waits for room in a member's lane.
const LANE_PATIENCE: Duration = Duration::from_millis(200);
/// How long after a start the first frame is due: the members online hear of the watch and
/// take part meanwhile (a round trip), so they begin together, at frame 0.
const START_LEAD: Duration = Duration::from_millis(300);
/// A member missing frames is told at most this often.
const BEHIND_EVERY: Duration = Duration::from_secs(10);

/// A refusal: its code and its words.
pub(crate) type Refused = (ErrorCode, String);

/// The watches running, by lower-cased room. Clones share them.
#[derive(Clone, Default)]
pub struct Watches {
    on: Arc<Mutex<HashMap<String, Running>>>,
    next: Arc<AtomicU64>,
}

/// A watch's thread, as the sessions see it.
struct Running {
    control: Sender<Control>,
    thread: Option<thread::JoinHandle<()>>,
    generation: u64,
    video: String,
    by: String,
    /// The frame due next, and the video's rate: where it is, for a member coming online.
    at: Arc<AtomicU32>,
    fps: f64,
}

/// What a session asks of a watch's thread.
pub(crate) enum Control {
    Attach {
        conn: ConnId,
        user: String,
        lane: Sender<EncodedFrame>,
    },
    /// `quiet`: no end frame, as a stream of the member's own is about to start.
    Detach {
        conn: ConnId,
        quiet: bool,
    },
    Pause(String),
    Play(String),
    Seek(String, SeekTo),
    Stop(String),
}

/// What a watch needs from the server, beside its video.
pub(crate) struct WatchConfig {
    pub registry: Registry,
    pub store: Arc<Store>,
    pub cache: FrameCache,
    pub pace: bool,
}

impl Watches {
    /// Starts `room`'s watch of `video`, by `by`.
    pub(crate) fn start(
        &self,
        room: &str,
        by: &str,
        config: WatchConfig,
        video: Video,
        plan: Vec<Segment>,
    ) -> Result<(), Refused> {
        let mut on = self.on.lock_anyway();
        if on.contains_key(&room.to_ascii_lowercase()) {
            let text = format!("{room} is watching already: /watch {room} stop first");
            return Err((ErrorCode::Unexpected, text));
        }
        if on.len() >= MAX_WATCHES {
            let text = format!("the server has {MAX_WATCHES} watches on; try again later");
            return Err((ErrorCode::RoomLimit, text));
        }
        let (control, controls) = bounded(CONTROLS);
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        let at = Arc::new(AtomicU32::new(0));
        let mut running = Running {
            control,
            thread: None,
            generation,
            video: video.name.clone(),
            by: by.to_owned(),
            at: at.clone(),
            fps: video.fps,
        };
        let watch = Watch::new(room, by, config, video, plan, controls, at);
        let watches = self.clone();
        let thread = thread::Builder::new().name(format!("watch-{room}"));
        let handle = thread
            .spawn(move || {
                let room = watch.room.clone();
                watch.run();
                watches.ended(&room, generation);
            })
            .map_err(|e| (ErrorCode::VideoFailed, format!("cannot start the watch: {e}")))?;
        running.thread = Some(handle);
        on.insert(room.to_ascii_lowercase(), running);
        Ok(())
    }

    /// Ends every watch (the server is stopping) and waits for their threads: each sees its
    /// controls gone and ends its members' streams.
    pub(crate) fn stop_all(&self) {
        let running: Vec<Running> = self.on.lock_anyway().drain().map(|(_, r)| r).collect();
        let threads: Vec<_> = running.into_iter().filter_map(|r| r.thread).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// Forgets `room`'s watch of `generation` (not a newer one started since).
    fn ended(&self, room: &str, generation: u64) {
        let mut on = self.on.lock_anyway();
        if on.get(&room.to_ascii_lowercase()).is_some_and(|r| r.generation == generation) {
            on.remove(&room.to_ascii_lowercase());
        }
    }

    pub(crate) fn control(&self, room: &str, control: Control) -> Result<(), Refused> {
        let on = self.on.lock_anyway();
        let Some(running) = on.get(&room.to_ascii_lowercase()) else {
            let text = format!("nothing is playing in {room} (/watch {room} VIDEO starts it)");
            return Err((ErrorCode::Unexpected, text));
        };
        match running.control.try_send(control) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                Err((ErrorCode::RateLimited, format!("{room}'s watch is busy; try again")))
            }
            Err(TrySendError::Disconnected(_)) => Ok(()),
        }
    }

    /// Connection `conn` leaves `room`'s watch quietly: a stream of its own, or another
    /// watch, takes its lane.
    pub(crate) fn leave(&self, room: &str, conn: ConnId) {
        let _ = self.control(room, Control::Detach { conn, quiet: true });
    }

    /// A member coming online hears of each watch going on in its rooms, to take part from
    /// the current frame.
    pub(crate) fn tell_newcomer(&self, store: &Store, name: &str, outbox: &crate::outbox::Outbox) {
        let Ok(rooms) = store.seats_of(name, false) else { return };
        for room in rooms {
            if let Some(news) = self.news(&room) {
                outbox.offer(news.encode_shared());
            }
        }
    }

    /// What is playing in `room`: the news a member coming online or joining is sent, so its
    /// client takes part (`WTEV` started, at the current time).
    pub(crate) fn news(&self, room: &str) -> Option<ServerMsg> {
        let on = self.on.lock_anyway();
        let running = on.get(&room.to_ascii_lowercase())?;
        let at_ms = millis(running.at.load(Ordering::Relaxed), running.fps);
        let event = WatchEvent::Started { video: running.video.clone() };
        Some(ServerMsg::Watch { room: room.to_owned(), by: running.by.clone(), event, at_ms })
    }
}

/// Frame `frame` of a video at `fps`, in milliseconds from its start.
fn millis(frame: u32, fps: f64) -> u32 {
    (f64::from(frame) * 1000.0 / fps.max(1.0)) as u32
}

/// One member taking part.
struct Member {
    conn: ConnId,
    user: String,
    lane: Sender<EncodedFrame>,
    /// `auto`: the member's resolution follows its lane.
    adapt: Option<Adapt>,
    level: usize,
    sent: u32,
    missed: u32,
    told_behind: Option<Instant>,
}

/// One watch, on its thread.
struct Watch {
    room: String,
    by: String,
    config: WatchConfig,
    video: Video,
    plan: Vec<Segment>,
    sources: Vec<Source>,
    total: u32,
    controls: Receiver<Control>,
    members: Vec<Member>,
    /// The frame due next, shared for `Watches::news`.
    at: Arc<AtomicU32>,
    paused: bool,
    /// When frame `base.1` is due: frame `i` is due `(i - base.1) / fps` later.
    base: (Instant, u32),
}

/// How a watch ends.
enum Ended {
    By(String),
    Complete,
    /// The server is stopping, or the video could not be read.
    Gone,
}

impl Watch {
    fn new(
        room: &str,
        by: &str,
        config: WatchConfig,
        video: Video,
        plan: Vec<Segment>,
        controls: Receiver<Control>,
        at: Arc<AtomicU32>,
    ) -> Watch {
        let sources: Vec<Source> =
            plan.iter().filter_map(|s| video.file(&s.label)).map(FrameCache::source).collect();
        let total = plan_frames(&video, &plan);
        Watch {
            room: room.to_owned(),
            by: by.to_owned(),
            config,
            video,
            plan,
            sources,
            total,
            controls,
            members: Vec::new(),
            at,
            paused: false,
            base: (Instant::now() + START_LEAD, 0),
        }
    }

    fn run(mut self) {
        let (room, name) = (self.room.clone(), self.video.name.clone());
        info!("{} started {name} in {room} ({} frames)", self.by, self.total);
        self.tell(&self.by.clone(), WatchEvent::Started { video: name.clone() });
        let ended = self.play();
        let reason = match &ended {
            Ended::By(by) => {
                self.tell(by, WatchEvent::Stopped);
                EndReason::Stopped
            }
            Ended::Complete => {
                self.tell(&self.by.clone(), WatchEvent::Ended);
                EndReason::Complete
            }
            Ended::Gone => EndReason::Error,
        };
        for member in std::mem::take(&mut self.members) {
            let end = ServerMsg::StreamEnd { sent: member.sent, reason }.encode_shared();
            let _ = member.lane.send_timeout(end, LANE_PATIENCE);
        }
        info!("{room}'s watch of {name} ended ({reason})");
    }

    /// The timeline, until its end or a stop: controls as they come, frames when due.
    fn play(&mut self) -> Ended {
        if self.sources.len() != self.plan.len() {
            return Ended::Gone;
        }
        loop {
            let next = match self.paused {
                true => self.controls.recv().map_err(|_| RecvTimeoutError::Disconnected),
                false => self.controls.recv_deadline(self.due()),
            };
            match next {
                Ok(control) => {
                    if let Some(ended) = self.handle(control) {
                        return ended;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Ended::Gone,
                Err(RecvTimeoutError::Timeout) => {
                    let at = self.at.load(Ordering::Relaxed);
                    if at >= self.total {
                        return Ended::Complete;
                    }
                    if !self.members.is_empty() && !self.send(at) {
                        return Ended::Gone;
                    }
                    self.at.store(at + 1, Ordering::Relaxed);
                }
            }
        }
    }

    /// When the frame due next is due (at once, unpaced).
    fn due(&self) -> Instant {
        if !self.config.pace {
            return Instant::now();
        }
        let ahead = self.at.load(Ordering::Relaxed).saturating_sub(self.base.1);
        self.base.0 + Duration::from_secs_f64(f64::from(ahead) / self.video.fps.max(1.0))
    }

    /// Restarts the clock at the frame due next: after a pause, a seek, a start.
    fn rebase(&mut self) {
        self.base = (Instant::now(), self.at.load(Ordering::Relaxed));
    }

    fn handle(&mut self, control: Control) -> Option<Ended> {
        match control {
            Control::Attach { conn, user, lane } => self.attach(conn, user, lane),
            Control::Detach { conn, quiet: false } => self.detach(conn),
            Control::Detach { conn, quiet: true } => drop(self.detach_quietly(conn)),
            Control::Pause(by) if !self.paused => {
                self.paused = true;
                self.tell(&by, WatchEvent::Paused);
            }
            Control::Play(by) if self.paused => {
                self.paused = false;
                self.rebase();
                self.tell(&by, WatchEvent::Playing);
            }
            // Pausing what is paused, playing what plays: nothing to do or say.
            Control::Pause(_) | Control::Play(_) => {}
            Control::Seek(by, to) => {
                let frame = match to {
                    SeekTo::Frame(frame) => frame,
                    SeekTo::Millis(ms) => (f64::from(ms) * self.video.fps / 1000.0) as u32,
                };
                self.at.store(frame.min(self.total.saturating_sub(1)), Ordering::Relaxed);
                self.rebase();
                self.tell(&by, WatchEvent::Seeked);
            }
            Control::Stop(by) => return Some(Ended::By(by)),
        }
        None
    }

    /// A member takes part, from the frame due next: its player is told what plays.
    fn attach(&mut self, conn: ConnId, user: String, lane: Sender<EncodedFrame>) {
        self.detach_quietly(conn);
        let start = ServerMsg::StreamStart {
            video: self.video.name.clone(),
            frames: self.total,
            fps: self.video.fps as f32,
            plan: self.plan.clone(),
        };
        if lane.send_timeout(start.encode_shared(), LANE_PATIENCE).is_err() {
            return;
        }
        // A second of steady room before an `auto` member steps up (at least 8 frames).
        let settle = (self.video.fps.round() as u32).max(8);
        let adapt = is_auto(&self.plan).then(|| Adapt::new(self.sources.len(), settle));
        let member =
            Member { conn, user, lane, adapt, level: 0, sent: 0, missed: 0, told_behind: None };
        self.members.push(member);
    }

    /// A member leaves the watch alone: its player hears the stream stopped.
    fn detach(&mut self, conn: ConnId) {
        if let Some(member) = self.detach_quietly(conn) {
            let end = ServerMsg::StreamEnd { sent: member.sent, reason: EndReason::Stopped };
            let _ = member.lane.send_timeout(end.encode_shared(), LANE_PATIENCE);
        }
    }

    fn detach_quietly(&mut self, conn: ConnId) -> Option<Member> {
        let i = self.members.iter().position(|m| m.conn == conn)?;
        Some(self.members.remove(i))
    }

    /// Frame `at` to every member at once, each from its resolution, taken from the cache
    /// once per resolution in use. False if the video cannot be read.
    fn send(&mut self, at: u32) -> bool {
        let mut frames: HashMap<usize, EncodedFrame> = HashMap::new();
        let mut gone = Vec::new();
        for i in 0..self.members.len() {
            let member = &mut self.members[i];
            let (source, end) = match &mut member.adapt {
                Some(adapt) => {
                    member.level = adapt.next(member.lane.len(), crate::outbox::VIDEO_LANE_FRAMES);
                    (member.level, self.total)
                }
                None => match self.plan.iter().position(|s| at < s.start + s.frames) {
                    Some(k) => (k, self.plan[k].start + self.plan[k].frames),
                    None => return true,
                },
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = frames.entry(source) {
                let Some(frame) = self.fetch(source, at, end) else { return false };
                slot.insert(frame);
            }
            let frame = frames[&source].clone();
            match self.members[i].lane.try_send(frame) {
                Ok(()) => self.members[i].sent += 1,
                Err(TrySendError::Full(_)) => self.behind(i),
                // Its session ended: its lane went with it.
                Err(TrySendError::Disconnected(_)) => gone.push(self.members[i].conn),
            }
        }
        self.members.retain(|m| !gone.contains(&m.conn));
        true
    }

    /// Frame `index` from `self.sources[source]`, made once for everyone.
    fn fetch(&self, source: usize, index: u32, end: u32) -> Option<EncodedFrame> {
        loop {
            match self.config.cache.fetch(&self.sources[source], index, end, POLL) {
                Ok(Some(frame)) => return Some(frame),
                Ok(None) => continue,
                Err(e) => {
                    log::warn!(
                        "{}'s watch of {} failed: {}",
                        self.room,
                        self.video.name,
                        crate::report::Chain(&e)
                    );
                    return None;
                }
            }
        }
    }

    /// Member `i` could not take a frame: it missed it (the others did not wait), and is
    /// told, now and then.
    fn behind(&mut self, i: usize) {
        let member = &mut self.members[i];
        member.missed += 1;
        if member.told_behind.is_some_and(|t| t.elapsed() < BEHIND_EVERY) {
            return;
        }
        member.told_behind = Some(Instant::now());
        let at_ms = millis(self.at.load(Ordering::Relaxed), self.video.fps);
        let news = ServerMsg::Watch {
            room: self.room.clone(),
            by: member.user.clone(),
            event: WatchEvent::Behind { missed: member.missed },
            at_ms,
        };
        self.config.registry.offer_to([member.user.as_str()], &news.encode_shared());
    }

    /// Tells every member online of the room what `by` did, and where the video is.
    fn tell(&self, by: &str, event: WatchEvent) {
        let at_ms = millis(self.at.load(Ordering::Relaxed), self.video.fps);
        let news = ServerMsg::Watch { room: self.room.clone(), by: by.to_owned(), event, at_ms };
        let Ok(room) = self.config.store.room_any(&self.room) else { return };
        self.config
            .registry
            .offer_to(room.members.iter().map(String::as_str), &news.encode_shared());
    }
}

/// How long a fetch waits on the cache before asking again.
const POLL: Duration = Duration::from_millis(50);
