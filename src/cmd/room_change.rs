//! `RCHG`: a change to a room's membership, signed by the sender (`roster::Change`: make a
//! room, invite, accept, leave, remove). Checked against the room's chain, stored, then sent
//! as `RCHG` to every member and invitee online, the sender included: that is the answer.
//! The rules are `roster.rs`'s and `rooms.rs`'s.

use crate::handler::Handler;
use crate::rooms;
use crate::socket::End;
use crate::wire::{FrameWriter, MAX_CHANGE, Message, Reader, Tag, WireError};

#[derive(Debug, Clone, PartialEq)]
pub struct RoomChange {
    /// The change's bytes (`roster::Change::encode`), parsed by the rules, not the codec.
    pub change: Vec<u8>,
}

impl Message for RoomChange {
    const TAG: Tag = Tag::ROOM_CHANGE;

    fn write(&self, w: &mut FrameWriter) {
        w.blob16(&self.change);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(RoomChange { change: r.blob16("room change", MAX_CHANGE)? })
    }
}

impl RoomChange {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| match rooms::change(h.ctx, &h.name, &self.change) {
            // A member who just joined hears of a watch going on in the room, to take part.
            Ok(Some(joined)) => {
                if let Some(news) = h.ctx.watches.news(&joined) {
                    h.send(news.encode_shared());
                }
            }
            Ok(None) => {}
            Err(refused) => h.send(refused.encode_shared()),
        })
    }
}
