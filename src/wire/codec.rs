//! Each message's payload, to bytes and back: one arm per message in `encode` and `decode`,
//! built from the field helpers of `fields.rs`. `decode` checks every field against its bound.

use super::*;

impl ClientMsg {
    pub fn tag(&self) -> Tag {
        match self {
            ClientMsg::Hello { .. } => Tag::HELLO,
            ClientMsg::Join { .. } => Tag::JOIN,
            ClientMsg::RoomJoin { .. } => Tag::ROOM_JOIN,
            ClientMsg::RoomLeave { .. } => Tag::ROOM_LEAVE,
            ClientMsg::RoomList => Tag::ROOM_LIST,
            ClientMsg::RoomQuery { .. } => Tag::ROOM_QUERY,
            ClientMsg::RoomChat { .. } => Tag::ROOM_CHAT,
            ClientMsg::Chat { .. } => Tag::CHAT,
            ClientMsg::Ack { .. } => Tag::ACK,
            ClientMsg::KeyQuery { .. } => Tag::KEY_QUERY,
            ClientMsg::Pong => Tag::PONG,
            ClientMsg::ListVideos => Tag::VIDEO_LIST,
            ClientMsg::Play { .. } => Tag::STREAM,
            ClientMsg::Stop => Tag::STOP,
            ClientMsg::Quit => Tag::QUIT,
        }
    }

    /// The whole frame: header and payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = FrameWriter::new(self.tag());
        match self {
            ClientMsg::Hello { magic, version } => {
                w.raw(magic);
                w.u16(*version);
            }
            ClientMsg::Join { name, key, proof, throwaway } => {
                w.str8(name);
                w.blob16(key);
                w.blob16(proof);
                w.u8(u8::from(*throwaway));
            }
            ClientMsg::KeyQuery { name } => w.str8(name),
            ClientMsg::RoomJoin { room }
            | ClientMsg::RoomLeave { room }
            | ClientMsg::RoomQuery { room } => w.str8(room),
            ClientMsg::RoomList => {}
            ClientMsg::RoomChat { room, envelopes } => {
                w.str8(room);
                w.u16(envelopes.len() as u16);
                for (member, envelope) in envelopes {
                    w.str8(member);
                    w.blob16(envelope);
                }
            }
            ClientMsg::Chat { to, envelope } => {
                w.str8(to);
                w.blob16(envelope);
            }
            ClientMsg::Ack { id } => w.u64(*id),
            ClientMsg::Play { video, mode } => {
                w.str8(video);
                match mode {
                    PlayMode::Split => w.u8(0),
                    PlayMode::Fixed(label) => {
                        w.u8(1);
                        w.str8(label);
                    }
                    PlayMode::Auto => w.u8(2),
                }
            }
            ClientMsg::ListVideos | ClientMsg::Stop | ClientMsg::Quit | ClientMsg::Pong => {}
        }
        w.finish()
    }

    /// Decodes one payload. The caller has already checked `payload.len()` against the bound.
    pub fn decode(tag: Tag, payload: &[u8]) -> Result<ClientMsg, WireError> {
        let mut r = Reader::new(payload);
        let msg = match tag {
            Tag::HELLO => ClientMsg::Hello { magic: r.array("magic")?, version: r.u16("version")? },
            Tag::JOIN => ClientMsg::Join {
                name: r.str8(JOIN_NAME, MAX_NAME)?,
                key: r.blob16(JOIN_KEY, MAX_KEY_DER)?,
                proof: r.blob16("proof", MAX_PROOF)?,
                throwaway: match r.u8("join flags")? {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::BadValue { what: "join flags" }),
                },
            },
            Tag::KEY_QUERY => ClientMsg::KeyQuery { name: r.str8("name", MAX_NAME)? },
            Tag::ROOM_JOIN => ClientMsg::RoomJoin { room: r.str8("room", MAX_ROOM)? },
            Tag::ROOM_LEAVE => ClientMsg::RoomLeave { room: r.str8("room", MAX_ROOM)? },
            Tag::ROOM_QUERY => ClientMsg::RoomQuery { room: r.str8("room", MAX_ROOM)? },
            Tag::ROOM_LIST => ClientMsg::RoomList,
            Tag::ROOM_CHAT => {
                let room = r.str8("room", MAX_ROOM)?;
                let count = r.u16("envelope count")? as usize;
                let envelopes = r.list("room envelopes", count, MAX_ROOM_MEMBERS, 3, |r| {
                    Ok((r.str8("member", MAX_NAME)?, r.blob16("envelope", MAX_ENVELOPE)?))
                })?;
                ClientMsg::RoomChat { room, envelopes }
            }
            Tag::PONG => ClientMsg::Pong,
            Tag::CHAT => ClientMsg::Chat {
                to: r.str8("recipient", MAX_NAME)?,
                envelope: r.blob16("envelope", MAX_ENVELOPE)?,
            },
            Tag::ACK => ClientMsg::Ack { id: r.u64("message id")? },
            Tag::VIDEO_LIST => ClientMsg::ListVideos,
            Tag::STREAM => {
                let video = r.str8("video name", MAX_VIDEO_NAME)?;
                let mode = match r.u8("play mode")? {
                    0 => PlayMode::Split,
                    1 => PlayMode::Fixed(r.str8("resolution label", MAX_LABEL)?),
                    2 => PlayMode::Auto,
                    _ => return Err(WireError::BadValue { what: "play mode" }),
                };
                ClientMsg::Play { video, mode }
            }
            Tag::STOP => ClientMsg::Stop,
            Tag::QUIT => ClientMsg::Quit,
            other => return Err(WireError::UnknownTag(other)),
        };
        r.finish(tag)?;
        Ok(msg)
    }
}

