//! `chatroom bench watch --room N --video NAME`: one room of N members watches NAME together
//! (the first starts it; the others take part when told, as their clients do). Each member's
//! thread notes when each frame arrives. The report: the spread of one frame's arrival across
//! the members (from the first to get it to the last: median and 99th percentile over the
//! frames all got), the frames each member missed, and how long a control takes to reach
//! every member: halfway through, the first member pauses it, and each member notes when it
//! hears so (then it plays on).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{Member, join_all, percentile, unique_prefix};
use crate::client::ClientError;
use crate::cmd;
use crate::keys::{Identity, MIN_KEY_BITS};
use crate::sync::LockAnyway;
use crate::wire::{PlayMode, ServerMsg, WatchAction, WatchEvent};

#[derive(Debug, Clone)]
pub struct WatchBench {
    pub server: String,
    pub members: usize,
    pub video: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchReport {
    pub members: usize,
    /// The frames the watch announced (`STRM`).
    pub frames: u32,
    /// Frames every member got, over which the spread is taken.
    pub frames_all_got: usize,
    pub spread_p50_ms: f64,
    pub spread_p99_ms: f64,
    /// By member, in join order: frames announced and not received.
    pub missed: Vec<u64>,
    /// From the pause asked for to each member hearing of it: median and slowest, in ms.
    pub control_p50_ms: f64,
    pub control_max_ms: f64,
    pub errors: u64,
    pub seconds: f64,
}

/// How long a member waits for the next message before giving up on the watch.
const WAIT: Duration = Duration::from_secs(30);

/// What one member saw: each frame's arrival, by index, and when it heard of the pause.
#[derive(Default)]
struct Seen {
    announced: u32,
    arrivals: HashMap<u32, Instant>,
    paused: Option<Instant>,
    errors: u64,
}

/// When the first member asked for the pause, for every member to measure from.
type Asked = Arc<Mutex<Option<Instant>>>;

/// Runs `bench watch`.
pub fn run(cfg: &WatchBench) -> Result<WatchReport, ClientError> {
    let count = cfg.members.clamp(2, crate::wire::MAX_ROOM_MEMBERS);
    let ids = vec![Arc::new(Identity::generate(MIN_KEY_BITS)?)];
    let prefix = unique_prefix("w");
    let room = format!("#{prefix}");
    let mut joined = join_all(&cfg.server, &prefix, count, &ids)?;
    super::room::seat_all(&room, &mut joined, &ids)?;
    let began = Instant::now();
    let asked: Asked = Arc::default();
    let handles: Vec<_> = joined
        .into_iter()
        .enumerate()
        .map(|(i, member)| {
            let (room, video, asked) = (room.clone(), cfg.video.clone(), asked.clone());
            thread::Builder::new()
                .name(format!("bench-watch-{i}"))
                .spawn(move || watch(member, &room, (i == 0).then_some(video), &asked))
        })
        .collect::<Result<_, _>>()?;
    let seen: Vec<Seen> = handles.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    let asked = *asked.lock_anyway();
    Ok(report(count, &seen, asked, began.elapsed()))
}

/// One member: starts the watch (`start`: the video) or takes part when told, then notes each
/// frame until the stream ends.
fn watch(member: Member, room: &str, start: Option<String>, asked: &Asked) -> Seen {
    let Member { mut reader, writer, .. } = member;
    let _ = reader.stream().set_read_timeout(Some(WAIT));
    let ask = |action| writer.send(&cmd::Watch { room: room.to_owned(), action });
    // The one who starts it takes part at once; the others when told.
    let starts = start.is_some();
    if let Some(video) = start {
        let _ = ask(WatchAction::Start { video, mode: PlayMode::Split });
    }
    let mut seen = Seen::default();
    loop {
        match reader.recv() {
            Ok(ServerMsg::Watch { event: WatchEvent::Started { .. }, .. }) if !starts => {
                let _ = ask(WatchAction::Attach);
            }
            Ok(ServerMsg::StreamStart { frames, .. }) => seen.announced = frames,
            Ok(ServerMsg::Frame { index, .. }) => {
                seen.arrivals.insert(index, Instant::now());
                // Halfway, the first member pauses it.
                if starts && index == seen.announced / 2 {
                    *asked.lock_anyway() = Some(Instant::now());
                    let _ = ask(WatchAction::Pause);
                }
            }
            Ok(ServerMsg::Watch { event: WatchEvent::Paused, .. }) => {
                seen.paused = Some(Instant::now());
                if starts {
                    let _ = ask(WatchAction::Play);
                }
            }
            Ok(ServerMsg::StreamEnd { .. }) => break,
            Ok(ServerMsg::Error { .. }) | Err(_) => {
                seen.errors += 1;
                break;
            }
            Ok(_) => {}
        }
    }
    let _ = writer.send(&cmd::Quit);
    seen
}

/// The spread of each frame every member got, and what each missed.
fn report(members: usize, seen: &[Seen], asked: Option<Instant>, took: Duration) -> WatchReport {
    let frames = seen.iter().map(|s| s.announced).max().unwrap_or(0);
    let mut spreads = Vec::new();
    for index in 0..frames {
        let times: Option<Vec<Instant>> =
            seen.iter().map(|s| s.arrivals.get(&index).copied()).collect();
        let Some(times) = times else { continue };
        if let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) {
            spreads.push(last.duration_since(*first).as_secs_f64() * 1e3);
        }
    }
    let mut controls: Vec<f64> = seen
        .iter()
        .filter_map(|s| Some(s.paused?.duration_since(asked?).as_secs_f64() * 1e3))
        .collect();
    WatchReport {
        members,
        frames,
        control_p50_ms: percentile(&mut controls.clone(), 0.5),
        control_max_ms: percentile(&mut controls, 1.0),
        frames_all_got: spreads.len(),
        spread_p50_ms: percentile(&mut spreads.clone(), 0.5),
        spread_p99_ms: percentile(&mut spreads, 0.99),
        missed: seen.iter().map(|s| u64::from(frames) - s.arrivals.len() as u64).collect(),
        errors: seen.iter().map(|s| s.errors).sum(),
        seconds: took.as_secs_f64(),
    }
}

impl WatchReport {
    pub fn text(&self) -> String {
        let missed: Vec<String> = self.missed.iter().map(u64::to_string).collect();
        format!(
            "room of {} members watching {} frames in {:.2} s: a frame reached them all within \
             {:.2} ms (p50; p99 {:.2} ms, over the {} frames all got)\na pause reached them in \
             {:.2} ms (p50; slowest {:.2} ms)\nmissed, by member: {}; errors {}",
            self.members,
            self.frames,
            self.seconds,
            self.spread_p50_ms,
            self.spread_p99_ms,
            self.frames_all_got,
            self.control_p50_ms,
            self.control_max_ms,
            missed.join(" "),
            self.errors
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "members": self.members,
            "frames": self.frames,
            "frames_all_got": self.frames_all_got,
            "spread_p50_ms": self.spread_p50_ms,
            "spread_p99_ms": self.spread_p99_ms,
            "missed": self.missed,
            "control_p50_ms": self.control_p50_ms,
            "control_max_ms": self.control_max_ms,
            "errors": self.errors,
            "seconds": self.seconds,
        })
        .to_string()
    }
}
