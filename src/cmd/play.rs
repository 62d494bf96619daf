//! `STRM`: play a video (the original's stream message), replacing any stream already
//! running. The name is only looked up in the catalog, never used as a path.

use crate::handler::Handler;
use crate::socket::End;
use crate::stream::{StreamConfig, StreamHandle};
use crate::video::catalog::Video;
use crate::wire::{
    ErrorCode, FrameWriter, MAX_LABEL, MAX_VIDEO_NAME, Message, PlayMode, Reader, Segment, Tag,
    WireError,
};

/// The socket's send buffer for an `auto` stream (the kernel doubles it): a few frames, so
/// that a client reading slowly shows in the video lane within a second, not after megabytes.
const AUTO_SEND_BUFFER: usize = 64 * 1024;

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

/// `video` in the catalog (its name is only looked up, never used as a path), and its plan
/// for `mode`.
pub(super) fn find(h: &Handler, video: &str, mode: &PlayMode) -> Result<(Video, Vec<Segment>), (ErrorCode, String)> {
    let Some(video) = h.ctx.catalog.find(video) else {
        return Err((ErrorCode::UnknownVideo, format!("no video named {video:?}")));
    };
    let plan = video.plan(mode).map_err(|e| (ErrorCode::UnknownVideo, e.to_string()))?;
    Ok((video, plan))
}

/// Keeps the client's socket send buffer small: the kernel's would hold seconds of video
/// before the video lane noticed a slow reader; small, the lane's fill follows the client's
/// reading (an `auto` stream's resolution, a watch's frames missed). For the rest of the
/// connection: a size once set cannot be handed back to the kernel.
pub(super) fn follow_the_reader(h: &Handler) {
    use nix::sys::socket::{setsockopt, sockopt::SndBuf};
    let _ = setsockopt(h.socket, SndBuf, &AUTO_SEND_BUFFER);
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
        let (video, plan) = match find(h, &self.video, &self.mode) {
            Ok(found) => found,
            Err((code, text)) => return h.send_error(code, text),
        };
        let Some(outbox) = h.outbox() else { return };
        if self.mode == PlayMode::Auto {
            follow_the_reader(h);
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
