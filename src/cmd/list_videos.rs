//! `STLI`: ask for the video list (the original's stream-list message). Answered with the
//! server's `STLI`, the folder looked at again if it changed.

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{FrameWriter, Message, Reader, ServerMsg, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct ListVideos;

impl Message for ListVideos {
    const TAG: Tag = Tag::VIDEO_LIST;
    fn write(&self, _: &mut FrameWriter) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(ListVideos)
    }
}

impl ListVideos {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send(ServerMsg::VideoList(h.ctx.catalog.fresh().infos()).encode_shared()))
    }
}
