//! Reading frames and making JPEGs: one resolution file opened at any frame and read in order
//! (the frame cache's producers use it), by either decoder, and the JPEG encoder for what each
//! decoder makes. `--decoder ffmpeg` (the default) is `video/ffmpeg.rs`; `--decoder opencv` is
//! the original's engine, OpenCV's `VideoCapture` and `imencode`.

use opencv::core::{self, Mat, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, videoio};
use std::path::{Path, PathBuf};

use super::VideoError;

/// FFmpeg reads and writes MP4 on every platform OpenCV ships for; asking for it directly
/// keeps OpenCV from trying other backends (GStreamer) on a broken file, and their noise.
pub(crate) const BACKEND: i32 = videoio::CAP_FFMPEG;

/// Keeps OpenCV's own log to errors: we report what matters (skipped files...) ourselves.
pub fn quiet_opencv_logs() {
    let _ = core::set_log_level(core::LogLevel::LOG_LEVEL_ERROR);
}

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

/// Which code reads and encodes the server's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Decoder {
    /// FFmpeg to YUV, libjpeg-turbo from the planes.
    #[default]
    Ffmpeg,
    /// OpenCV's `VideoCapture` to BGR and `imencode`, as the original did.
    OpenCv,
}

/// A decoded frame, in the form its decoder made it.
pub enum Picture {
    Bgr(Mat),
    Yuv(ffmpeg_next::frame::Video),
}

/// A resolution file open for reading with either decoder.
pub enum Reader {
    OpenCv(FileReader),
    Ffmpeg(Box<super::ffmpeg::FfmpegReader>),
}

impl Reader {
    /// Opens `path` so that the first frame read is frame `start`, exactly.
    pub fn open(path: &Path, start: u32, decoder: Decoder) -> Result<Reader, VideoError> {
        Ok(match decoder {
            Decoder::OpenCv => Reader::OpenCv(FileReader::open(path, start)?),
            Decoder::Ffmpeg => {
                Reader::Ffmpeg(Box::new(super::ffmpeg::FfmpegReader::open(path, start)?))
            }
        })
    }

    pub fn read(&mut self) -> Result<Picture, VideoError> {
        Ok(match self {
            Reader::OpenCv(r) => Picture::Bgr(r.read()?),
            Reader::Ffmpeg(r) => Picture::Yuv(r.read()?),
        })
    }

    /// Steps over the next frame: decoded (later frames depend on it) but not converted.
    pub fn skip(&mut self) -> Result<(), VideoError> {
        match self {
            Reader::OpenCv(r) => r.skip(),
            Reader::Ffmpeg(r) => r.skip(),
        }
    }
}

/// Makes JPEGs of either kind of picture at one quality; one per encoder thread.
pub struct JpegEncoder {
    quality: i32,
    yuv: Option<super::ffmpeg::YuvEncoder>,
}

impl JpegEncoder {
    pub fn new(quality: i32) -> JpegEncoder {
        JpegEncoder { quality, yuv: None }
    }

    pub fn encode(&mut self, picture: &Picture) -> Result<Vec<u8>, VideoError> {
        match picture {
            Picture::Bgr(image) => encode_jpeg(image, self.quality),
            Picture::Yuv(frame) => {
                let yuv = match &mut self.yuv {
                    Some(yuv) => yuv,
                    slot => slot.insert(super::ffmpeg::YuvEncoder::new(self.quality)?),
                };
                yuv.encode(frame)
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_rejects_what_is_not_a_jpeg() {
        assert!(decode_jpeg(b"not a jpeg").is_err());
        assert!(decode_jpeg(&[]).is_err());
    }
}
