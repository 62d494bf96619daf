//! `RJON`: join `room`, or catch up with it: answered by `RLOG`, the room's signed changes
//! after `since` (the last one the client holds; all of them for [`GENESIS`](crate::roster::GENESIS)), empty
//! for a room that does not exist yet. The client then signs what joining takes (`RCHG`):
//! making the room, or accepting its invitation. Someone neither in the room, invited, nor
//! ever in it is refused: the room is invite-only. The rules are `rooms.rs`'s.

use crate::handler::Handler;
use crate::roster::Hash;
use crate::rooms;
use crate::socket::End;
use crate::wire::{FrameWriter, MAX_ROOM, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomJoin {
    pub room: String,
    pub since: Hash,
}

impl Message for RoomJoin {
    const TAG: Tag = Tag(*b"RJON");

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.room);
        w.raw(&self.since);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RoomJoin { room: r.str8("room", MAX_ROOM)?, since: r.array("last change")? })
    }
}

impl RoomJoin {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send(rooms::join(h.ctx, &h.name, &self.room, &self.since).encode_shared()))
    }
}
