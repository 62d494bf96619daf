//! `RJON`: join `room` (made if new); answered by `RINF`. The rules are `rooms.rs`'s.

use crate::handler::Handler;
use crate::rooms;
use crate::socket::End;
use crate::wire::{FrameWriter, MAX_ROOM, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomJoin {
    pub room: String,
}

impl Message for RoomJoin {
    const TAG: Tag = Tag(*b"RJON");

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.room);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RoomJoin { room: r.str8("room", MAX_ROOM)? })
    }
}

impl RoomJoin {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send(rooms::join(h.ctx, &h.name, &self.room).encode_shared()))
    }
}
