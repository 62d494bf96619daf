//! `chatroom bench watch --room N --video NAME`: one room of N members watches NAME together
//! (the first starts it; the others take part when told, as their clients do). Each member's
//! thread notes when each frame arrives. The report: the spread of one frame's arrival across
//! the members (from the first to get it to the last: median and 99th percentile over the
//! frames all got), and the frames each member missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Member, join_all, percentile, unique_prefix};
use crate::client::ClientError;
use crate::cmd;
use crate::keys::{Identity, MIN_KEY_BITS};
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
    pub errors: u64,
    pub seconds: f64,
}

/// How long a member waits for the next message before giving up on the watch.
const WAIT: Duration = Duration::from_secs(30);

/// What one member saw: each frame's arrival, by index.
#[derive(Default)]
struct Seen {
    announced: u32,
    arrivals: HashMap<u32, Instant>,
    errors: u64,
}

/// Runs `bench watch`.
pub fn run(cfg: &WatchBench) -> Result<WatchReport, ClientError> {
    let count = cfg.members.clamp(2, crate::wire::MAX_ROOM_MEMBERS);
    let ids = vec![Arc::new(Identity::generate(MIN_KEY_BITS)?)];
    let prefix = unique_prefix("w");
    let room = format!("#{prefix}");
    let mut joined = join_all(&cfg.server, &prefix, count, &ids)?;
    super::room::seat_all(&room, &mut joined, &ids)?;
    let began = Instant::now();
    let handles: Vec<_> = joined
        .into_iter()
        .enumerate()
        .map(|(i, member)| {
            let (room, video) = (room.clone(), cfg.video.clone());
            thread::Builder::new()
                .name(format!("bench-watch-{i}"))
                .spawn(move || watch(member, &room, (i == 0).then_some(video)))
        })
        .collect::<Result<_, _>>()?;
    let seen: Vec<Seen> = handles.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    Ok(report(count, &seen, began.elapsed()))
}

/// One member: starts the watch (`start`: the video) or takes part when told, then notes each
/// frame until the stream ends.
fn watch(member: Member, room: &str, start: Option<String>) -> Seen {
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
fn report(members: usize, seen: &[Seen], took: Duration) -> WatchReport {
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
    WatchReport {
        members,
        frames,
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
             {:.2} ms (p50; p99 {:.2} ms, over the {} frames all got)\nmissed, by member: {}; \
             errors {}",
            self.members,
            self.frames,
            self.seconds,
            self.spread_p50_ms,
            self.spread_p99_ms,
            self.frames_all_got,
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
            "errors": self.errors,
            "seconds": self.seconds,
        })
        .to_string()
    }
}
