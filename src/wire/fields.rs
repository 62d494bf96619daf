//! The fields a payload is made of, written by [`FrameWriter`] and read by [`Reader`]:
//! numbers, strings and byte strings with a length prefix, lists with a count. A reader
//! checks each length against its bound before it allocates.
//!
//! Every function here is marked `#[inline]`: the decoders that call them live in other
//! modules, and without the hint the release build called these few-instruction readers out
//! of line, which cost about 5 % of the relay's throughput (docs/BENCHMARKS.md, issue #18).

use byteorder::{BigEndian, ByteOrder, ReadBytesExt, WriteBytesExt};

use super::*;

/// Builds a frame: reserves the header, appends fields, then fills in the length.
/// Callers keep every field within its bound (the constants above); encoding does not
/// re-check them, decoding does.
pub struct FrameWriter {
    buf: Vec<u8>,
    /// False for a bare payload (an envelope), which has no header to fill in.
    framed: bool,
}

impl FrameWriter {
    #[inline]
    pub(crate) fn new(tag: Tag) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&tag.0);
        buf.extend_from_slice(&[0; 4]);
        FrameWriter { buf, framed: true }
    }

    /// A writer for a bare payload with no frame header (used for envelopes).
    #[inline]
    pub(crate) fn bare() -> Self {
        FrameWriter { buf: Vec::with_capacity(1024), framed: false }
    }

    #[inline]
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    #[inline]
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.write_u16::<BigEndian>(v).expect("Vec write");
    }
    #[inline]
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.write_u32::<BigEndian>(v).expect("Vec write");
    }
    #[inline]
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.write_u64::<BigEndian>(v).expect("Vec write");
    }
    #[inline]
    pub(crate) fn f32(&mut self, v: f32) {
        self.buf.write_f32::<BigEndian>(v).expect("Vec write");
    }
    #[inline]
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    /// A string after a `u8` length. A longer one is cut at 255 bytes (at a character's
    /// boundary), never wrapped: the frame stays well formed and the reader's bound refuses it.
    #[inline]
    pub(crate) fn str8(&mut self, s: &str) {
        let s = cut(s, u8::MAX as usize);
        self.u8(s.len() as u8);
        self.raw(s.as_bytes());
    }
    /// A string after a `u16` length, cut like `str8`'s.
    #[inline]
    pub(crate) fn str16(&mut self, s: &str) {
        self.blob16(cut(s, u16::MAX as usize).as_bytes());
    }
    /// Bytes after a `u16` length; past 65 535 bytes, cut.
    #[inline]
    pub(crate) fn blob16(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(u16::MAX as usize)];
        self.u16(bytes.len() as u16);
        self.raw(bytes);
    }
    /// A `u32` count, then each user.
    #[inline]
    pub(crate) fn users<'a>(&mut self, users: impl ExactSizeIterator<Item = &'a User>) {
        self.u32(users.len() as u32);
        for user in users {
            self.user(user);
        }
    }
    #[inline]
    pub(crate) fn video(&mut self, video: &VideoInfo) {
        self.str8(&video.name);
        self.u32(video.frames);
        self.f32(video.fps);
        self.u8(video.resolutions.len() as u8);
        for res in &video.resolutions {
            self.str8(&res.label);
            self.u16(res.width);
            self.u16(res.height);
        }
    }

    #[inline]
    pub(crate) fn user(&mut self, user: &User) {
        self.str8(&user.name);
        self.blob16(&user.key);
    }

    /// The frame with its length filled in (or the bare payload).
    #[inline]
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.framed {
            let len = (self.buf.len() - HEADER_LEN) as u32;
            BigEndian::write_u32(&mut self.buf[4..8], len);
        }
        self.buf
    }

    /// The frame with `tail` as its last field, made in one allocation, the shared frame's
    /// own: for a video frame, whose JPEG is most of it, no copy in a growing `Vec` first.
    #[inline]
    pub(crate) fn finish_shared_with(mut self, tail: &[u8]) -> EncodedFrame {
        let len = (self.buf.len() - HEADER_LEN + tail.len()) as u32;
        BigEndian::write_u32(&mut self.buf[4..8], len);
        // A chain of two slices knows its exact length: one allocation, two copies.
        self.buf.iter().chain(tail).copied().collect()
    }
}

