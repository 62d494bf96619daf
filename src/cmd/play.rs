//! `STRM`: play a video (the original's stream message), replacing any stream already
//! running. The name is only looked up in the catalog, never used as a path.

use crate::handler::Handler;
use crate::socket::End;
use crate::stream::{StreamConfig, StreamHandle};
use crate::wire::{
    ErrorCode, FrameWriter, MAX_LABEL, MAX_VIDEO_NAME, Message, PlayMode, Reader, Tag, WireError,
};

/// The socket's send buffer for an `auto` stream (the kernel doubles it): a few frames, so
/// that a client reading slowly shows in the video lane within a second, not after megabytes.
pub(super) const AUTO_SEND_BUFFER: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub video: String,
    pub mode: PlayMode,
}

impl Message for Play {
    const TAG: Tag = Tag::STREAM;

    fn write(&self, w: &mut FrameWriter) {
        w.str8(&self.video);
        write_mode(w, &self.mode);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let video = r.str8("video name", MAX_VIDEO_NAME)?;
        Ok(Play { video, mode: read_mode(r)? })
    }
}

/// A play mode on the wire (`STRM`, and `WTCH` starting a watch): split, one resolution, or
/// auto.
pub(super) fn write_mode(w: &mut FrameWriter, mode: &PlayMode) {
    match mode {
        PlayMode::Split => w.u8(0),
        PlayMode::Fixed(label) => {
            w.u8(1);
            w.str8(label);
        }
        PlayMode::Auto => w.u8(2),
    }
}

pub(super) fn read_mode(r: &mut Reader<'_>) -> Result<PlayMode, WireError> {
    match r.u8("play mode")? {
        0 => Ok(PlayMode::Split),
        1 => Ok(PlayMode::Fixed(r.str8("resolution label", MAX_LABEL)?)),
        2 => Ok(PlayMode::Auto),
        _ => Err(WireError::BadValue { what: "play mode" }),
    }
}

impl Play {
    pub(crate) fn apply(self, h: &mut Handler) -> Option<End> {
        h.answer(|h| self.start(h))
    }

    fn start(&self, h: &mut Handler) {
        h.stop_stream();
        // A room's watch on this lane is left alone: one stream a lane.
        h.leave_watch();
        let Some(video) = h.ctx.catalog.find(&self.video) else {
            let text = format!("no video named {:?}", self.video);
            return h.send_error(ErrorCode::UnknownVideo, text);
        };
        let plan = match video.plan(&self.mode) {
            Ok(plan) => plan,
            Err(e) => return h.send_error(ErrorCode::UnknownVideo, e.to_string()),
        };
        let Some(outbox) = h.outbox() else { return };
        if self.mode == PlayMode::Auto {
            // The kernel's send buffer would hold seconds of video before the lane noticed a
            // slow reader: kept small, the lane's fill follows the client's reading. (For the
            // rest of the connection: a size once set cannot be handed back to the kernel.)
            use nix::sys::socket::{setsockopt, sockopt::SndBuf};
            let _ = setsockopt(h.socket, SndBuf, &AUTO_SEND_BUFFER);
        }
        let config = StreamConfig {
            user: h.name.clone(),
            conn: h.id,
            registry: h.ctx.registry.clone(),
            lane: outbox.video().clone(),
            cache: h.ctx.frames.clone(),
            pace: h.ctx.config.pace,
            stall_timeout: h.ctx.config.outbox_timeout,
        };
        match StreamHandle::start(config, video, plan) {
            Ok(handle) => h.stream = Some(handle),
            Err(e) => h.send_error(ErrorCode::VideoFailed, format!("cannot start the stream: {e}")),
        }
    }
}
