//! `STOP`: stop the current stream. Its thread sends the end frame; without a stream there
//! is nothing to do (a stop that crosses the stream's natural end is not an error).

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{FrameWriter, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct Stop;

impl Message for Stop {
    const TAG: Tag = Tag(*b"STOP");
    fn write(&self, _: &mut FrameWriter) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Stop)
    }
}

impl Stop {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(Handler::stop_stream)
    }
}
