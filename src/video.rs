//! Video on the server side, and the only server code that touches OpenCV's video and JPEG
//! functions. The wire carries JPEG bytes, never a `Mat`; the client's window is in
//! `client/player.rs`.
//!
//! - [`catalog`]: the `NAME_LABEL.mp4` files of the videos folder, kept up to date, and the
//!   plan that cuts a timeline across resolutions.
//! - [`source`]: reading a file's frames from any position, and JPEG encoding and decoding,
//!   with either decoder: [`ffmpeg`] (FFmpeg to YUV, libjpeg-turbo from the planes; the
//!   default) or OpenCV (the original's engine).
//! - [`demo`]: the synthetic demo and benchmark videos (`chatroom make-videos`).

pub mod catalog;
pub mod demo;
pub mod ffmpeg;
pub mod source;

use std::path::PathBuf;

/// What can go wrong with a video.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// OpenCV could not open the file (missing, not a video, unsupported codec).
    #[error("cannot open {} as a video", .0.display())]
    Open(PathBuf),
    /// A frame that should exist could not be read.
    #[error("cannot read frame {position} of {}", path.display())]
    Read { path: PathBuf, position: u32 },
    /// The name or label is not in the catalog.
    #[error("{0}")]
    Unknown(String),
    #[error("OpenCV")]
    OpenCv(#[from] opencv::Error),
    #[error("FFmpeg")]
    Ffmpeg(#[from] ffmpeg_next::Error),
    #[error("JPEG encoder")]
    Jpeg(#[from] turbojpeg::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
