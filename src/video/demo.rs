//! The synthetic videos `chatroom make-videos` writes: the demo set shipped in `videos/`, and
//! the benchmark video. Every frame shows its name, label and number, and carries its number
//! as a barcode along the top that tests (or a curious student) can read back.

use opencv::core::{self, Mat, Point, Rect, Scalar, Size};
use opencv::prelude::*;
use opencv::{imgproc, videoio};
use std::path::{Path, PathBuf};

use super::VideoError;
use super::opencv::BACKEND;

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

/// The demo set shipped in `videos/` (README, "Videos"): two videos of three resolutions each,
/// a few seconds long, under 3 MB in all. Returns the files written.
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

/// The benchmark videos (docs/BENCHMARKS.md), H.264, 30 frames/s, textured like a real
/// picture: `bench` in 320x240, 640x480 and 1280x720 (the sizes the Python original was measured
/// with), and `hd` in 1920x1080 alone. The files are not shipped (`chatroom make-videos DIR
/// --bench` writes them).
pub fn make_bench_video(dir: &Path, frames: u32) -> Result<Vec<PathBuf>, VideoError> {
    std::fs::create_dir_all(dir)?;
    let sizes = [
        ("bench", "240p", (320, 240)),
        ("bench", "480p", (640, 480)),
        ("bench", "720p", (1280, 720)),
        ("hd", "1080p", (1920, 1080)),
    ];
    let mut written = Vec::new();
    for (name, label, size) in sizes {
        let path = dir.join(format!("{name}_{label}.mp4"));
        write_demo_video(&path, name, label, size, 30.0, frames, Codec::H264, true)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::opencv::{decode_jpeg, encode_jpeg};

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
}