/// `s`, or its longest start of at most `max` bytes that ends on a character's boundary.
#[inline]
pub(crate) fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A cursor over one payload. Every read checks the bytes remain; every length is checked
/// against its bound and against what remains before anything is allocated.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    #[inline]
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    #[inline]
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(self.take(2, what)?.read_u16::<BigEndian>().expect("2 bytes"))
    }
    #[inline]
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(self.take(4, what)?.read_u32::<BigEndian>().expect("4 bytes"))
    }
    #[inline]
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(self.take(8, what)?.read_u64::<BigEndian>().expect("8 bytes"))
    }
    #[inline]
    pub(crate) fn f32(&mut self, what: &'static str) -> Result<f32, WireError> {
        let v = self.take(4, what)?.read_f32::<BigEndian>().expect("4 bytes");
        if !v.is_finite() {
            return Err(WireError::BadValue { what });
        }
        Ok(v)
    }
    #[inline]
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], WireError> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }

    #[inline]
    pub(crate) fn bounded(
        &mut self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], WireError> {
        if len > max {
            return Err(WireError::TooLong { what, len, max });
        }
        self.take(len, what)
    }

    /// A string after a `u8` length, at most `max` bytes.
    #[inline]
    pub(crate) fn str8(&mut self, what: &'static str, max: usize) -> Result<String, WireError> {
        let len = self.u8(what)? as usize;
        let bytes = self.bounded(len, max, what)?;
        Ok(std::str::from_utf8(bytes).map_err(|_| WireError::BadUtf8 { what })?.to_owned())
    }
    #[inline]
    pub(crate) fn str16(&mut self, what: &'static str, max: usize) -> Result<String, WireError> {
        let len = self.u16(what)? as usize;
        let bytes = self.bounded(len, max, what)?;
        Ok(std::str::from_utf8(bytes).map_err(|_| WireError::BadUtf8 { what })?.to_owned())
    }
    /// Bytes after a `u16` length, at most `max`.
    #[inline]
    pub(crate) fn blob16(&mut self, what: &'static str, max: usize) -> Result<Vec<u8>, WireError> {
        let len = self.u16(what)? as usize;
        Ok(self.bounded(len, max, what)?.to_vec())
    }

    /// `count` items read by `item`. The count is checked against `max`, and against what the
    /// remaining bytes could hold at `min_entry` bytes an item, before anything is reserved.
    #[inline]
    pub(crate) fn list<T>(
        &mut self,
        what: &'static str,
        count: usize,
        max: usize,
        min_entry: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        if count > max {
            return Err(WireError::TooLong { what, len: count, max });
        }
        if count.saturating_mul(min_entry) > self.buf.len() {
            return Err(WireError::Truncated { what });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// One entry of a video list.
    #[inline]
    pub(crate) fn video(&mut self) -> Result<VideoInfo, WireError> {
        let name = self.str8("video name", MAX_VIDEO_NAME)?;
        let frames = self.u32("frame count")?;
        let fps = self.f32("fps")?;
        let n = self.u8("resolution count")? as usize;
        let resolutions = self.list("resolutions", n, MAX_RESOLUTIONS, 5, |r| {
            Ok(Resolution {
                label: r.str8("resolution label", MAX_LABEL)?,
                width: r.u16("width")?,
                height: r.u16("height")?,
            })
        })?;
        Ok(VideoInfo { name, frames, fps, resolutions })
    }

    /// One segment of a stream's plan.
    #[inline]
    pub(crate) fn segment(&mut self) -> Result<Segment, WireError> {
        Ok(Segment {
            label: self.str8("resolution label", MAX_LABEL)?,
            start: self.u32("segment start")?,
            frames: self.u32("segment frames")?,
        })
    }

    #[inline]
    pub(crate) fn error(&mut self) -> Result<ServerMsg, WireError> {
        let code = self.u16("error code")?;
        let code = ErrorCode::from_u16(code).ok_or(WireError::BadValue { what: "error code" })?;
        Ok(ServerMsg::Error { code, text: self.str16("error text", MAX_ERROR_TEXT)? })
    }

    #[inline]
    pub(crate) fn user(&mut self) -> Result<User, WireError> {
        Ok(User {
            name: self.str8("name", MAX_NAME)?,
            key: self.blob16("public key", MAX_KEY_DER)?,
        })
    }

    #[inline]
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Ends the payload: anything left over is an error, so a frame means one thing only.
    #[inline]
    pub(crate) fn finish(self, tag: Tag) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes { tag, extra: self.buf.len() })
        }
    }
}
