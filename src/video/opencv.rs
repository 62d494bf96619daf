//! OpenCV, the original's video engine (`--decoder opencv`): `VideoCapture` reads a file to
//! BGR images, `imencode` makes the JPEGs, and `imdecode` reads them back in the client's
//! window. The server reaches this file only through the [`Backend`] trait, with the
//! [`OpenCv`] value the `chatroom` binary passes in: `chatroom-server`, which `chatroom server`
//! runs for the default decoder, never names it, so the linker leaves OpenCV's libraries out
//! of that process (about 40 MB of memory; docs/BENCHMARKS.md, "Video at the machine's limit").

use opencv::core::{self, Mat, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, videoio};
use std::path::{Path, PathBuf};
use std::sync::Once;

use super::source::{Backend, Frame, FrameReader};
use super::{Probe, VideoError};

/// FFmpeg reads and writes MP4 on every platform OpenCV ships for; asking for it directly
/// keeps OpenCV from trying other backends (GStreamer) on a broken file, and their noise.
pub(crate) const BACKEND: i32 = videoio::CAP_FFMPEG;

/// Keeps OpenCV's own log to errors: we report what matters (skipped files...) ourselves.
pub fn quiet_opencv_logs() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let _ = core::set_log_level(core::LogLevel::LOG_LEVEL_ERROR);
    });
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

/// The OpenCV engine, as the server takes it: `Engine::Plugged(&OpenCv)`.
pub struct OpenCv;

impl Backend for OpenCv {
    fn name(&self) -> &'static str {
        "OpenCV"
    }

    fn probe(&self, path: &Path) -> Result<Option<Probe>, VideoError> {
        quiet_opencv_logs();
        let cap = match videoio::VideoCapture::from_file(path, BACKEND) {
            Ok(cap) if cap.is_opened()? => cap,
            _ => return Ok(None),
        };
        Ok(Probe::checked(
            cap.get(videoio::CAP_PROP_FRAME_WIDTH)? as u32,
            cap.get(videoio::CAP_PROP_FRAME_HEIGHT)? as u32,
            cap.get(videoio::CAP_PROP_FRAME_COUNT)?,
            cap.get(videoio::CAP_PROP_FPS)?,
        ))
    }

    fn open(&self, path: &Path, start: u32) -> Result<Box<dyn FrameReader>, VideoError> {
        quiet_opencv_logs();
        Ok(Box::new(FileReader::open(path, start)?))
    }
}

/// A BGR image, JPEG-encoded as the original did.
impl Frame for Mat {
    fn to_jpeg(&self, quality: i32) -> Result<Vec<u8>, VideoError> {
        encode_jpeg(self, quality)
    }
}

/// One resolution file open for reading, frame by frame from a start frame.
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
    pub fn read_image(&mut self) -> Result<Mat, VideoError> {
        let mut image = Mat::default();
        if !self.cap.read(&mut image)? || image.empty() {
            return Err(self.read_error());
        }
        self.position += 1;
        Ok(image)
    }

    fn read_error(&self) -> VideoError {
        VideoError::Read { path: self.path.clone(), position: self.position }
    }
}

impl FrameReader for FileReader {
    fn read(&mut self) -> Result<Box<dyn Frame>, VideoError> {
        Ok(Box::new(self.read_image()?))
    }

    /// Decoded (later frames depend on it) but not converted to BGR.
    fn skip(&mut self) -> Result<(), VideoError> {
        if !self.cap.grab()? {
            return Err(self.read_error());
        }
        self.position += 1;
        Ok(())
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
