//! `QUIT`: leave. What was read before it is stored, then the server closes the connection.

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{FrameWriter, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct Quit;

impl Message for Quit {
    const TAG: Tag = Tag(*b"QUIT");
    fn write(&self, _: &mut FrameWriter) {}
    fn read(_: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Quit)
    }
}

impl Quit {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.flush_mail();
        Some(End::Quit)
    }
}
