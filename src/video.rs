//! Video on the server side. The wire carries JPEG bytes, never a `Mat`; the client's window
//! is in `client/player.rs`.
//!
//! - [`catalog`]: the `NAME_LABEL.mp4` files of the videos folder, kept up to date, and the
//!   plan that cuts a timeline across resolutions.
//! - [`source`]: reading a file's frames from any position, and JPEG encoding, with the
//!   engine `--decoder` chose: [`ffmpeg`] (FFmpeg to YUV, libjpeg-turbo from the planes; the
//!   default) or [`opencv`] (the original's engine, and the JPEG decoding of the client's
//!   window), which the server reaches only through a trait.
//! - [`demo`]: the synthetic demo and benchmark videos (`chatroom make-videos`).

pub mod catalog;
pub mod demo;
pub mod ffmpeg;
pub mod opencv;
pub mod source;

use std::path::PathBuf;

/// What a scan learns of a resolution file, by whichever engine reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub fps: f64,
}

impl Probe {
    /// A probe from what an engine reports, or `None` for a file with no frame or no size
    /// (an unknown frame count, NaN, counts as none). An unknown frame rate is 25.
    pub fn checked(width: u32, height: u32, frames: f64, fps: f64) -> Option<Probe> {
        if !(frames.is_finite() && frames >= 1.0) || width == 0 || height == 0 {
            return None;
        }
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 25.0 };
        Some(Probe { width, height, frames: frames.min(u32::MAX as f64) as u32, fps })
    }
}

/// What can go wrong with a video.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The engine could not open the file (missing, not a video, unsupported codec).
    #[error("cannot open {} as a video", .0.display())]
    Open(PathBuf),
    /// A frame that should exist could not be read.
    #[error("cannot read frame {position} of {}", path.display())]
    Read { path: PathBuf, position: u32 },
    /// The name or label is not in the catalog.
    #[error("{0}")]
    Unknown(String),
    #[error("OpenCV")]
    OpenCv(#[from] ::opencv::Error),
    #[error("FFmpeg")]
    Ffmpeg(#[from] ffmpeg_next::Error),
    #[error("JPEG encoder")]
    Jpeg(#[from] turbojpeg::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
