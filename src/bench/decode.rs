//! `chatroom bench decode`: the machine's own limit for a stream, the yardstick of the stream
//! benchmark. It decodes exactly the frames a split stream of VIDEO sends (each segment's
//! file from the segment's first frame, a seek, to its last) with FFmpeg on the same two
//! decoder threads the server uses, one segment after the other, and throws the pictures
//! away: no JPEG, no socket. What a server streams to one client, over this figure, is how
//! much of the machine it leaves unused (issue #23 asks for 0.70 or more).
//!
//! It runs in this process, on the videos folder, without a server: run it while nothing else
//! does, in the same minutes as `bench stream`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::video::VideoError;
use crate::video::catalog;
use crate::video::ffmpeg::FfmpegReader;
use crate::video::source::Engine;
use crate::wire::PlayMode;

#[derive(Debug, Clone)]
pub struct DecodeBench {
    pub videos: PathBuf,
    pub video: String,
    /// Times to decode the whole split; the report gives the best (least disturbed) run.
    pub runs: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecodeReport {
    pub video: String,
    pub frames: u64,
    pub seconds: f64,
    pub frames_per_second: f64,
    /// Each run's frames/s, in order.
    pub runs_fps: Vec<f64>,
}

/// Runs `bench decode`.
pub fn run(cfg: &DecodeBench) -> Result<DecodeReport, VideoError> {
    let (catalog, _warnings) = catalog::scan(&cfg.videos, Engine::Ffmpeg)?;
    let video = catalog.find(&cfg.video).ok_or_else(|| {
        VideoError::Unknown(format!("no video {} in {}", cfg.video, cfg.videos.display()))
    })?;
    let plan = video.plan(&PlayMode::Split)?;
    let segments: Vec<(&Path, u32, u32)> = plan
        .iter()
        .filter_map(|s| video.file(&s.label).map(|f| (f.path.as_path(), s.start, s.frames)))
        .collect();
    let mut best: Option<(u64, f64)> = None;
    let mut runs_fps = Vec::new();
    for _ in 0..cfg.runs.max(1) {
        let started = Instant::now();
        let mut frames = 0u64;
        for &(path, start, count) in &segments {
            let mut reader = FfmpegReader::open(path, start)?;
            for _ in 0..count {
                reader.read()?;
                frames += 1;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        runs_fps.push(frames as f64 / seconds);
        if best.is_none_or(|(_, s)| seconds < s) {
            best = Some((frames, seconds));
        }
    }
    let (frames, seconds) = best.unwrap_or((0, 0.0));
    Ok(DecodeReport {
        video: cfg.video.clone(),
        frames,
        seconds,
        frames_per_second: if seconds > 0.0 { frames as f64 / seconds } else { 0.0 },
        runs_fps,
    })
}

impl DecodeReport {
    pub fn text(&self) -> String {
        let runs: Vec<String> = self.runs_fps.iter().map(|f| format!("{f:.0}")).collect();
        format!(
            "decode only: {}: {} frames in {:.2} s: {:.0} frames/s (best of {} runs: {})",
            self.video,
            self.frames,
            self.seconds,
            self.frames_per_second,
            self.runs_fps.len(),
            runs.join(", ")
        )
    }

    pub fn json(&self) -> String {
        serde_json::json!({
            "bench": "decode",
            "video": self.video,
            "frames": self.frames,
            "seconds": self.seconds,
            "frames_per_second": self.frames_per_second,
            "runs_fps": self.runs_fps,
        })
        .to_string()
    }
}
