//! Rooms on the server: joining, leaving and listing them, and checking a room message's
//! envelopes against the membership before the session keeps them. Membership lasts in the
//! store; the members online hear of each change (`RJND`, `RLFT`) through their outboxes.
//! The server never reads a room message: the sender's client sealed it once per member.

use log::info;

use crate::context::Context;
use crate::names;
use crate::registry::Recipient;
use crate::store::{Room, RoomRefusal};
use crate::wire::{ErrorCode, ServerMsg, User};

/// The answer to a refused room request.
fn refused(e: RoomRefusal) -> ServerMsg {
    let code = match e {
        RoomRefusal::NotMember(_) => ErrorCode::NotInRoom,
        RoomRefusal::Full(_) | RoomRefusal::TooMany => ErrorCode::RoomLimit,
        RoomRefusal::Failed => ErrorCode::NotStored,
    };
    ServerMsg::Error { code, text: e.to_string() }
}

/// A room name that breaks the rules, said as such.
fn check(room: &str) -> Result<(), ServerMsg> {
    names::check_room(room).map_err(|e| ServerMsg::Error {
        code: ErrorCode::NameInvalid,
        text: format!("invalid room name {room:?}: {e}"),
    })
}

/// `RINF`: the room, with each member's key (to seal for them).
fn info(ctx: &Context, room: Room) -> ServerMsg {
    let members = room
        .members
        .iter()
        .filter_map(|m| ctx.store.key_of(m).ok().flatten())
        .map(|(name, key)| User { name, key })
        .collect();
    ServerMsg::RoomInfo { room: room.name, members }
}

/// Tells `room`'s members online, except `me`, what happened. A courtesy, as `DLVD` is: a
/// member whose lane is full misses it (`/rooms` says how things stand).
fn tell(ctx: &Context, room: &Room, me: &str, msg: &ServerMsg) {
    let frame = msg.encode_shared();
    for member in room.members.iter().filter(|m| !m.eq_ignore_ascii_case(me)) {
        if let Some(online) = ctx.registry.lookup(member) {
            online.outbox.offer(frame.clone());
        }
    }
}

/// `RJON`: `me` joins `room` (made if new); the others are told.
pub fn join(ctx: &Context, me: &str, room: &str) -> ServerMsg {
    if let Err(e) = check(room) {
        return e;
    }
    match ctx.store.join_room(room, me) {
        Ok((room, new)) => {
            if new {
                info!("{me} joined {}", room.name);
                let joined = ServerMsg::RoomJoined { room: room.name.clone(), name: me.to_owned() };
                tell(ctx, &room, me, &joined);
            }
            info(ctx, room)
        }
        Err(e) => refused(e),
    }
}

/// `RLEV`: `me` leaves `room`; the others are told, and so is `me` (`RLFT` with its name).
pub fn leave(ctx: &Context, me: &str, room: &str) -> ServerMsg {
    if let Err(e) = check(room) {
        return e;
    }
    match ctx.store.leave_room(room, me) {
        Ok(room) => {
            info!("{me} left {}", room.name);
            let left = ServerMsg::RoomLeft { room: room.name.clone(), name: me.to_owned() };
            tell(ctx, &room, me, &left);
            left
        }
        Err(e) => refused(e),
    }
}

/// Tells the members of `rooms` that `me` is gone from them (its name was released).
pub fn gone(ctx: &Context, me: &str, rooms: &[Room]) {
    for room in rooms {
        let left = ServerMsg::RoomLeft { room: room.name.clone(), name: me.to_owned() };
        tell(ctx, room, me, &left);
    }
}

/// `RLST`: the rooms `me` is in.
pub fn list(ctx: &Context, me: &str) -> ServerMsg {
    match ctx.store.rooms_of(me) {
        Ok(rooms) => ServerMsg::RoomList(rooms.into_iter().map(|r| (r.name, r.members)).collect()),
        Err(e) => {
            log::error!("cannot list {me}'s rooms: {}", crate::report::Chain(&e));
            refused(RoomRefusal::Failed)
        }
    }
}

/// `RQRY`: `room`'s members and keys, for a member about to write to it.
pub fn query(ctx: &Context, me: &str, room: &str) -> ServerMsg {
    if let Err(e) = check(room) {
        return e;
    }
    match ctx.store.room_for(room, me) {
        Ok(room) => info(ctx, room),
        Err(e) => refused(e),
    }
}

/// One room message, checked: for each envelope its member (as registered), their session if
/// online, and the envelope.
pub type Parts = Vec<(String, Option<Recipient>, Vec<u8>)>;

/// Checks a room message from `me`: the room is one `me` is in, and each envelope is for
/// another member, once. Returns the room's name and the parts to keep, or the refusal.
pub fn check_chat(
    ctx: &Context,
    me: &str,
    room: &str,
    envelopes: Vec<(String, Vec<u8>)>,
) -> Result<(String, Parts), ServerMsg> {
    check(room)?;
    let room = ctx.store.room_for(room, me).map_err(refused)?;
    if envelopes.is_empty() {
        let text = format!("a message to {} must be for at least one member", room.name);
        return Err(ServerMsg::Error { code: ErrorCode::Unexpected, text });
    }
    let mut parts: Parts = Vec::with_capacity(envelopes.len());
    for (to, envelope) in envelopes {
        let member = room.members.iter().find(|m| m.eq_ignore_ascii_case(&to));
        let Some(member) = member.filter(|m| !m.eq_ignore_ascii_case(me)) else {
            let text = format!("{to} is not in {} (or is you)", room.name);
            return Err(ServerMsg::Error { code: ErrorCode::NotInRoom, text });
        };
        if parts.iter().any(|(m, _, _)| m == member) {
            let text = format!("two envelopes for {member} in one message to {}", room.name);
            return Err(ServerMsg::Error { code: ErrorCode::Unexpected, text });
        }
        parts.push((member.clone(), ctx.registry.lookup(member), envelope));
    }
    Ok((room.name, parts))
}
