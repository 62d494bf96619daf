//! Video on the server side, and the only server code that touches OpenCV: the catalog of
//! `NAME_LABEL.mp4` files, the plan that cuts a timeline across resolutions, the file reader
//! and JPEG encoder the frame cache uses, and the synthetic demo set (`chatroom make-videos`).
//!
//! The wire carries JPEG bytes, never a `Mat`. The window lives in `player.rs`.

use opencv::core::{self, Mat, Point, Rect, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc, videoio};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::wire::{self, PlayMode, Resolution, Segment, VideoInfo};

/// What can go wrong with a video.
#[derive(Debug)]
pub enum VideoError {
    /// OpenCV could not open the file (missing, not a video, unsupported codec).
    Open(PathBuf),
    /// A frame that should exist could not be read.
    Read {
        path: PathBuf,
        position: u32,
    },
    /// The name or label is not in the catalog.
    Unknown(String),
    OpenCv(opencv::Error),
    Io(std::io::Error),
}

impl fmt::Display for VideoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoError::Open(path) => write!(f, "cannot open {} as a video", path.display()),
            VideoError::Read { path, position } => {
                write!(f, "cannot read frame {position} of {}", path.display())
            }
            VideoError::Unknown(what) => write!(f, "{what}"),
            VideoError::OpenCv(e) => write!(f, "OpenCV: {e}"),
            VideoError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for VideoError {}

impl From<opencv::Error> for VideoError {
    fn from(e: opencv::Error) -> Self {
        VideoError::OpenCv(e)
    }
}

impl From<std::io::Error> for VideoError {
    fn from(e: std::io::Error) -> Self {
        VideoError::Io(e)
    }
}

/// FFmpeg reads and writes MP4 on every platform OpenCV ships for; asking for it directly
/// keeps OpenCV from trying other backends (GStreamer) on a broken file, and their noise.
const BACKEND: i32 = videoio::CAP_FFMPEG;

/// Keeps OpenCV's own log to errors: we report what matters (skipped files...) ourselves.
pub fn quiet_opencv_logs() {
    let _ = core::set_log_level(core::LogLevel::LOG_LEVEL_ERROR);
}

// ---------------------------------------------------------------------------------------------
// Catalog.

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
    /// The file's real size and length, as OpenCV reads them.
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub fps: f64,
    /// The file's size and modification time when it was scanned: with the path, they tell
    /// one version of a file from the next (the frame cache keys on them).
    pub bytes: u64,
    pub modified: Option<std::time::SystemTime>,
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

/// A file's width, height, frame count and frame rate; `None` if unplayable.
type Probe = Option<(u32, u32, u32, f64)>;

/// What `scan` learned about each file, keyed by path and valid while the file's size and
/// modification time stay the same: a rescan opens only new or changed files.
#[derive(Debug, Clone, Default)]
pub struct ProbeCache {
    entries: std::collections::HashMap<PathBuf, (u64, Option<std::time::SystemTime>, Probe)>,
}

/// Reads a file's size, length and frame rate; `None` if OpenCV cannot open it or it has no
/// frame.
fn probe(path: &Path) -> Result<Probe, VideoError> {
    let cap = match videoio::VideoCapture::from_file(path, BACKEND) {
        Ok(cap) if cap.is_opened()? => cap,
        _ => return Ok(None),
    };
    let width = cap.get(videoio::CAP_PROP_FRAME_WIDTH)? as u32;
    let height = cap.get(videoio::CAP_PROP_FRAME_HEIGHT)? as u32;
    let frames = cap.get(videoio::CAP_PROP_FRAME_COUNT)?;
    let fps = cap.get(videoio::CAP_PROP_FPS)?;
    // NaN (an unknown count) fails this test too.
    let has_frames = frames.is_finite() && frames >= 1.0;
    if !has_frames || width == 0 || height == 0 {
        return Ok(None);
    }
    let fps = if fps.is_finite() && fps > 0.0 { fps } else { 25.0 };
    Ok(Some((width, height, frames.min(u32::MAX as f64) as u32, fps)))
}

/// Scans `dir` for `NAME_LABEL.mp4` files. Returns the catalog and the warnings worth showing
/// (skipped files, labels that disagree with the real height, resolutions that disagree on
/// frame rate or length). Other files are ignored silently.
pub fn scan(dir: &Path) -> Result<(Catalog, Vec<String>), VideoError> {
    scan_cached(dir, &mut ProbeCache::default())
}

