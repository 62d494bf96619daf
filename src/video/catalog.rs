//! The catalog: which videos the server offers, read from the `NAME_LABEL.mp4` files of its
//! videos folder and rescanned as files come and go; and the split plan, which cuts a video's
//! timeline across its resolutions as the original did.
//!
//! Video names come from clients and are only ever compared with the catalog's, never turned
//! into a path: nothing outside the videos folder is ever opened.

use log::warn;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::source::Engine;
use super::{Probe, VideoError};
use crate::sync::LockAnyway;
use crate::wire::{self, PlayMode, Resolution, Segment, VideoInfo};

/// Splits `NAME_LABEL.mp4` into its name, label and height: `my_trip_720p.mp4` is the video
/// `my_trip` at `720p` (the name may contain `_`; the split is at the last one). Anything else
/// (another extension, no `_`, a label that is not digits then `p`) is `None`.
pub fn parse_file_name(file_name: &str) -> Option<(String, String, u32)> {
    let stem = file_name.strip_suffix(".mp4")?;
    let (name, label) = stem.rsplit_once('_')?;
    let digits = label.strip_suffix('p')?;
    if name.is_empty()
        || name.len() > wire::MAX_VIDEO_NAME
        || label.len() > wire::MAX_LABEL
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let height = digits.parse().ok().filter(|h| *h > 0)?;
    Some((name.to_owned(), label.to_owned(), height))
}

/// One file of a video: one resolution.
#[derive(Debug, Clone)]
pub struct ResolutionFile {
    pub label: String,
    /// The height the label promises (`360` for `360p`); resolutions sort by it.
    pub label_height: u32,
    pub path: PathBuf,
    /// The file's real size and length, as the server's engine reads them.
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub fps: f64,
    /// The file's size and modification time when it was scanned: with the path, they tell
    /// one version of a file from the next (the frame cache keys on them).
    pub bytes: u64,
    pub modified: Option<SystemTime>,
}

/// A video and its resolutions, lowest first.
#[derive(Debug, Clone)]
pub struct Video {
    pub name: String,
    /// Timeline length: the smallest frame count over the resolutions.
    pub frames: u32,
    /// Frame rate of the lowest resolution (the others are warned about if they differ).
    pub fps: f64,
    pub files: Vec<ResolutionFile>,
}

impl Video {
    pub fn file(&self, label: &str) -> Option<&ResolutionFile> {
        self.files.iter().find(|f| f.label == label)
    }

    /// The video as the `STLI` list shows it.
    pub fn info(&self) -> VideoInfo {
        VideoInfo {
            name: self.name.clone(),
            frames: self.frames,
            fps: self.fps as f32,
            resolutions: self
                .files
                .iter()
                .map(|f| Resolution {
                    label: f.label.clone(),
                    width: f.width.min(u16::MAX as u32) as u16,
                    height: f.height.min(u16::MAX as u32) as u16,
                })
                .collect(),
        }
    }

    /// The segment plan for a play request, or why it cannot be played.
    pub fn plan(&self, mode: &PlayMode) -> Result<Vec<Segment>, VideoError> {
        match mode {
            PlayMode::Split => {
                let labels: Vec<String> = self.files.iter().map(|f| f.label.clone()).collect();
                Ok(split_plan(self.frames, &labels))
            }
            // Every resolution it may use, lowest first, none with frames of its own.
            PlayMode::Auto => Ok(self
                .files
                .iter()
                .map(|f| Segment { label: f.label.clone(), start: 0, frames: 0 })
                .collect()),
            PlayMode::Fixed(label) => match self.file(label) {
                Some(file) => {
                    Ok(vec![Segment { label: file.label.clone(), start: 0, frames: self.frames }])
                }
                None => Err(VideoError::Unknown(format!(
                    "{} has no {label:?} resolution (it has {})",
                    self.name,
                    self.files.iter().map(|f| f.label.as_str()).collect::<Vec<_>>().join(", ")
                ))),
            },
        }
    }
}

/// Every playable video in the videos folder, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub videos: Vec<Video>,
}

