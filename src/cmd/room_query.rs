//! `RQRY`: `room`'s members and their keys (we must be one), to write to it; answered by `RINF`. The rules are `rooms.rs`'s.

use crate::handler::Handler;
use crate::rooms;
use crate::socket::End;
use crate::wire::{FrameWriter, MAX_ROOM, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomQuery {
    pub room: String,
}

impl Message for RoomQuery {
    const TAG: Tag = Tag(*b"RQRY");

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.room);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RoomQuery { room: r.str8("room", MAX_ROOM)? })
    }
}

impl RoomQuery {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send(rooms::query(h.ctx, &h.name, &self.room).encode_shared()))
    }
}
