//! The fast path (`--decoder ffmpeg`, the default): FFmpeg decodes a file to YUV 4:2:0 planes,
//! and libjpeg-turbo compresses those planes directly. OpenCV's path converts the decoder's YUV
//! to BGR, then `imencode` converts BGR back to YCbCr for the JPEG; this one skips both
//! conversions, and the decoder runs on two threads of its own.

use ff::format::Pixel;
use ff::util::color::Range;
use ffmpeg_next as ff;
use log::warn;
use std::path::{Path, PathBuf};
use std::sync::Once;

use super::{Probe, VideoError};

/// Decoder threads per file: with the encoder on its own thread, one stream uses both cores.
const DECODER_THREADS: usize = 2;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        // Our own log lines say what matters; FFmpeg's would repeat it on stderr.
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// A file's size, length and frame rate, from its headers (nothing decoded); `None` if FFmpeg
/// cannot open it or it has no frame. The length is the container's frame count, or, where
/// it gives none, the duration times the frame rate: what OpenCV reports too.
pub fn probe(path: &Path) -> Result<Option<Probe>, VideoError> {
    init();
    let Ok(input) = ff::format::input(&path) else { return Ok(None) };
    let Some(stream) = input.streams().best(ff::media::Type::Video) else { return Ok(None) };
    let Ok(decoder) = ff::codec::context::Context::from_parameters(stream.parameters())
        .and_then(|c| c.decoder().video())
    else {
        return Ok(None);
    };
    let rate = match stream.avg_frame_rate() {
        r if r.numerator() > 0 && r.denominator() > 0 => r,
        _ => stream.rate(),
    };
    let fps = if rate.numerator() > 0 && rate.denominator() > 0 { f64::from(rate) } else { 0.0 };
    let frames = if stream.frames() > 0 {
        stream.frames() as f64
    } else {
        let seconds = if stream.duration() > 0 {
            stream.duration() as f64 * f64::from(stream.time_base())
        } else {
            input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
        };
        (seconds * fps).round()
    };
    Ok(Probe::checked(decoder.width(), decoder.height(), frames, fps))
}

/// One video file open for reading, frame by frame from a start frame.
pub struct FfmpegReader {
    path: PathBuf,
    input: ff::format::context::Input,
    stream: usize,
    decoder: ff::decoder::Video,
    /// Seconds per timestamp unit, and frames per second: a frame's index is
    /// `(pts - start_pts) * time_base * fps`.
    time_base: f64,
    fps: f64,
    start_pts: i64,
    /// The index of the next frame `read` gives.
    position: u32,
    /// The frame a seek stopped on, given by the next `read`.
    pending: Option<ff::frame::Video>,
    /// The end of the file has been given to the decoder.
    drained: bool,
    /// Packets that failed to decode, logged once per file.
    warned: bool,
    /// For pixel formats other than YUV 4:2:0.
    scaler: Option<ff::software::scaling::Context>,
}

