//! Framing, as in step 4 (whose tests cover this same code): a 4-byte tag, a `u32` big-endian
//! length, the payload; one frame read whole at a time, its length checked before allocating.

use std::io::{self, Read, Write};

use byteorder::{BigEndian, ReadBytesExt, WriteBytesExt};

/// No frame is larger: a longer length is a broken or hostile peer, not a message.
pub const MAX_FRAME: u32 = 16 << 20;

/// One frame, written with one `write_all`: the tag, the length, the payload.
pub fn write_frame(mut w: impl Write, tag: &[u8; 4], payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(tag);
    frame.write_u32::<BigEndian>(payload.len() as u32)?;
    frame.extend_from_slice(payload);
    w.write_all(&frame)
}

/// The next frame, read whole; an error when the peer has closed (`UnexpectedEof`) or the
/// length is over [`MAX_FRAME`].
pub fn read_frame(mut r: impl Read) -> io::Result<([u8; 4], Vec<u8>)> {
    let mut tag = [0; 4];
    r.read_exact(&mut tag)?;
    let len = r.read_u32::<BigEndian>()?;
    if len > MAX_FRAME {
        let why = format!("a frame of {len} bytes, over the {MAX_FRAME}-byte limit");
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    let mut payload = vec![0; len as usize];
    r.read_exact(&mut payload)?;
    Ok((tag, payload))
}

/// `name\nrest`: a user's name (names hold no newline) and the bytes after it. Chats carry
/// their recipient (client to server) or their sender (server to client) this way.
pub fn split_name(payload: &[u8]) -> Option<(String, &[u8])> {
    let at = payload.iter().position(|&b| b == b'\n')?;
    let name = std::str::from_utf8(&payload[..at]).ok()?;
    Some((name.to_owned(), &payload[at + 1..]))
}
