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
    /// Nothing to do (every frame counts as heard), but within the requests' budget: one is
    /// due every 30 s or so, and a flood of them is cut as any flood is.
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|_| {})
    }
}