impl FfmpegReader {
    /// Opens `path` at frame `start`: seeks to the key frame at or before it, then decodes
    /// forward and drops the frames before `start`, so the first frame read is exactly `start`.
    pub fn open(path: &Path, start: u32) -> Result<FfmpegReader, VideoError> {
        init();
        let open_err = || VideoError::Open(path.to_owned());
        let input = ff::format::input(&path).map_err(|_| open_err())?;
        let stream = input.streams().best(ff::media::Type::Video).ok_or_else(open_err)?;
        let (index, time_base, rate) =
            (stream.index(), stream.time_base(), stream.avg_frame_rate());
        let start_pts =
            if stream.start_time() == ff::ffi::AV_NOPTS_VALUE { 0 } else { stream.start_time() };
        let mut context = ff::codec::context::Context::from_parameters(stream.parameters())?;
        context.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Frame,
            count: DECODER_THREADS,
            ..Default::default()
        });
        let decoder = context.decoder().video()?;
        let fps =
            if rate.denominator() > 0 && rate.numerator() > 0 { f64::from(rate) } else { 25.0 };
        let mut reader = FfmpegReader {
            path: path.to_owned(),
            input,
            stream: index,
            decoder,
            time_base: f64::from(time_base),
            fps,
            start_pts,
            position: 0,
            pending: None,
            drained: false,
            warned: false,
            scaler: None,
        };
        if start > 0 {
            reader.seek(start)?;
        }
        Ok(reader)
    }

    fn seek(&mut self, start: u32) -> Result<(), VideoError> {
        // In microseconds (the unit of a seek over all streams), at or before the frame.
        let at = (f64::from(start) / self.fps * 1e6) as i64;
        self.input.seek(at, ..at).map_err(|_| self.read_error())?;
        self.decoder.flush();
        self.position = start;
        loop {
            let frame = self.decode()?;
            if self.index_of(&frame) >= start {
                self.pending = Some(frame);
                return Ok(());
            }
        }
    }

    fn index_of(&self, frame: &ff::frame::Video) -> u32 {
        let pts = frame.timestamp().or(frame.pts()).unwrap_or(self.start_pts);
        let seconds = (pts - self.start_pts) as f64 * self.time_base;
        (seconds * self.fps).round().max(0.0) as u32
    }

    /// The next frame, in YUV 4:2:0.
    pub fn read(&mut self) -> Result<ff::frame::Video, VideoError> {
        let frame = self.next_frame()?;
        self.converted(frame)
    }

    /// Steps over the next frame: decoded (later frames depend on it) but not converted.
    pub fn skip(&mut self) -> Result<(), VideoError> {
        self.next_frame().map(drop)
    }

    /// The frame at `position`. A frame the file lacks (its packet did not decode) is filled by
    /// the next one, so every later frame keeps its own index on the timeline.
    fn next_frame(&mut self) -> Result<ff::frame::Video, VideoError> {
        let frame = match self.pending.take() {
            Some(frame) => frame,
            None => self.decode()?,
        };
        if self.index_of(&frame) > self.position {
            self.pending = Some(frame.clone());
        }
        self.position += 1;
        Ok(frame)
    }

    /// The decoder's next frame, feeding it packets of our stream as it needs them. A packet
    /// that fails to decode is skipped (logged once for the file).
    fn decode(&mut self) -> Result<ff::frame::Video, VideoError> {
        let mut frame = ff::frame::Video::empty();
        loop {
            if self.decoder.receive_frame(&mut frame).is_ok() {
                return Ok(frame);
            }
            if self.drained {
                return Err(self.read_error());
            }
            match self.input.packets().next() {
                Some((stream, packet)) if stream.index() == self.stream => {
                    if let Err(e) = self.decoder.send_packet(&packet)
                        && !std::mem::replace(&mut self.warned, true)
                    {
                        warn!(
                            "{}: skipping a packet that does not decode ({e})",
                            self.path.display()
                        );
                    }
                }
                Some(_) => {}
                None => {
                    self.drained = true;
                    let _ = self.decoder.send_eof();
                }
            }
        }
    }

    /// `frame` in YUV 4:2:0, converted if the file uses another pixel format.
    fn converted(&mut self, frame: ff::frame::Video) -> Result<ff::frame::Video, VideoError> {
        if matches!(frame.format(), Pixel::YUV420P | Pixel::YUVJ420P) {
            return Ok(frame);
        }
        let (w, h) = (frame.width(), frame.height());
        let scaler = match &mut self.scaler {
            Some(s) if s.input().format == frame.format() => s,
            slot => slot.insert(ff::software::scaling::Context::get(
                frame.format(),
                w,
                h,
                Pixel::YUV420P,
                w,
                h,
                ff::software::scaling::Flags::BILINEAR,
            )?),
        };
        let mut out = ff::frame::Video::empty();
        scaler.run(&frame, &mut out)?;
        Ok(out)
    }

    fn read_error(&self) -> VideoError {
        VideoError::Read { path: self.path.clone(), position: self.position }
    }
}

/// A JPEG compressor for YUV 4:2:0 frames, one per encoder thread.
pub struct YuvEncoder {
    compressor: turbojpeg::Compressor,
    /// Limited-range planes expanded to the full range JPEG uses (reused between frames).
    planes: [Vec<u8>; 3],
    /// The JPEG of the last frame, at the start of a buffer of the largest size a JPEG of
    /// these frames can have (reused between frames: the encoder allocates nothing per frame).
    out: Vec<u8>,
}

