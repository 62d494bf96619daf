//! Framing, the idea of step 1: every message is one frame, a 4-byte tag, a `u32` big-endian
//! payload length, then the payload, and a reader takes exactly one frame at a time, whatever
//! TCP did to the bytes (two messages glued in one read, one split over two). The length is
//! checked before anything is allocated.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glued_frames_come_apart_and_a_huge_length_is_refused() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, b"CHAT", b"one").unwrap();
        write_frame(&mut bytes, b"QUIT", b"").unwrap();
        let mut r = &bytes[..];
        assert_eq!(read_frame(&mut r).unwrap(), (*b"CHAT", b"one".to_vec()));
        assert_eq!(read_frame(&mut r).unwrap(), (*b"QUIT", vec![]));
        assert_eq!(read_frame(&mut r).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let huge = [b"CHAT".as_slice(), &u32::MAX.to_be_bytes()].concat();
        assert_eq!(read_frame(&huge[..]).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
