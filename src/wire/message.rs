//! What a message kind is to the wire: a tag, how its payload is written, how it is read.
//! Every kind of client request implements [`Message`] in its own file (`src/cmd/`); the
//! messages one side reads form an enum that implements [`Inbound`], so reading a frame is
//! one generic function for both sides.

use std::io::Read;

use super::frame::{Limits, ReadError, check, read_frame};
use super::{FrameWriter, HEADER_LEN, Reader, Tag, WireError};

/// One kind of message: its tag and its payload, both ways.
pub trait Message: Sized {
    /// The frame's four-byte tag.
    const TAG: Tag;
    /// Appends the payload's fields. Callers keep each field within its bound; `read` checks.
    fn write(&self, w: &mut FrameWriter);
    /// Reads the payload's fields, each checked against its bound before it is allocated.
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError>;
}

/// Anything that becomes one whole frame: a message kind, or an enum of them.
pub trait Encode {
    /// The whole frame: header and payload.
    fn encode(&self) -> Vec<u8>;
}

impl<M: Message> Encode for M {
    fn encode(&self) -> Vec<u8> {
        let mut w = FrameWriter::new(M::TAG);
        self.write(&mut w);
        w.finish()
    }
}

/// Every message one side reads: the enum of the other side's kinds.
pub trait Inbound: Sized {
    /// The tags accepted and the largest payload.
    const LIMITS: Limits;
    /// Decodes one payload whose tag and length `LIMITS` accepted.
    fn decode(tag: Tag, payload: &[u8]) -> Result<Self, WireError>;
}

/// Reads one payload as `M`: every byte used, none left over.
#[inline]
pub fn decode_as<M: Message>(payload: &[u8]) -> Result<M, WireError> {
    let mut r = Reader::new(payload);
    let msg = M::read(&mut r)?;
    r.finish(M::TAG)?;
    Ok(msg)
}

/// Parses one frame from the front of `buf`; returns it and the bytes it took.
pub fn parse<M: Inbound>(buf: &[u8]) -> Result<(M, usize), WireError> {
    let (tag, len) = check(buf, M::LIMITS)?;
    Ok((M::decode(tag, &buf[HEADER_LEN..len])?, len))
}

/// Reads and decodes one frame from a stream.
pub fn read<M: Inbound>(r: &mut impl Read) -> Result<M, ReadError> {
    let (tag, payload) = read_frame(r, M::LIMITS)?;
    Ok(M::decode(tag, &payload)?)
}
