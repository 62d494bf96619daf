//! `KEYQ`: ask for a registered user's key, to write to them while they are offline.
//! Answered with `USER`, or `ERRR` (unknown user).

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{
    ErrorCode, FrameWriter, MAX_NAME, Message, Reader, ServerMsg, Tag, User, WireError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct KeyQuery {
    pub name: String,
}

impl Message for KeyQuery {
    const TAG: Tag = Tag(*b"KEYQ");

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.name);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(KeyQuery { name: r.str8("name", MAX_NAME)? })
    }
}

impl KeyQuery {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| match h.ctx.store.key_of(&self.name) {
            Ok(Some((name, key))) => h.send(ServerMsg::UserKey(User { name, key }).encode_shared()),
            Ok(None) => {
                let text = format!("no user named {:?} is online or registered", self.name);
                h.send_error(ErrorCode::UnknownUser, text);
            }
            Err(e) => {
                h.send_error(ErrorCode::Unexpected, format!("cannot look {} up: {e}", self.name))
            }
        })
    }
}