/// A `FRAM` frame, as `ServerMsg::Frame { index, label, jpeg }.encode_shared()` makes it, from
/// borrowed JPEG bytes and in one allocation: what the frame cache keeps of every frame.
pub fn encode_frame(index: u32, label: &str, jpeg: &[u8]) -> EncodedFrame {
    let mut w = FrameWriter::new(Tag::FRAME);
    w.u32(index);
    w.str8(label);
    w.finish_shared_with(jpeg)
}

impl ServerMsg {
    pub fn tag(&self) -> Tag {
        match self {
            ServerMsg::Hello { .. } => Tag::HELLO,
            ServerMsg::Welcome { .. } => Tag::WELCOME,
            ServerMsg::Directory(_) => Tag::DIRECTORY,
            ServerMsg::Joined(_) => Tag::JOINED,
            ServerMsg::Left { .. } => Tag::LEFT,
            ServerMsg::Chat { .. } => Tag::CHAT,
            ServerMsg::Delivered { .. } => Tag::DELIVERED,
            ServerMsg::Error { .. } => Tag::ERROR,
            ServerMsg::VideoList(_) => Tag::VIDEO_LIST,
            ServerMsg::StreamStart { .. } => Tag::STREAM,
            ServerMsg::Frame { .. } => Tag::FRAME,
            ServerMsg::StreamEnd { .. } => Tag::STREAM_END,
            ServerMsg::Sent { .. } => Tag::SENT,
            ServerMsg::UserKey(_) => Tag::USER_KEY,
            ServerMsg::Ping => Tag::PING,
            ServerMsg::RoomInfo { .. } => Tag::ROOM_INFO,
            ServerMsg::RoomList(_) => Tag::ROOM_LIST,
            ServerMsg::RoomJoined { .. } => Tag::ROOM_JOINED,
            ServerMsg::RoomLeft { .. } => Tag::ROOM_LEFT,
            ServerMsg::RoomChat { .. } => Tag::ROOM_CHAT,
        }
    }

    /// The whole frame, ready to be shared by several queues.
    pub fn encode_shared(&self) -> EncodedFrame {
        self.encode().into()
    }

