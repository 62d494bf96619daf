//! `ACKN`: the message `id` (a `CHAT` or `RCHT` from the server) is shown, or dropped for
//! good: the server deletes it, with the next batch. Until then it is sent again at every join.

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{ErrorCode, FrameWriter, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub id: u64,
}

impl Message for Ack {
    const TAG: Tag = Tag(*b"ACKN");

    #[inline]
    fn write(&self, w: &mut FrameWriter) {
        w.u64(self.id);
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Ack { id: r.u64("message id")? })
    }
}

impl Ack {
    /// Good only for a message sent this session (`outbox::Sent`): any other is dropped,
    /// and a flood of them cut, as any flood is.
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        if !h.sent.covers(h.acked, self.id) {
            let text = format!("acknowledgement of message {}, which was not sent to you", self.id);
            return h.dropped(ErrorCode::Unexpected, text);
        }
        h.acked += 1;
        h.mail.ack(self.id);
        None
    }
}
