//! `CHAT`: a sealed envelope for one recipient. The server cannot read it: it checks the
//! sender's budgets, stamps the sender's registered name on it, stores it, and answers `SENT`
//! once it is kept (`mail.rs`).

use std::time::Instant;

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{
    ErrorCode, FrameWriter, MAX_ENVELOPE, MAX_NAME, Message, Reader, Tag, WireError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    pub to: String,
    pub envelope: Vec<u8>,
}

impl Message for Chat {
    const TAG: Tag = Tag::CHAT;

    #[inline]
    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.to);
        w.blob16(&self.envelope);
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Chat {
            to: r.str8("recipient", MAX_NAME)?,
            envelope: r.blob16("envelope", MAX_ENVELOPE)?,
        })
    }
}

/// Why a message past the client's window is refused.
pub(crate) fn over_window() -> String {
    format!(
        "more than {} messages of yours wait for an answer: wait for SENT before sending more; \
         messages are being dropped",
        crate::mail::WINDOW
    )
}

impl Chat {
    /// Within our budgets, taken into the batch to be stored for its recipient. `Some` when
    /// this client is to be cut off for flooding.
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        let config = &h.ctx.config;
        let now = Instant::now();
        if h.mail.over_window(1) {
            return h.dropped(ErrorCode::RateLimited, over_window());
        }
        if !h.budgets.chat.take(now) {
            let text = format!(
                "too many messages: at most {} a second; messages are being dropped",
                config.chat_rate
            );
            return h.dropped(ErrorCode::RateLimited, text);
        }
        let online = h.ctx.registry.lookup(&self.to);
        if let Some(recipient) = &online {
            if !h.budgets.pair(&recipient.name, now) {
                let text = format!(
                    "too many messages to {}: at most {} a second; messages are being dropped",
                    recipient.name, config.pair_rate
                );
                return h.dropped(ErrorCode::RateLimited, text);
            }
            // The recipient's budget is spent by its senders, never by cutting it.
            if !recipient.outbox.take_inbound() {
                let text =
                    format!("{} is receiving too many messages; yours was dropped", recipient.name);
                return h.dropped(ErrorCode::RateLimited, text);
            }
        }
        h.mail.chat(self.to, online, self.envelope);
        None
    }
}