    /// The whole frame: header and payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = FrameWriter::new(self.tag());
        match self {
            ServerMsg::Hello { magic, version, challenge } => {
                w.raw(magic);
                w.u16(*version);
                w.raw(challenge);
            }
            ServerMsg::Welcome { name } | ServerMsg::Left { name } => w.str8(name),
            ServerMsg::Sent { to, queued } => {
                w.str8(to);
                w.u8(u8::from(*queued));
            }
            ServerMsg::Directory(users) => w.users(users.iter()),
            ServerMsg::Joined(user) | ServerMsg::UserKey(user) => w.user(user),
            ServerMsg::Chat { id, from, envelope } => {
                w.u64(*id);
                w.str8(from);
                w.blob16(envelope);
            }
            ServerMsg::Delivered { to, count } => {
                w.str8(to);
                w.u32(*count);
            }
            ServerMsg::Error { code, text } => {
                w.u16(*code as u16);
                w.str16(text);
            }
            ServerMsg::VideoList(videos) => {
                w.u16(videos.len() as u16);
                videos.iter().for_each(|video| w.video(video));
            }
            ServerMsg::StreamStart { video, frames, fps, plan } => {
                w.str8(video);
                w.u32(*frames);
                w.f32(*fps);
                w.u8(plan.len() as u8);
                for seg in plan {
                    w.str8(&seg.label);
                    w.u32(seg.start);
                    w.u32(seg.frames);
                }
            }
            ServerMsg::Frame { index, label, jpeg } => {
                w.u32(*index);
                w.str8(label);
                w.raw(jpeg);
            }
            ServerMsg::StreamEnd { sent, reason } => {
                w.u32(*sent);
                w.u8(*reason as u8);
            }
            ServerMsg::Ping => {}
            ServerMsg::RoomInfo { room, members } => {
                w.str8(room);
                w.users(members.iter());
            }
            ServerMsg::RoomList(rooms) => {
                w.u16(rooms.len() as u16);
                for (room, members) in rooms {
                    w.str8(room);
                    w.u16(members.len() as u16);
                    members.iter().for_each(|m| w.str8(m));
                }
            }
            ServerMsg::RoomJoined { room, name } | ServerMsg::RoomLeft { room, name } => {
                w.str8(room);
                w.str8(name);
            }
            ServerMsg::RoomChat { id, room, from, envelope } => {
                w.u64(*id);
                w.str8(room);
                w.str8(from);
                w.blob16(envelope);
            }
        }
        w.finish()
    }

    /// Decodes one payload. The caller has already checked `payload.len()` against the bound.
    pub fn decode(tag: Tag, payload: &[u8]) -> Result<ServerMsg, WireError> {
        let mut r = Reader::new(payload);
        let msg = match tag {
            Tag::HELLO => ServerMsg::Hello {
                magic: r.array("magic")?,
                version: r.u16("version")?,
                challenge: r.array("challenge")?,
            },
            Tag::WELCOME => ServerMsg::Welcome { name: r.str8("name", MAX_NAME)? },
            Tag::DIRECTORY => {
                // Each entry takes at least 3 bytes, so a count larger than that allows is a lie:
                // `list` rejects it before reserving room for it.
                let count = r.u32("directory")? as usize;
                ServerMsg::Directory(r.list("directory", count, MAX_DIRECTORY, 3, Reader::user)?)
            }
            Tag::JOINED => ServerMsg::Joined(r.user()?),
            Tag::LEFT => ServerMsg::Left { name: r.str8("name", MAX_NAME)? },
            Tag::SENT => {
                // A user, or a room (`#` and a name).
                ServerMsg::Sent { to: r.str8("name", MAX_ROOM)?, queued: r.u8("queued")? != 0 }
            }
            Tag::USER_KEY => ServerMsg::UserKey(r.user()?),
            Tag::PING => ServerMsg::Ping,
            Tag::DELIVERED => ServerMsg::Delivered {
                to: r.str8("name", MAX_NAME)?,
                count: r.u32("message count")?,
            },
            Tag::CHAT => ServerMsg::Chat {
                id: r.u64("message id")?,
                from: r.str8("sender", MAX_NAME)?,
                envelope: r.blob16("envelope", MAX_ENVELOPE)?,
            },
            Tag::ERROR => r.error()?,
            Tag::ROOM_INFO => {
                let room = r.str8("room", MAX_ROOM)?;
                let count = r.u32("members")? as usize;
                let members = r.list("room members", count, MAX_ROOM_MEMBERS, 3, Reader::user)?;
                ServerMsg::RoomInfo { room, members }
            }
            Tag::ROOM_LIST => {
                let count = r.u16("room count")? as usize;
                let rooms = r.list("rooms", count, MAX_ROOMS_PER_USER, 3, |r| {
                    let room = r.str8("room", MAX_ROOM)?;
                    let n = r.u16("members")? as usize;
                    Ok((
                        room,
                        r.list("room members", n, MAX_ROOM_MEMBERS, 1, |r| {
                            r.str8("member", MAX_NAME)
                        })?,
                    ))
                })?;
                ServerMsg::RoomList(rooms)
            }
            Tag::ROOM_JOINED => ServerMsg::RoomJoined {
                room: r.str8("room", MAX_ROOM)?,
                name: r.str8("name", MAX_NAME)?,
            },
            Tag::ROOM_LEFT => ServerMsg::RoomLeft {
                room: r.str8("room", MAX_ROOM)?,
                name: r.str8("name", MAX_NAME)?,
            },
            Tag::ROOM_CHAT => ServerMsg::RoomChat {
                id: r.u64("message id")?,
                room: r.str8("room", MAX_ROOM)?,
                from: r.str8("sender", MAX_NAME)?,
                envelope: r.blob16("envelope", MAX_ENVELOPE)?,
            },
            Tag::VIDEO_LIST => {
                let count = r.u16("video count")? as usize;
                ServerMsg::VideoList(r.list("video list", count, MAX_VIDEOS, 10, Reader::video)?)
            }
            Tag::STREAM => {
                let video = r.str8("video name", MAX_VIDEO_NAME)?;
                let frames = r.u32("frame count")?;
                let fps = r.f32("fps")?;
                let n = r.u8("segment count")? as usize;
                let plan = r.list("plan", n, MAX_RESOLUTIONS, 9, Reader::segment)?;
                ServerMsg::StreamStart { video, frames, fps, plan }
            }
            Tag::FRAME => ServerMsg::Frame {
                index: r.u32("frame index")?,
                label: r.str8("resolution label", MAX_LABEL)?,
                jpeg: r.rest().to_vec(),
            },
            Tag::STREAM_END => {
                let sent = r.u32("frames sent")?;
                let reason = match r.u8("end reason")? {
                    0 => EndReason::Complete,
                    1 => EndReason::Stopped,
                    2 => EndReason::Error,
                    _ => return Err(WireError::BadValue { what: "end reason" }),
                };
                ServerMsg::StreamEnd { sent, reason }
            }
            other => return Err(WireError::UnknownTag(other)),
        };
        r.finish(tag)?;
        Ok(msg)
    }
}