impl Catalog {
    /// The video called `name`, exactly. Names come from the client and are only ever compared
    /// with the catalog's, never turned into a path, so `../x` or `/etc/passwd` simply are not
    /// found: nothing outside the videos folder is ever opened.
    pub fn find(&self, name: &str) -> Option<&Video> {
        self.videos.iter().find(|v| v.name == name)
    }

    pub fn infos(&self) -> Vec<VideoInfo> {
        self.videos.iter().map(Video::info).collect()
    }
}

/// What `scan` learned about each file, keyed by path and valid while the file's size and
/// modification time stay the same: a rescan opens only new or changed files.
#[derive(Debug, Clone, Default)]
pub struct ProbeCache {
    entries: HashMap<PathBuf, (u64, Option<SystemTime>, Option<Probe>)>,
}

/// Scans `dir` for `NAME_LABEL.mp4` files, each read by `engine` (the one that will stream
/// it). Returns the catalog and the warnings worth showing (skipped files, labels that
/// disagree with the real height, resolutions that disagree on frame rate or length). Other
/// files are ignored silently.
pub fn scan(dir: &Path, engine: Engine) -> Result<(Catalog, Vec<String>), VideoError> {
    scan_cached(dir, engine, &mut ProbeCache::default())
}

/// `scan`, reusing and updating `cache`.
pub fn scan_cached(
    dir: &Path,
    engine: Engine,
    cache: &mut ProbeCache,
) -> Result<(Catalog, Vec<String>), VideoError> {
    let mut warnings = Vec::new();
    let mut by_name: BTreeMap<String, Vec<ResolutionFile>> = BTreeMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if let Some((name, file)) = resolution_file(&entry, engine, cache, &mut warnings)? {
            by_name.entry(name).or_default().push(file);
        }
    }
    let mut videos: Vec<Video> =
        by_name.into_iter().map(|(name, files)| Video::new(name, files, &mut warnings)).collect();
    videos.truncate(wire::MAX_VIDEOS);
    Ok((Catalog { videos }, warnings))
}

/// The video name and the file of one folder entry, if it is a playable `NAME_LABEL.mp4`.
fn resolution_file(
    entry: &std::fs::DirEntry,
    engine: Engine,
    cache: &mut ProbeCache,
    warnings: &mut Vec<String>,
) -> Result<Option<(String, ResolutionFile)>, VideoError> {
    let file_name = entry.file_name();
    let Some((name, label, label_height)) = file_name.to_str().and_then(parse_file_name) else {
        // A video that will never be listed is said once; other files are not ours to judge.
        if file_name.to_string_lossy().to_ascii_lowercase().ends_with(".mp4") {
            warnings.push(format!(
                "skipping {}: not named NAME_RESOLUTION.mp4 (like demo_360p.mp4)",
                entry.path().display()
            ));
        }
        return Ok(None);
    };
    let path = entry.path();
    let Ok(meta) = entry.metadata() else { return Ok(None) };
    if !meta.is_file() {
        return Ok(None);
    }
    let stamp = (meta.len(), meta.modified().ok());
    let probed = match cache.entries.get(&path) {
        Some((len, modified, probed)) if (*len, *modified) == stamp => *probed,
        _ => {
            let probed = engine.probe(&path)?;
            cache.entries.insert(path.clone(), (stamp.0, stamp.1, probed));
            probed
        }
    };
    let Some(Probe { width, height, frames, fps }) = probed else {
        warnings.push(format!(
            "skipping {}: {} cannot read it, or it has no frames",
            path.display(),
            engine.name()
        ));
        return Ok(None);
    };
    if height != label_height {
        warnings
            .push(format!("{} is labelled {label} but is really {width}x{height}", path.display()));
    }
    let (bytes, modified) = stamp;
    let file =
        ResolutionFile { label, label_height, path, width, height, frames, fps, bytes, modified };
    Ok(Some((name, file)))
}