/// `scan`, reusing and updating `cache`.
pub fn scan_cached(
    dir: &Path,
    cache: &mut ProbeCache,
) -> Result<(Catalog, Vec<String>), VideoError> {
    let mut warnings = Vec::new();
    let mut by_name: std::collections::BTreeMap<String, Vec<ResolutionFile>> = Default::default();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry.file_name();
        let Some((name, label, label_height)) = file_name.to_str().and_then(parse_file_name) else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let stamp = (meta.len(), meta.modified().ok());
        let probed = match cache.entries.get(&path) {
            Some((len, modified, probed)) if (*len, *modified) == stamp => *probed,
            _ => {
                let probed = probe(&path)?;
                cache.entries.insert(path.clone(), (stamp.0, stamp.1, probed));
                probed
            }
        };
        let Some((width, height, frames, fps)) = probed else {
            warnings.push(format!(
                "skipping {}: OpenCV cannot read it, or it has no frames",
                path.display()
            ));
            continue;
        };
        if height != label_height {
            warnings.push(format!(
                "{} is labelled {label} but is really {width}x{height}",
                path.display()
            ));
        }
        by_name.entry(name).or_default().push(ResolutionFile {
            label,
            label_height,
            path,
            width,
            height,
            frames,
            fps,
            bytes: stamp.0,
            modified: stamp.1,
        });
    }

    let mut videos = Vec::new();
    for (name, mut files) in by_name {
        // Heights as numbers: 1080p after 720p (the original sorted the strings).
        files.sort_by_key(|f| f.label_height);
        files.dedup_by_key(|f| f.label_height);
        let frames = files.iter().map(|f| f.frames).min().expect("at least one file");
        let fps = files[0].fps;
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
        videos.push(Video { name, frames, fps, files });
    }
    videos.truncate(wire::MAX_VIDEOS);
    Ok((Catalog { videos }, warnings))
}

// ---------------------------------------------------------------------------------------------
// The plan.

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

// ---------------------------------------------------------------------------------------------
// Reading and encoding frames.

/// JPEG-encodes an image at `quality` (1 to 100).
pub fn encode_jpeg(image: &Mat, quality: i32) -> Result<Vec<u8>, VideoError> {
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
    if !imgcodecs::imencode(".jpg", image, &mut buf, &params)? {
        return Err(VideoError::OpenCv(opencv::Error::new(core::StsError, "JPEG encoding failed")));
    }
    Ok(buf.to_vec())
}

/// Decodes JPEG bytes; an empty image (not a JPEG) is an error.
pub fn decode_jpeg(bytes: &[u8]) -> Result<Mat, VideoError> {
    let image = imgcodecs::imdecode(&Vector::<u8>::from_slice(bytes), imgcodecs::IMREAD_COLOR)?;
    if image.empty() {
        return Err(VideoError::OpenCv(opencv::Error::new(core::StsError, "not a JPEG image")));
    }
    Ok(image)
}

/// One resolution file open for reading, frame by frame from a start frame. The frame
/// cache's producers read through it (`cache.rs`).
pub struct FileReader {
    path: PathBuf,
    cap: videoio::VideoCapture,
    /// The index of the next frame `read` or `skip` gives.
    position: u32,
}

impl FileReader {
    /// Opens `path` and seeks to frame `start` (FFmpeg seeks to the key frame before it and
    /// decodes forward, so the frame is exact).
    pub fn open(path: &Path, start: u32) -> Result<FileReader, VideoError> {
        let mut cap = videoio::VideoCapture::from_file(path, BACKEND)?;
        if !cap.is_opened()? {
            return Err(VideoError::Open(path.to_owned()));
        }
        if start > 0 {
            cap.set(videoio::CAP_PROP_POS_FRAMES, start as f64)?;
        }
        Ok(FileReader { path: path.to_owned(), cap, position: start })
    }

    /// The next frame as a BGR image.
    pub fn read(&mut self) -> Result<Mat, VideoError> {
        let mut image = Mat::default();
        if !self.cap.read(&mut image)? || image.empty() {
            return Err(self.read_error());
        }
        self.position += 1;
        Ok(image)
    }

    /// Steps over the next frame: decoded (later frames depend on it) but not converted.
    pub fn skip(&mut self) -> Result<(), VideoError> {
        if !self.cap.grab()? {
            return Err(self.read_error());
        }
        self.position += 1;
        Ok(())
    }

    fn read_error(&self) -> VideoError {
        VideoError::Read { path: self.path.clone(), position: self.position }
    }
}

// ---------------------------------------------------------------------------------------------
// The demo set.

