//! `RCHT`: a room message, sealed once for each member it is for (`(member, envelope)`).
//! Checked against the membership (`rooms.rs`), then one message of the sender's budget for
//! each member it goes to, never the members'.

use std::time::Instant;

use crate::handler::Handler;
use crate::rooms;
use crate::socket::End;
use crate::wire::{
    ErrorCode, FrameWriter, MAX_ENVELOPE, MAX_NAME, MAX_ROOM, MAX_ROOM_MEMBERS, Message, Reader,
    Tag, WireError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomChat {
    pub room: String,
    pub envelopes: Vec<(String, Vec<u8>)>,
}

impl Message for RoomChat {
    const TAG: Tag = Tag::ROOM_CHAT;

    #[inline]
    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.room);
        w.u16(self.envelopes.len() as u16);
        for (member, envelope) in &self.envelopes {
            w.str8(member);
            w.blob16(envelope);
        }
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let room = r.str8("room", MAX_ROOM)?;
        let count = r.u16("envelope count")? as usize;
        let envelopes = r.list("room envelopes", count, MAX_ROOM_MEMBERS, 3, |r| {
            Ok((r.str8("member", MAX_NAME)?, r.blob16("envelope", MAX_ENVELOPE)?))
        })?;
        Ok(RoomChat { room, envelopes })
    }
}

impl RoomChat {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        let (room, parts) = match rooms::check_chat(h.ctx, &h.name, &self.room, self.envelopes) {
            Ok(checked) => checked,
            // Refused (not a member, an envelope for someone who is not): said, and counted
            // as a drop, so a flood of refused room messages is cut as any flood is.
            Err(refusal) => {
                h.flush_mail();
                return h.refused(refusal);
            }
        };
        if h.mail.over_window(parts.len()) {
            return h.dropped(ErrorCode::RateLimited, super::chat::over_window());
        }
        if !h.budgets.chat.take_n(Instant::now(), parts.len() as u32) {
            let rate = h.ctx.config.chat_rate;
            let text = format!(
                "too many messages: at most {rate} a second, a room message counting one for \
                 each member; messages are being dropped"
            );
            return h.dropped(ErrorCode::RateLimited, text);
        }
        h.mail.room_chat(&room, parts);
        None
    }
}