impl YuvEncoder {
    pub fn new(quality: i32) -> Result<YuvEncoder, VideoError> {
        let mut compressor = turbojpeg::Compressor::new()?;
        compressor.set_quality(quality)?;
        compressor.set_subsamp(turbojpeg::Subsamp::Sub2x2)?;
        Ok(YuvEncoder { compressor, planes: Default::default(), out: Vec::new() })
    }

    /// Compresses a YUV 4:2:0 frame. Video is usually "limited range" (black at 16, white at
    /// 235); JPEG is full range, so those frames are expanded first, or the picture would come
    /// out grey and flat.
    pub fn encode(&mut self, frame: &ff::frame::Video) -> Result<&[u8], VideoError> {
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let full = matches!(frame.format(), Pixel::YUVJ420P) || frame.color_range() == Range::JPEG;
        let strides = [frame.stride(0), frame.stride(1), frame.stride(2)];
        if !full {
            for (plane, out) in self.planes.iter_mut().enumerate() {
                let data = frame.data(plane);
                out.resize(data.len(), 0);
                if plane == 0 {
                    expand_luma(data, out);
                } else {
                    expand_chroma(data, out);
                }
            }
        }
        let plane = |i: usize| if full { frame.data(i) } else { &self.planes[i][..] };
        let image = turbojpeg::YuvPlanesImage {
            y_plane: plane(0),
            u_plane: plane(1),
            v_plane: plane(2),
            width,
            height,
            y_stride: strides[0],
            u_stride: strides[1],
            v_stride: strides[2],
            subsamp: turbojpeg::Subsamp::Sub2x2,
        };
        let most = self.compressor.buf_len(width, height)?;
        if self.out.len() < most {
            // Zeroed by the kernel as pages are first written: only what JPEGs use is memory.
            self.out = vec![0; most];
        }
        let len = self.compressor.compress_yuv_planes_to_slice(&image, &mut self.out)?;
        Ok(&self.out[..len])
    }
}

/// Limited to full range, luma 16..=235 to 0..=255: `(v - 16) * 255/219`, the gain in
/// 1/128ths (149). The arithmetic is 16 bits wide on purpose: `239 * 149 + 64` still fits a
/// `u16`, and 16-bit lanes let the compiler handle 8 or 16 bytes an instruction (its 32-bit
/// form cost the server 5 % of its time; a table lookup a byte, 8 %).
fn expand_luma(data: &[u8], out: &mut [u8]) {
    for (o, &v) in out.iter_mut().zip(data) {
        let x = u16::from(v.saturating_sub(16));
        *o = ((x * 149 + 64) >> 7).min(255) as u8;
    }
}

/// Chroma 16..=240 around 128 to 0..=255: `(v - 128) * 255/224 + 128`, the gain in 1/128ths
/// (146); `±128 * 146` fits an `i16`.
fn expand_chroma(data: &[u8], out: &mut [u8]) {
    for (o, &v) in out.iter_mut().zip(data) {
        let x = i16::from(v) - 128;
        *o = (((x * 146 + 64) >> 7) + 128).clamp(0, 255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_range_expands_to_full_range() {
        let mut luma = [0u8; 5];
        expand_luma(&[0, 16, 126, 235, 255], &mut luma);
        assert_eq!(luma, [0, 0, 128, 255, 255]);
        let mut chroma = [0u8; 5];
        expand_chroma(&[0, 16, 128, 240, 255], &mut chroma);
        assert_eq!(chroma, [0, 0, 128, 255, 255]);
    }

    #[test]
    fn every_value_expands_to_within_one_of_the_exact_scale() {
        let all: Vec<u8> = (0..=255).collect();
        let (mut luma, mut chroma) = ([0u8; 256], [0u8; 256]);
        expand_luma(&all, &mut luma);
        expand_chroma(&all, &mut chroma);
        for v in 0..=255u8 {
            let exact = |from: f64, gain: f64, to: f64| {
                ((f64::from(v) - from) * gain + to).round().clamp(0.0, 255.0)
            };
            let l = exact(16.0, 255.0 / 219.0, 0.0);
            let c = exact(128.0, 255.0 / 224.0, 128.0);
            assert!((f64::from(luma[usize::from(v)]) - l).abs() <= 1.0, "luma {v}");
            assert!((f64::from(chroma[usize::from(v)]) - c).abs() <= 1.0, "chroma {v}");
        }
    }
}