impl Video {
    /// A video from its files (at least one), with warnings where they disagree.
    fn new(name: String, mut files: Vec<ResolutionFile>, warnings: &mut Vec<String>) -> Video {
        // Heights as numbers: 1080p after 720p (the original sorted the strings).
        files.sort_by_key(|f| f.label_height);
        files.dedup_by_key(|f| f.label_height);
        let frames = files.iter().map(|f| f.frames).min().unwrap_or(0);
        let fps = files.first().map_or(25.0, |f| f.fps);
        if files.iter().any(|f| (f.fps - fps).abs() > 0.01) {
            warnings.push(format!(
                "{name}: resolutions have different frame rates; playing at {fps:.2} fps"
            ));
        }
        if files.iter().any(|f| f.frames != frames) {
            warnings.push(format!(
                "{name}: resolutions have different lengths; playing the shortest, {frames} frames"
            ));
        }
        files.truncate(wire::MAX_RESOLUTIONS);
        Video { name, frames, fps, files }
    }
}

/// The catalog as the server serves it: the last scan, and what is needed to scan again
/// cheaply (what each file held, and which warnings were already logged, so each is logged
/// once, not at every list request).
pub struct LiveCatalog {
    dir: PathBuf,
    engine: Engine,
    /// Swapped whole by a rescan: readers keep the `Arc` they got.
    current: Mutex<Arc<Catalog>>,
    scan: Mutex<ScanState>,
    /// When the last scan ran, and the folder's modification time then.
    last: Mutex<(Instant, Option<SystemTime>)>,
}

/// A folder whose modification time has not changed is scanned again at most this often
/// (a file changed in place does not change the folder's time): a flood of list requests
/// costs a `stat` each, not a scan.
pub const RESCAN_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
struct ScanState {
    probes: ProbeCache,
    warned: HashSet<String>,
}

impl LiveCatalog {
    /// Scans `dir` a first time, reading files with `engine`. An unreadable folder is an
    /// empty catalog (and a warning).
    pub fn open(dir: &Path, engine: Engine) -> LiveCatalog {
        let mut scan = ScanState::default();
        let catalog = scan.run(dir, engine);
        LiveCatalog {
            dir: dir.to_owned(),
            engine,
            current: Mutex::new(Arc::new(catalog)),
            scan: Mutex::new(scan),
            last: Mutex::new((Instant::now(), folder_time(dir))),
        }
    }

    /// The catalog of the last scan.
    pub fn current(&self) -> Arc<Catalog> {
        self.current.lock_anyway().clone()
    }

    /// Scans the folder again, so new files appear without a restart, and returns the new
    /// catalog. Only new or changed files are opened, outside any lock (two rescans at once
    /// just do some work twice).
    pub fn rescan(&self) -> Arc<Catalog> {
        *self.last.lock_anyway() = (Instant::now(), folder_time(&self.dir));
        let mut scan = self.scan.lock_anyway().clone();
        let catalog = Arc::new(scan.run(&self.dir, self.engine));
        *self.scan.lock_anyway() = scan;
        *self.current.lock_anyway() = catalog.clone();
        catalog
    }

    /// The catalog, scanned again if files were added or removed since the last scan, or
    /// if that was more than [`RESCAN_EVERY`] ago.
    pub fn fresh(&self) -> Arc<Catalog> {
        let (when, time) = *self.last.lock_anyway();
        if when.elapsed() >= RESCAN_EVERY || folder_time(&self.dir) != time {
            return self.rescan();
        }
        self.current()
    }

    /// The video called `name`, looking again (as [`LiveCatalog::fresh`]) if it is not in the
    /// last scan: perhaps the file was added since.
    pub fn find(&self, name: &str) -> Option<Video> {
        match self.current().find(name) {
            Some(video) => Some(video.clone()),
            None => self.fresh().find(name).cloned(),
        }
    }
}

