//! `WTCH`: a room's watch (`watch.rs`), asked for by a member: start one with a video (as
//! `STRM` names one), stop it, pause, play, seek; take part in it (its frames on my video
//! lane) or leave it alone. Each is a request, within the request budget: a member flooding
//! pause and play is cut as any flooder is.

use crate::handler::Handler;
use crate::socket::End;
use crate::watch::{Control, WatchConfig};
use crate::wire::{
    ErrorCode, FrameWriter, MAX_ROOM, MAX_VIDEO_NAME, Message, Reader, SeekTo, Tag,
    WatchAction, WireError,
};


#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    pub room: String,
    pub action: WatchAction,
}

impl Message for Watch {
    const TAG: Tag = Tag::WATCH;

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.room);
        match &self.action {
            WatchAction::Start { video, mode } => {
                w.u8(0);
                w.str8(video);
                super::play::write_mode(w, mode);
            }
            WatchAction::Stop => w.u8(1),
            WatchAction::Pause => w.u8(2),
            WatchAction::Play => w.u8(3),
            WatchAction::Seek(SeekTo::Frame(frame)) => {
                w.u8(4);
                w.u32(*frame);
            }
            WatchAction::Seek(SeekTo::Millis(ms)) => {
                w.u8(5);
                w.u32(*ms);
            }
            WatchAction::Attach => w.u8(6),
            WatchAction::Detach => w.u8(7),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let room = r.str8("room", MAX_ROOM)?;
        let action = match r.u8("watch action")? {
            0 => {
                let video = r.str8("video name", MAX_VIDEO_NAME)?;
                WatchAction::Start { video, mode: super::play::read_mode(r)? }
            }
            1 => WatchAction::Stop,
            2 => WatchAction::Pause,
            3 => WatchAction::Play,
            4 => WatchAction::Seek(SeekTo::Frame(r.u32("frame")?)),
            5 => WatchAction::Seek(SeekTo::Millis(r.u32("milliseconds")?)),
            6 => WatchAction::Attach,
            7 => WatchAction::Detach,
            _ => return Err(WireError::BadValue { what: "watch action" }),
        };
        Ok(Watch { room, action })
    }
}

impl Watch {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| request(h, self.room, self.action))
    }
}


/// `WTCH` from `h`'s member, for `room`: checked (a member of the room), then done.
pub(crate) fn request(h: &mut Handler, room: String, action: WatchAction) {
    let Ok(found) = h.ctx.store.room_for(&room, &h.name) else {
        return h.send_error(ErrorCode::NotInRoom, format!("You are not in {room}"));
    };
    let room = found.name;
    let watches = h.ctx.watches.clone();
    let done = match action {
        WatchAction::Start { video, mode } => start(h, &room, &video, &mode),
        WatchAction::Attach => attach(h, &room),
        WatchAction::Detach => {
            h.watching = None;
            watches.control(&room, Control::Detach { conn: h.id, quiet: false })
        }
        WatchAction::Pause => watches.control(&room, Control::Pause(h.name.clone())),
        WatchAction::Play => watches.control(&room, Control::Play(h.name.clone())),
        WatchAction::Seek(to) => watches.control(&room, Control::Seek(h.name.clone(), to)),
        WatchAction::Stop => watches.control(&room, Control::Stop(h.name.clone())),
    };
    if let Err((code, text)) = done {
        h.send_error(code, text);
    }
}


fn start(
    h: &mut Handler,
    room: &str,
    video: &str,
    mode: &crate::wire::PlayMode,
) -> Result<(), crate::watch::Refused> {
    let (video, plan) = super::play::find(h, video, mode)?;
    let config = WatchConfig {
        registry: h.ctx.registry.clone(),
        store: h.ctx.store.clone(),
        cache: h.ctx.frames.clone(),
        pace: h.ctx.config.pace,
    };
    h.ctx.watches.start(room, &h.name, config, video, plan)?;
    // The starter takes part at once; the other members' clients attach when told.
    attach(h, room)
}

/// `h`'s member takes part in `room`'s watch: its own stream, if any, stops first (one
/// video lane, one stream on it).
fn attach(h: &mut Handler, room: &str) -> Result<(), crate::watch::Refused> {
    h.stop_stream();
    // A member whose link cannot keep up fills its lane within a second (it then misses
    // frames, and is told), not after megabytes the kernel took.
    super::play::follow_the_reader(h);
    let Some(outbox) = h.outbox() else { return Ok(()) };
    let lane = outbox.video().clone();
    let control = Control::Attach { conn: h.id, user: h.name.clone(), lane };
    h.ctx.watches.control(room, control)?;
    // Taking part in another room's watch leaves the one before.
    if let Some(before) = h.watching.replace(room.to_owned())
        && !before.eq_ignore_ascii_case(room)
    {
        h.ctx.watches.leave(&before, h.id);
    }
    Ok(())
}


