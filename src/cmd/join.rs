//! `JOIN`: register a name and a public key, with the proof that we hold the key (our
//! signature of the server's challenge, the name and the key). May be repeated after a
//! refusal. `throwaway`: the key lasts this session only (`--ephemeral`), so the server binds
//! the name to it only while the session lasts. Read by the handshake (`handshake.rs`), which
//! decides; once joined, another one is a mistake the client is told of.

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{
    ErrorCode, FrameWriter, JOIN_KEY, JOIN_NAME, MAX_KEY_DER, MAX_NAME, MAX_PROOF, Message, Reader,
    Tag, WireError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub name: String,
    pub key: Vec<u8>,
    pub proof: Vec<u8>,
    pub throwaway: bool,
}

impl Message for Join {
    const TAG: Tag = Tag(*b"JOIN");

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.name);
        w.blob16(&self.key);
        w.blob16(&self.proof);
        w.u8(u8::from(self.throwaway));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Join {
            name: r.str8(JOIN_NAME, MAX_NAME)?,
            key: r.blob16(JOIN_KEY, MAX_KEY_DER)?,
            proof: r.blob16("proof", MAX_PROOF)?,
            throwaway: match r.u8("join flags")? {
                0 => false,
                1 => true,
                _ => return Err(WireError::BadValue { what: "join flags" }),
            },
        })
    }
}

impl Join {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| h.send_error(ErrorCode::Unexpected, format!("already joined as {}", h.name)))
    }
}