/// The index "barcode": 16 black or white cells across the top band of every demo frame, so
/// a test (or a curious student) can read which frame an image is, even after JPEG.
const INDEX_BITS: i32 = 16;

fn index_band_height(height: i32) -> i32 {
    (height / 12).max(8)
}

/// Draws one demo frame: a moving scene, the frame number and label in text, and the index
/// barcode along the top.
pub fn draw_demo_frame(
    width: i32,
    height: i32,
    index: u32,
    total: u32,
    title: &str,
    label: &str,
) -> Result<Mat, VideoError> {
    let t = index as f64 / total.max(1) as f64;
    let background = Scalar::new(40.0 + 120.0 * t, 60.0, 160.0 - 100.0 * t, 0.0);
    let mut frame = Mat::new_rows_cols_with_default(height, width, core::CV_8UC3, background)?;
    // A ball that crosses the picture and a bar that grows: motion you can see at any size.
    let x = (width as f64 * (0.1 + 0.8 * t)) as i32;
    let y = (height as f64 * (0.55 + 0.25 * (t * std::f64::consts::TAU * 2.0).sin())) as i32;
    let radius = (height / 8).max(4);
    imgproc::circle(
        &mut frame,
        Point::new(x, y),
        radius,
        Scalar::new(0.0, 220.0, 255.0, 0.0),
        -1,
        imgproc::LINE_AA,
        0,
    )?;
    let bar =
        Rect::new(0, height - height / 20 - 2, ((width as f64) * t) as i32 + 1, height / 20 + 2);
    imgproc::rectangle(
        &mut frame,
        bar,
        Scalar::new(255.0, 255.0, 255.0, 0.0),
        -1,
        imgproc::LINE_8,
        0,
    )?;
    let scale = height as f64 / 360.0;
    let text = format!("{title} {label}  frame {index}");
    let org = Point::new(width / 20, index_band_height(height) + (40.0 * scale) as i32 + 4);
    imgproc::put_text(
        &mut frame,
        &text,
        org,
        imgproc::FONT_HERSHEY_SIMPLEX,
        0.9 * scale,
        Scalar::new(255.0, 255.0, 255.0, 0.0),
        ((2.0 * scale) as i32).max(1),
        imgproc::LINE_AA,
        false,
    )?;
    let band = index_band_height(height);
    let cell = width / INDEX_BITS;
    for bit in 0..INDEX_BITS {
        let on = (index >> (INDEX_BITS - 1 - bit)) & 1 == 1;
        let shade = if on { 255.0 } else { 0.0 };
        let rect = Rect::new(bit * cell, 0, cell, band);
        imgproc::rectangle(&mut frame, rect, Scalar::all(shade), -1, imgproc::LINE_8, 0)?;
    }
    Ok(frame)
}

/// Reads the index barcode of a demo frame (after any amount of scaling or JPEG).
pub fn read_demo_index(frame: &Mat) -> Result<u32, VideoError> {
    let (width, height) = (frame.cols(), frame.rows());
    let band = index_band_height(height);
    let cell = width / INDEX_BITS;
    let mut index = 0u32;
    for bit in 0..INDEX_BITS {
        let px = frame.at_2d::<core::Vec3b>(band / 2, bit * cell + cell / 2)?;
        let grey = (px[0] as u32 + px[1] as u32 + px[2] as u32) / 3;
        index = (index << 1) | u32::from(grey > 127);
    }
    Ok(index)
}

/// The codecs `make-videos` writes with, through OpenCV's FFmpeg backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// MPEG-4 part 2 (`mp4v`): small, and encodable by every FFmpeg build.
    Mpeg4,
    /// H.264 (`avc1`, libx264): what real videos use, and the benchmark's video.
    H264,
}

impl Codec {
    fn fourcc(self) -> Result<i32, VideoError> {
        Ok(match self {
            Codec::Mpeg4 => videoio::VideoWriter::fourcc('m', 'p', '4', 'v')?,
            Codec::H264 => videoio::VideoWriter::fourcc('a', 'v', 'c', '1')?,
        })
    }
}

