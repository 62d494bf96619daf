//! `PONG`: the answer to a `PING`. Hearing from the client is all it is for (every frame
//! read counts, `connection.rs`).

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{FrameWriter, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct Pong;

impl Message for Pong {
    const TAG: Tag = Tag(*b"PONG");
    fn write(&self, _: &mut FrameWriter) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Pong)
    }
}

impl Pong {
    pub(crate) fn apply(self, _: &mut Handler) -> Option<End> {
        None
    }
}
