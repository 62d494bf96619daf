//! Rooms on the server: their signed membership changes taken, checked and passed on; lists;
//! and a room message's envelopes checked against the membership before the session keeps
//! them. The chain of changes lasts in the store (`store/rooms.rs`) and its rules are
//! `roster.rs`'s; the members online hear of each change (`RCHG`) through their outboxes.
//! The server never reads a room message: the sender's client sealed it once per member of
//! the roster it checked itself, so a seat the server made up gets nothing.

use log::info;

use crate::context::Context;
use crate::names;
use crate::registry::Recipient;
use crate::roster::{Action, Change, Hash, RosterError, key_hash};
use crate::store::{Room, RoomRefusal};
use crate::wire::{ErrorCode, ServerMsg, User};

/// The answer to a refused room request.
fn refused(e: RoomRefusal) -> ServerMsg {
    let code = match e {
        RoomRefusal::NotMember(_) => ErrorCode::NotInRoom,
        RoomRefusal::InviteOnly(_) => ErrorCode::InviteOnly,
        RoomRefusal::Change(_, RosterError::Full)
        | RoomRefusal::TooMany
        | RoomRefusal::TooManyInvitations(_) => ErrorCode::RoomLimit,
        RoomRefusal::Change(..) => ErrorCode::BadRoomChange,
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

fn bad_change(text: String) -> ServerMsg {
    ServerMsg::Error { code: ErrorCode::BadRoomChange, text }
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

/// `RJON`: `room`'s changes after `since`, for `me` to check and, if it is new or `me` is
/// invited, to sign the change that makes `me` a member (`RCHG`).
pub fn join(ctx: &Context, me: &str, room: &str, since: &Hash) -> ServerMsg {
    if let Err(e) = check(room) {
        return e;
    }
    match ctx.store.changes_since(room, me, since) {
        Ok(changes) => ServerMsg::RoomLog { room: room.to_owned(), changes },
        Err(e) => refused(e),
    }
}

/// `RCHG`: a membership change `me` signed. Checked (by `me`, with `me`'s registered key; an
/// invitee registered with the key the invitation names; then the room's own rules), stored,
/// and sent to every member and invitee online, `me` and the change's subject included.
/// Returns the room, if the change made `me` a member of it (`me` joined).
pub fn change(ctx: &Context, me: &str, bytes: &[u8]) -> Result<Option<String>, ServerMsg> {
    let change = Change::parse(bytes).map_err(|e| bad_change(format!("malformed change: {e}")))?;
    check(&change.room)?;
    let mine = ctx.store.key_of(me).ok().flatten().map(|(_, key)| key);
    if !change.by.eq_ignore_ascii_case(me) || mine.as_deref() != Some(&change.by_key[..]) {
        return Err(bad_change(format!("a change must be signed by you, {me}, with your key")));
    }
    if change.action == Action::Invite {
        let theirs = ctx.store.key_of(&change.subject).ok().flatten();
        if theirs.is_none_or(|(_, key)| key_hash(&key) != change.subject_key) {
            let who = &change.subject;
            return Err(bad_change(format!("no user named {who} is registered with that key")));
        }
    }
    let (before, after) = ctx.store.apply_change(&change, |_| Ok(())).map_err(refused)?;
    info!("{me}: {:?} {} in {}", change.action, change.subject, after.room());
    let frame = ServerMsg::RoomChange { change: bytes.to_vec() }.encode_shared();
    let seats = before.members().iter().chain(before.invited()).chain(after.members());
    let mut told: Vec<&str> = seats.chain(after.invited()).map(|s| s.name.as_str()).collect();
    told.sort_by_key(|n| n.to_ascii_lowercase());
    told.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    // A courtesy, as `DLVD` is: whoever misses it catches up with the chain at their next
    // `RJON`.
    ctx.registry.offer_to(told, &frame);
    let joined = matches!(change.action, Action::Join | Action::Create);
    Ok(joined.then(|| after.room().to_owned()))
}

/// Tells the members of `rooms` that `me`'s seat ended with its name (the store's `Expire`
/// change, if that is the room's last one).
pub fn gone(ctx: &Context, me: &str, rooms: &[String]) {
    for room in rooms {
        let Ok(Some(last)) = ctx.store.last_change(room) else { continue };
        let ended = Change::parse(&last)
            .is_ok_and(|c| c.action == Action::Expire && c.subject.eq_ignore_ascii_case(me));
        if let (true, Ok(room)) = (ended, ctx.store.room_any(room)) {
            let frame = ServerMsg::RoomChange { change: last }.encode_shared();
            ctx.registry.offer_to(room.members.iter().map(String::as_str), &frame);
        }
    }
}

/// `RLST`: the rooms `me` is in, then those `me` is invited to, each with its members.
pub fn list(ctx: &Context, me: &str) -> ServerMsg {
    let invited = ctx.store.seats_of(me, true).map(|rooms| {
        rooms.iter().filter_map(|r| ctx.store.room_any(r).ok()).collect::<Vec<Room>>()
    });
    match ctx.store.rooms_of(me).and_then(|rooms| Ok(rooms.into_iter().chain(invited?))) {
        Ok(rooms) => ServerMsg::RoomList(rooms.map(|r| (r.name, r.members)).collect()),
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
