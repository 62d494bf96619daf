//! `HELO`: the first frame of every connection, the protocol's magic and version. Read by the
//! handshake (`handshake.rs`); once joined, another one is a mistake the client is told of.

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{ErrorCode, FrameWriter, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    pub magic: [u8; 4],
    pub version: u16,
}

impl Message for Hello {
    const TAG: Tag = Tag::HELLO;

    fn write(&self, w: &mut FrameWriter) {
        w.raw(&self.magic);
        w.u16(self.version);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Hello { magic: r.array("magic")?, version: r.u16("version")? })
    }
}

impl Hello {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send_error(ErrorCode::Unexpected, format!("already joined as {}", h.name)))
    }
}
