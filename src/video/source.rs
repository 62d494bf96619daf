//! Reading frames and making JPEGs: one resolution file opened at any frame and read in order
//! (the frame cache's producers use it), by the engine `--decoder` chose, and the JPEG encoder
//! for what that engine makes. FFmpeg (the default, `video/ffmpeg.rs`) is built in; another
//! engine comes in as a [`Backend`] the binary passes to the server: OpenCV, the original's
//! (`video/opencv.rs`), is the one there is.
//!
//! Why a trait for one other engine: the server's code reaches OpenCV only through it, so a
//! binary that never passes `&OpenCv` in (`chatroom-server`) has no call into OpenCV, and the
//! linker leaves OpenCV's libraries out of that process.

use std::path::Path;

use super::ffmpeg::{self, FfmpegReader, YuvEncoder};
use super::{Probe, VideoError};

/// Which code reads and encodes the server's frames (`--decoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Decoder {
    /// FFmpeg to YUV, libjpeg-turbo from the planes.
    #[default]
    Ffmpeg,
    /// OpenCV's `VideoCapture` to BGR and `imencode`, as the original did.
    #[value(name = "opencv")]
    OpenCv,
}

/// A video engine other than the built-in FFmpeg one.
pub trait Backend: Sync {
    /// For messages: `OpenCV`.
    fn name(&self) -> &'static str;
    /// A file's size, length and frame rate; `None` if it cannot be read or has no frame.
    fn probe(&self, path: &Path) -> Result<Option<Probe>, VideoError>;
    /// Opens `path` so that the first frame read is frame `start`, exactly.
    fn open(&self, path: &Path, start: u32) -> Result<Box<dyn FrameReader>, VideoError>;
}

/// A file open for reading with a [`Backend`].
pub trait FrameReader: Send {
    fn read(&mut self) -> Result<Box<dyn Frame>, VideoError>;
    /// Steps over the next frame: decoded (later frames depend on it) but not converted.
    fn skip(&mut self) -> Result<(), VideoError>;
}

/// A picture a [`Backend`] decoded, which it also knows how to JPEG-encode.
pub trait Frame: Send {
    fn to_jpeg(&self, quality: i32) -> Result<Vec<u8>, VideoError>;
}

/// The engine a server reads video with.
#[derive(Clone, Copy, Default)]
pub enum Engine {
    /// FFmpeg to YUV, libjpeg-turbo from the planes.
    #[default]
    Ffmpeg,
    /// Another engine, passed in by the binary that links it.
    Plugged(&'static dyn Backend),
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Ffmpeg => "FFmpeg",
            Engine::Plugged(backend) => backend.name(),
        }
    }

    /// A file's size, length and frame rate; `None` if it cannot be read or has no frame.
    pub fn probe(&self, path: &Path) -> Result<Option<Probe>, VideoError> {
        match self {
            Engine::Ffmpeg => ffmpeg::probe(path),
            Engine::Plugged(backend) => backend.probe(path),
        }
    }
}

/// A decoded frame, in the form its engine made it.
pub enum Picture {
    Yuv(ffmpeg_next::frame::Video),
    Plugged(Box<dyn Frame>),
}

/// A resolution file open for reading.
pub enum Reader {
    Ffmpeg(Box<FfmpegReader>),
    Plugged(Box<dyn FrameReader>),
}

impl Reader {
    /// Opens `path` so that the first frame read is frame `start`, exactly.
    pub fn open(path: &Path, start: u32, engine: Engine) -> Result<Reader, VideoError> {
        Ok(match engine {
            Engine::Ffmpeg => Reader::Ffmpeg(Box::new(FfmpegReader::open(path, start)?)),
            Engine::Plugged(backend) => Reader::Plugged(backend.open(path, start)?),
        })
    }

    pub fn read(&mut self) -> Result<Picture, VideoError> {
        Ok(match self {
            Reader::Ffmpeg(r) => Picture::Yuv(r.read()?),
            Reader::Plugged(r) => Picture::Plugged(r.read()?),
        })
    }

    /// Steps over the next frame: decoded (later frames depend on it) but not converted.
    pub fn skip(&mut self) -> Result<(), VideoError> {
        match self {
            Reader::Ffmpeg(r) => r.skip(),
            Reader::Plugged(r) => r.skip(),
        }
    }
}

/// Makes JPEGs of either kind of picture at one quality; one per encoder thread.
pub struct JpegEncoder {
    quality: i32,
    yuv: Option<YuvEncoder>,
    /// The last JPEG a [`Backend`] made.
    plugged: Vec<u8>,
}

impl JpegEncoder {
    pub fn new(quality: i32) -> JpegEncoder {
        JpegEncoder { quality, yuv: None, plugged: Vec::new() }
    }

    /// The picture's JPEG, valid until the next call.
    pub fn encode(&mut self, picture: &Picture) -> Result<&[u8], VideoError> {
        match picture {
            Picture::Plugged(frame) => {
                self.plugged = frame.to_jpeg(self.quality)?;
                Ok(&self.plugged)
            }
            Picture::Yuv(frame) => {
                let yuv = match &mut self.yuv {
                    Some(yuv) => yuv,
                    slot => slot.insert(YuvEncoder::new(self.quality)?),
                };
                yuv.encode(frame)
            }
        }
    }
}