/// The folder's modification time (changed by adding, removing or renaming a file in it).
fn folder_time(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

impl ScanState {
    /// Scans `dir`, logging new warnings.
    fn run(&mut self, dir: &Path, engine: Engine) -> Catalog {
        let (catalog, warnings) = scan_cached(dir, engine, &mut self.probes).unwrap_or_else(|e| {
            let why = crate::report::Chain(&e);
            let warning = format!("cannot read the videos folder {}: {why}", dir.display());
            (Catalog::default(), vec![warning])
        });
        for w in warnings {
            if self.warned.insert(w.clone()) {
                warn!("{w}");
            }
        }
        catalog
    }
}

/// A plan as people read it: `144p: 34, 240p: 33, 360p: 33` (server log, client banner).
pub fn describe_plan(plan: &[Segment]) -> String {
    if is_auto(plan) {
        let labels: Vec<&str> = plan.iter().map(|s| s.label.as_str()).collect();
        return format!("auto: {}", labels.join(", "));
    }
    plan.iter().map(|s| format!("{}: {}", s.label, s.frames)).collect::<Vec<_>>().join(", ")
}

/// The frames a stream of `video` on `plan` sends: the whole timeline for `auto`, else the
/// segments' frames.
pub fn plan_frames(video: &Video, plan: &[Segment]) -> u32 {
    if is_auto(plan) { video.frames } else { plan.iter().map(|s| s.frames).sum() }
}

/// Whether a plan is an `auto` stream's: its resolutions, none with frames of its own.
pub fn is_auto(plan: &[Segment]) -> bool {
    !plan.is_empty() && plan.iter().all(|s| s.frames == 0)
}

/// Cuts a timeline of `total` frames into one segment per label, lowest first, as the original
/// did: each gets `total / n` frames and the first also gets the remainder. Empty segments (more
/// resolutions than frames) are left out. The segments cover `0..total` exactly, in order.
pub fn split_plan(total: u32, labels: &[String]) -> Vec<Segment> {
    if labels.is_empty() {
        return Vec::new();
    }
    let n = labels.len() as u32;
    let (each, remainder) = (total / n, total % n);
    let mut start = 0;
    let mut plan = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let frames = if i == 0 { each + remainder } else { each };
        if frames > 0 {
            plan.push(Segment { label: label.clone(), start, frames });
        }
        start += frames;
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn file_names_split_at_the_last_underscore() {
        assert_eq!(parse_file_name("demo_144p.mp4"), Some(("demo".into(), "144p".into(), 144)));
        assert_eq!(
            parse_file_name("my_trip_1080p.mp4"),
            Some(("my_trip".into(), "1080p".into(), 1080))
        );
        for bad in [
            "demo.mp4",
            "demo_144p.avi",
            "_144p.mp4",
            "demo_p.mp4",
            "demo_144.mp4",
            "demo_x4p.mp4",
            "demo_0p.mp4",
            "notes.txt",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_split_gives_the_remainder_to_the_first_segment() {
        let plan = split_plan(100, &labels(&["144p", "360p", "720p"]));
        assert_eq!(
            plan,
            vec![
                Segment { label: "144p".into(), start: 0, frames: 34 },
                Segment { label: "360p".into(), start: 34, frames: 33 },
                Segment { label: "720p".into(), start: 67, frames: 33 },
            ]
        );
    }

    #[test]
    fn the_split_covers_the_timeline_exactly() {
        for total in 0..50 {
            for n in 1..6 {
                let names: Vec<String> = (0..n).map(|i| format!("{}p", 100 * (i + 1))).collect();
                let plan = split_plan(total, &names);
                let mut next = 0;
                for seg in &plan {
                    assert_eq!(seg.start, next);
                    assert!(seg.frames > 0);
                    next += seg.frames;
                }
                assert_eq!(next, total, "total {total}, {n} resolutions");
            }
        }
    }

    #[test]
    fn one_resolution_gets_everything() {
        assert_eq!(
            split_plan(7, &labels(&["360p"])),
            vec![Segment { label: "360p".into(), start: 0, frames: 7 }]
        );
    }

    #[test]
    fn more_resolutions_than_frames_leaves_out_empty_segments() {
        // 2 frames over 3 resolutions: 0 each, remainder 2 to the first.
        assert_eq!(
            split_plan(2, &labels(&["144p", "360p", "720p"])),
            vec![Segment { label: "144p".into(), start: 0, frames: 2 }]
        );
        assert_eq!(split_plan(0, &labels(&["144p"])), vec![]);
        assert_eq!(split_plan(10, &[]), vec![]);
    }
}
