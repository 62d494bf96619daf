//! The frame around every message: a 4-byte tag and a big-endian `u32` length, checked
//! against the reading side's limits before the payload is read or allocated.

use byteorder::{BigEndian, ByteOrder};
use std::io::{self, Read};

use super::{HEADER_LEN, MAX_FRAME, SERVER_TAGS, Tag, WireError};

/// The limits one side applies to the frames it reads: the tags the other side sends, and
/// the largest payload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub tags: &'static [Tag],
    pub max_payload: usize,
    /// The payload's buffer grows as its bytes arrive, instead of taking the header's length
    /// at its word: for frames from clients, who are not trusted to send what they announce.
    pub grow: bool,
}

impl Limits {
    pub fn accepts(&self, tag: Tag) -> bool {
        self.tags.contains(&tag)
    }
}

/// What a client accepts from the server (the server's own, `cmd::FROM_CLIENT`, is built
/// from the table of client requests).
pub const FROM_SERVER: Limits = Limits { tags: SERVER_TAGS, max_payload: MAX_FRAME, grow: false };

/// Checks that `buf` starts with one whole frame within `limits`, and returns its tag and
/// total length (header included). Allocates nothing.
pub fn check(buf: &[u8], limits: Limits) -> Result<(Tag, usize), WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::Incomplete);
    }
    let (tag, len) = parse_header(buf[..HEADER_LEN].try_into().expect("8 bytes"), limits)?;
    if buf.len() < HEADER_LEN + len {
        return Err(WireError::Incomplete);
    }
    Ok((tag, HEADER_LEN + len))
}

/// Reads the header's tag and length. The tag is checked first, so a stray program (a web
/// browser, say) is told its first bytes are an unknown tag, not an absurd length.
pub fn parse_header(header: &[u8; HEADER_LEN], limits: Limits) -> Result<(Tag, usize), WireError> {
    let tag = Tag(header[..4].try_into().expect("4 bytes"));
    if !limits.accepts(tag) {
        return Err(WireError::UnknownTag(tag));
    }
    let len = BigEndian::read_u32(&header[4..]) as usize;
    if len > limits.max_payload {
        return Err(WireError::TooLong { what: "frame payload", len, max: limits.max_payload });
    }
    Ok((tag, len))
}

/// What can go wrong reading a frame from a stream.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection cleanly, between two frames.
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Reads one raw frame: its tag and payload, with the tag and length checked against `limits`
/// before the payload is allocated. A clean end of stream before the first byte is `Closed`.
/// On the server, a client's payload grows as its bytes arrive, from at most 4 KiB: a header
/// that claims 64 KiB and sends nothing costs it 4 KiB, not 64 (a thousand such connections,
/// 4 MB). The client takes a server frame's length at its word (video frames are large, and
/// one allocation each keeps the copies out of the hot path).
pub fn read_frame(r: &mut impl Read, limits: Limits) -> Result<(Tag, Vec<u8>), ReadError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Err(ReadError::Closed),
            Ok(0) => return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    let (tag, len) = parse_header(&header, limits)?;
    let first = if limits.grow { len.min(4096) } else { len };
    let mut payload = Vec::with_capacity(first);
    r.take(len as u64).read_to_end(&mut payload)?;
    if payload.len() < len {
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok((tag, payload))
}
