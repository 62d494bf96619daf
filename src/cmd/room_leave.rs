//! `RLEV`: leave `room`; answered by `RLFT` with our own name. The rules are `rooms.rs`'s.

use crate::handler::Handler;
use crate::rooms;
use crate::socket::End;
use crate::wire::{FrameWriter, MAX_ROOM, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomLeave {
    pub room: String,
}

impl Message for RoomLeave {
    const TAG: Tag = Tag(*b"RLEV");

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.room);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RoomLeave { room: r.str8("room", MAX_ROOM)? })
    }
}

impl RoomLeave {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send(rooms::leave(h.ctx, &h.name, &self.room).encode_shared()))
    }
}
