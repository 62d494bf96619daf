//! `RLST`: the rooms we are in, each with its members' names; answered by the server's `RLST`.

use crate::handler::Handler;
use crate::rooms;
use crate::socket::End;
use crate::wire::{FrameWriter, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomList;

impl Message for RoomList {
    const TAG: Tag = Tag::ROOM_LIST;
    fn write(&self, _: &mut FrameWriter) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RoomList)
    }
}

impl RoomList {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send(rooms::list(h.ctx, &h.name).encode_shared()))
    }
}