/// Writes one synthetic video file of `frames` frames. When `textured`, a fixed texture is laid
/// under every frame, shifted a little each frame like a slow camera pan, so the picture has the
/// detail of a real one (the benchmark video; JPEG cost grows with detail).
#[allow(clippy::too_many_arguments)]
pub fn write_demo_video(
    path: &Path,
    title: &str,
    label: &str,
    (width, height): (i32, i32),
    fps: f64,
    frames: u32,
    codec: Codec,
    textured: bool,
) -> Result<(), VideoError> {
    let mut writer = videoio::VideoWriter::new_with_backend(
        path,
        BACKEND,
        codec.fourcc()?,
        fps,
        Size::new(width, height),
        true,
    )?;
    if !writer.is_opened()? {
        return Err(VideoError::Open(path.to_owned()));
    }
    let texture = if textured { Some(make_texture(width * 2, height)?) } else { None };
    let mut blended = Mat::default();
    for i in 0..frames {
        let frame = draw_demo_frame(width, height, i, frames, title, label)?;
        match &texture {
            Some(texture) => {
                let pan = (i as i32 * 2) % width;
                let window = Mat::roi(texture, Rect::new(pan, 0, width, height))?;
                core::add_weighted(&frame, 0.6, &window, 0.4, 0.0, &mut blended, -1)?;
                // The barcode must stay readable: copy the band back untouched.
                let band = Rect::new(0, 0, width, index_band_height(height));
                Mat::roi(&frame, band)?.copy_to(&mut Mat::roi_mut(&mut blended, band)?)?;
                writer.write(&blended)?;
            }
            None => writer.write(&frame)?,
        }
    }
    writer.release()?;
    Ok(())
}

/// A fixed pseudo-random picture with detail at several scales (the same every run).
fn make_texture(width: i32, height: i32) -> Result<Mat, VideoError> {
    let mut texture =
        Mat::new_rows_cols_with_default(height, width, core::CV_8UC3, Scalar::all(0.0))?;
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    for _ in 0..(width * height / 256) {
        let (x, y) = ((next() % width as u32) as i32, (next() % height as u32) as i32);
        let radius = 2 + (next() % 24) as i32;
        let colour =
            Scalar::new((next() % 256) as f64, (next() % 256) as f64, (next() % 256) as f64, 0.0);
        imgproc::circle(&mut texture, Point::new(x, y), radius, colour, -1, imgproc::LINE_8, 0)?;
    }
    // Soften the edges, as a camera's optics would.
    let mut soft = Mat::default();
    imgproc::gaussian_blur(&texture, &mut soft, Size::new(5, 5), 0.0, 0.0, core::BORDER_DEFAULT)?;
    Ok(soft)
}

/// The demo set shipped in `videos/` (SPEC §7): two videos of three resolutions each, a few
/// seconds long, under 3 MB in all. Returns the files written.
pub fn make_demo_videos(dir: &Path) -> Result<Vec<PathBuf>, VideoError> {
    std::fs::create_dir_all(dir)?;
    let sizes = [("144p", (256, 144)), ("240p", (426, 240)), ("360p", (640, 360))];
    let videos = [("demo", 25.0, 100), ("orbit", 30.0, 120)];
    let mut written = Vec::new();
    for (title, fps, frames) in videos {
        for (label, size) in sizes {
            let path = dir.join(format!("{title}_{label}.mp4"));
            write_demo_video(&path, title, label, size, fps, frames, Codec::Mpeg4, false)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The benchmark video (docs/BENCHMARKS.md): `bench` in 320x240, 640x480 and 1280x720, H.264,
/// 30 frames/s, textured like a real picture. The sizes are those the Python original was
/// measured with; the files are not shipped (`chatroom make-videos DIR --bench` writes them).
pub fn make_bench_video(dir: &Path, frames: u32) -> Result<Vec<PathBuf>, VideoError> {
    std::fs::create_dir_all(dir)?;
    let sizes = [("240p", (320, 240)), ("480p", (640, 480)), ("720p", (1280, 720))];
    let mut written = Vec::new();
    for (label, size) in sizes {
        let path = dir.join(format!("bench_{label}.mp4"));
        write_demo_video(&path, "bench", label, size, 30.0, frames, Codec::H264, true)?;
        written.push(path);
    }
    Ok(written)
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

    #[test]
    fn the_index_barcode_survives_jpeg() {
        for (w, h) in [(256, 144), (640, 360)] {
            for index in [0, 1, 2, 255, 256, 1000, 65535] {
                let frame = draw_demo_frame(w, h, index, 100, "t", "x").unwrap();
                let back = decode_jpeg(&encode_jpeg(&frame, 60).unwrap()).unwrap();
                assert_eq!(read_demo_index(&back).unwrap(), index);
            }
        }
    }

    #[test]
    fn decoding_rejects_what_is_not_a_jpeg() {
        assert!(decode_jpeg(b"not a jpeg").is_err());
        assert!(decode_jpeg(&[]).is_err());
    }
}
