//! What no step of the ladder teaches, shared by all of them: reading the command line, the
//! original's `input()`, and opening, reading and showing a video as the original did (OpenCV's
//! capture, `imencode` at quality 90, `imshow` at 400x250). Each step's own idea lives in its
//! folder; nothing here changes from one step to the next.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use opencv::core::{Size, Vector};
use opencv::prelude::*;
use opencv::{highgui, imgcodecs, imgproc, videoio};

/// The original's fixed port, on loopback instead of the host name's address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:1234";

/// The flags every step takes: `server [--bind ADDR] [--videos DIR]`, `client [--server ADDR]`.
#[derive(Debug, Clone)]
pub struct Args {
    pub bind: String,
    pub videos: PathBuf,
    pub server: String,
    /// `--headless`: frames as lines even with a display (the steps pick by themselves: a
    /// window when `DISPLAY` is set and the output is a terminal).
    pub headless: bool,
}

impl Args {
    /// The flags after the subcommand; an unknown one, or one without its value, is an error.
    pub fn parse(flags: &[String]) -> Result<Args, String> {
        let mut args = Args {
            bind: DEFAULT_ADDR.into(),
            videos: "videos".into(),
            server: DEFAULT_ADDR.into(),
            headless: false,
        };
        let mut flags = flags.iter();
        while let Some(flag) = flags.next() {
            if flag == "--headless" {
                args.headless = true;
                continue;
            }
            if !["--bind", "--videos", "--server"].contains(&flag.as_str()) {
                return Err(format!("unknown flag {flag}"));
            }
            let value = flags.next().ok_or_else(|| format!("{flag} needs a value"))?.clone();
            match flag.as_str() {
                "--bind" => args.bind = value,
                "--videos" => args.videos = value.into(),
                _ => args.server = value,
            }
        }
        Ok(args)
    }

    /// Frames in a window, or as a line each.
    pub fn windowed(&self) -> bool {
        !self.headless && std::env::var_os("DISPLAY").is_some() && io::stdout().is_terminal()
    }
}

/// `input(prompt)`: the prompt, then one line without its newline; `None` at the end of input.
pub fn input(prompt: &str) -> Option<String> {
    print!("{prompt}");
    let _ = io::stdout().flush();
    let mut line = String::new();
    match io::stdin().lock().read_line(&mut line) {
        Ok(1..) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
        _ => None,
    }
}

/// The `.mp4` files of a folder, by file name, sorted.
pub fn mp4_files(dir: &std::path::Path) -> io::Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".mp4"))
        .collect();
    files.sort();
    Ok(files)
}

/// What OpenCV says of a file: its frame count and frames per second (0 when it cannot open).
pub fn frame_count(file: &std::path::Path) -> u32 {
    probe(file, videoio::CAP_PROP_FRAME_COUNT) as u32
}

pub fn fps(file: &std::path::Path) -> f64 {
    probe(file, videoio::CAP_PROP_FPS)
}

fn probe(file: &std::path::Path, prop: i32) -> f64 {
    let Some(path) = file.to_str() else { return 0.0 };
    videoio::VideoCapture::from_file(path, videoio::CAP_ANY)
        .and_then(|cap| cap.get(prop))
        .unwrap_or(0.0)
}

/// A capture of `file`, moved to frame `position` (the original's `cap.set(POS_FRAMES)`).
pub fn open(file: &std::path::Path, position: u32) -> Option<videoio::VideoCapture> {
    let mut cap = videoio::VideoCapture::from_file(file.to_str()?, videoio::CAP_ANY).ok()?;
    cap.set(videoio::CAP_PROP_POS_FRAMES, f64::from(position)).ok()?;
    Some(cap)
}

/// The next frame as a JPEG at quality 90: `None` at the end of the file (or no capture),
/// `Some(None)` for a frame that does not encode.
pub fn next_jpeg(cap: &mut Option<videoio::VideoCapture>) -> Option<Option<Vec<u8>>> {
    let cap = cap.as_mut()?;
    let mut frame = Mat::default();
    if !cap.read(&mut frame).unwrap_or(false) || frame.empty() {
        return None;
    }
    let mut encoded = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 90]);
    let ok = imgcodecs::imencode(".jpg", &frame, &mut encoded, &params).unwrap_or(false);
    Some(ok.then(|| encoded.to_vec()))
}

/// Shows frames: in a window titled `title` at 400x250, or as a line each,
/// `frame N: WIDTHxHEIGHT` (N from 1, the size the JPEG decodes to).
pub struct Screen {
    pub title: String,
    pub windowed: bool,
}

impl Screen {
    /// One frame; `Err` with a reason when it does not decode, `Ok(true)` when `q` was pressed.
    pub fn show(&self, n: u32, jpeg: &[u8]) -> Result<bool, String> {
        let frame = imgcodecs::imdecode(&Vector::<u8>::from_slice(jpeg), imgcodecs::IMREAD_COLOR)
            .map_err(|e| e.to_string())?;
        if frame.empty() {
            return Err("not a JPEG".into());
        }
        if !self.windowed {
            println!("frame {n}: {}x{}", frame.cols(), frame.rows());
            return Ok(false);
        }
        let mut small = Mat::default();
        let size = Size::new(400, 250);
        imgproc::resize(&frame, &mut small, size, 0.0, 0.0, imgproc::INTER_LINEAR)
            .map_err(|e| e.to_string())?;
        highgui::imshow(&self.title, &small).map_err(|e| e.to_string())?;
        Ok(highgui::wait_key(1).map_err(|e| e.to_string())? & 0xFF == i32::from(b'q'))
    }

    pub fn close(&self) {
        if self.windowed {
            let _ = highgui::destroy_all_windows();
        }
    }
}
