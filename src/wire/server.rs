//! Everything the server sends: one enum, its table of kinds, and each kind's payload both
//! ways. A client's requests are the other direction, one file each (`src/cmd/`); the
//! server's messages stay together here because a client handles them in one place too, the
//! `match` of its session's `on_server`.
//!
//! The compiler checks the three places a server message lives: its variant below, its row
//! in `server_kinds!` (tag to kind), and its arms in `encode` and `decode`, each a `match`
//! with no catch-all, so a kind without an arm does not compile.

use super::*;

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMsg {
    /// `HELO`: the server's answer to a good handshake, with the challenge to sign in `JOIN`.
    Hello { magic: [u8; 4], version: u16, challenge: [u8; CHALLENGE_LEN] },
    /// `WLCM`: the join was accepted under this name; `window`: how many chat messages the
    /// client may have unanswered (flow control); `last_seq`: the highest message number the
    /// server has kept from this key (0: none), so a key moved to a new machine goes on above it.
    Welcome { name: String, window: u16, last_seq: u64 },
    /// `URIF`: every user online (the joining user included), in join order.
    Directory(Vec<User>),
    /// `JOND`: a user joined.
    Joined(User),
    /// `LEFT`: a user left.
    Left { name: String },
    /// `CHAT`: an envelope, with the sender's registered name stamped by the server.
    Chat { id: u64, from: String, envelope: Vec<u8> },
    /// `ERRR`: a refusal or a failure, with a code and an explanation.
    Error { code: ErrorCode, text: String },
    /// `STLI`: the videos the server offers, sorted by name.
    VideoList(Vec<VideoInfo>),
    /// `STRM`: a stream starts.
    StreamStart { video: String, frames: u32, fps: f32, plan: Vec<Segment> },
    /// `FRAM`: one JPEG frame of the stream.
    Frame { index: u32, label: String, jpeg: Vec<u8> },
    /// `SEND`: the stream ended after `sent` frames.
    StreamEnd { sent: u32, reason: EndReason },
    /// `SENT`: the sender's last `CHAT` to `to` was taken: written to the server's database,
    /// kept until `to` acknowledges it (`queued`: `to` is offline). (A `CHAT` that is not
    /// taken gets an `ERRR` instead.) The client waits for one or the other before its next
    /// prompt, so an error never lands after it.
    Sent { to: String, queued: bool },
    /// `USER`: a registered user's key: the answer to `KEYQ`, and, before messages held for
    /// us, the key of each of their senders.
    UserKey(User),
    /// `PING`: the client has been silent a while; it answers `PONG` or is cut off.
    Ping,
    /// `DLVD`: `to` has acknowledged `count` messages of ours that were held for them.
    Delivered { to: String, count: u32 },
    /// `RINF`: a room we are in, and its members with their keys.
    RoomInfo { room: String, members: Vec<User> },
    /// `RLST`: the rooms we are in, then those we are invited to, each with its members' names.
    RoomList(Vec<(String, Vec<String>)>),
    /// `RLOG`: `room`'s signed membership changes after the one the client named (`RJON`),
    /// each as `roster::Change::encode` makes it; none for a room that does not exist.
    RoomLog { room: String, changes: Vec<Vec<u8>> },
    /// `RCHG`: a signed membership change of a room we are in or invited to.
    RoomChange { change: Vec<u8> },
    /// `RCHT`: a room message for us, from `from`, with its id to acknowledge (`ACKN`).
    RoomChat { id: u64, room: String, from: String, envelope: Vec<u8> },
    /// `WTEV`: what `by` did to `room`'s watch, and where the video is, in milliseconds.
    Watch { room: String, by: String, event: WatchEvent, at_ms: u32 },
}

/// Defines the kinds of server message (`Kind`) and their tags from one list of rows.
macro_rules! server_kinds {
    ($($kind:ident = $tag:ident,)*) => {
        /// Each kind of server message, read from its tag before its payload is decoded.
        #[derive(Clone, Copy)]
        enum Kind { $($kind,)* }

        impl Kind {
            fn of(tag: Tag) -> Option<Kind> {
                $(if tag == Tag::$tag { return Some(Kind::$kind); })*
                None
            }
        }

        /// Every tag the server sends: what a client accepts.
        pub const SERVER_TAGS: &[Tag] = &[$(Tag::$tag,)*];
    };
}

server_kinds! {
    Chat = CHAT,
    RoomChat = ROOM_CHAT,
    Frame = FRAME,
    Sent = SENT,
    Hello = HELLO,
    Welcome = WELCOME,
    Directory = DIRECTORY,
    Joined = JOINED,
    Left = LEFT,
    Error = ERROR,
    VideoList = VIDEO_LIST,
    StreamStart = STREAM,
    StreamEnd = STREAM_END,
    UserKey = USER_KEY,
    Ping = PING,
    Delivered = DELIVERED,
    RoomInfo = ROOM_INFO,
    RoomList = ROOM_LIST,
    RoomLog = ROOM_LOG,
    RoomChange = ROOM_CHANGE,
    Watch = WATCH_NEWS,
}

/// A `FRAM` frame, as `ServerMsg::Frame { index, label, jpeg }.encode_shared()` makes it, from
/// borrowed JPEG bytes and in one allocation: what the frame cache keeps of every frame.
pub fn encode_frame(index: u32, label: &str, jpeg: &[u8]) -> EncodedFrame {
    let mut w = FrameWriter::new(Tag::FRAME);
    w.u32(index);
    w.str8(label);
    w.finish_shared_with(jpeg)
}

impl Inbound for ServerMsg {
    const LIMITS: Limits = FROM_SERVER;
    fn decode(tag: Tag, payload: &[u8]) -> Result<ServerMsg, WireError> {
        ServerMsg::decode(tag, payload)
    }
}

impl Encode for ServerMsg {
    fn encode(&self) -> Vec<u8> {
        ServerMsg::encode(self)
    }
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
            ServerMsg::RoomLog { .. } => Tag::ROOM_LOG,
            ServerMsg::RoomChange { .. } => Tag::ROOM_CHANGE,
            ServerMsg::RoomChat { .. } => Tag::ROOM_CHAT,
            ServerMsg::Watch { .. } => Tag::WATCH_NEWS,
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
            ServerMsg::Hello { magic, version, challenge } => w.hello(magic, *version, challenge),
            ServerMsg::Welcome { name, window, last_seq } => {
                w.str8(name);
                w.u16(*window);
                w.u64(*last_seq);
            }
            ServerMsg::Left { name } => w.str8(name),
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
            ServerMsg::VideoList(videos) => w.videos(videos),
            ServerMsg::StreamStart { video, frames, fps, plan } => {
                w.stream_start(video, *frames, *fps, plan)
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
            ServerMsg::RoomList(rooms) => w.rooms(rooms),
            ServerMsg::RoomLog { room, changes } => w.room_log(room, changes),
            ServerMsg::RoomChange { change } => w.blob16(change),
            ServerMsg::RoomChat { id, room, from, envelope } => {
                w.u64(*id);
                w.str8(room);
                w.str8(from);
                w.blob16(envelope);
            }
            ServerMsg::Watch { room, by, event, at_ms } => w.watch(room, by, event, *at_ms),
        }
        w.finish()
    }

    /// Decodes one payload. The caller has already checked `payload.len()` against the bound.
    pub fn decode(tag: Tag, payload: &[u8]) -> Result<ServerMsg, WireError> {
        let kind = Kind::of(tag).ok_or(WireError::UnknownTag(tag))?;
        let mut r = Reader::new(payload);
        let msg = match kind {
            Kind::Hello => ServerMsg::Hello {
                magic: r.array("magic")?,
                version: r.u16("version")?,
                challenge: r.array("challenge")?,
            },
            Kind::Welcome => ServerMsg::Welcome {
                name: r.str8("name", MAX_NAME)?,
                window: r.u16("window")?,
                last_seq: r.u64("last message number")?,
            },
            Kind::Directory => ServerMsg::Directory(r.users("directory", MAX_DIRECTORY)?),
            Kind::Joined => ServerMsg::Joined(r.user()?),
            Kind::Left => ServerMsg::Left { name: r.str8("name", MAX_NAME)? },
            // A user, or a room (`#` and a name).
            Kind::Sent => {
                ServerMsg::Sent { to: r.str8("name", MAX_ROOM)?, queued: r.u8("queued")? != 0 }
            }
            Kind::UserKey => ServerMsg::UserKey(r.user()?),
            Kind::Ping => ServerMsg::Ping,
            Kind::Delivered => ServerMsg::Delivered {
                to: r.str8("name", MAX_NAME)?,
                count: r.u32("message count")?,
            },
            Kind::Chat => ServerMsg::Chat {
                id: r.u64("message id")?,
                from: r.str8("sender", MAX_NAME)?,
                envelope: r.blob16("envelope", MAX_ENVELOPE)?,
            },
            Kind::Error => r.error()?,
            Kind::RoomInfo => ServerMsg::RoomInfo {
                room: r.str8("room", MAX_ROOM)?,
                members: r.users("room members", MAX_ROOM_MEMBERS)?,
            },
            Kind::RoomList => ServerMsg::RoomList(r.rooms()?),
            Kind::RoomLog => r.room_log()?,
            Kind::RoomChange => {
                ServerMsg::RoomChange { change: r.blob16("room change", MAX_CHANGE)? }
            }
            Kind::RoomChat => r.room_chat()?,
            Kind::Watch => r.watch()?,
            Kind::VideoList => ServerMsg::VideoList(r.videos()?),
            Kind::StreamStart => r.stream_start()?,
            Kind::Frame => ServerMsg::Frame {
                index: r.u32("frame index")?,
                label: r.str8("resolution label", MAX_LABEL)?,
                jpeg: r.rest().to_vec(),
            },
            Kind::StreamEnd => r.stream_end()?,
        };
        r.finish(tag)?;
        Ok(msg)
    }
}

impl FrameWriter {
    fn hello(&mut self, magic: &[u8; 4], version: u16, challenge: &[u8; CHALLENGE_LEN]) {
        self.raw(magic);
        self.u16(version);
        self.raw(challenge);
    }

    fn videos(&mut self, videos: &[VideoInfo]) {
        self.u16(videos.len() as u16);
        videos.iter().for_each(|video| self.video(video));
    }

    fn stream_start(&mut self, video: &str, frames: u32, fps: f32, plan: &[Segment]) {
        self.str8(video);
        self.u32(frames);
        self.f32(fps);
        self.u8(plan.len() as u8);
        for seg in plan {
            self.str8(&seg.label);
            self.u32(seg.start);
            self.u32(seg.frames);
        }
    }

    fn watch(&mut self, room: &str, by: &str, event: &WatchEvent, at_ms: u32) {
        self.str8(room);
        self.str8(by);
        self.u32(at_ms);
        match event {
            WatchEvent::Started { video } => {
                self.u8(0);
                self.str8(video);
            }
            WatchEvent::Paused => self.u8(1),
            WatchEvent::Playing => self.u8(2),
            WatchEvent::Seeked => self.u8(3),
            WatchEvent::Stopped => self.u8(4),
            WatchEvent::Ended => self.u8(5),
            WatchEvent::Behind { missed } => {
                self.u8(6);
                self.u32(*missed);
            }
        }
    }

    fn room_log(&mut self, room: &str, changes: &[Vec<u8>]) {
        self.str8(room);
        self.u16(changes.len() as u16);
        changes.iter().for_each(|c| self.blob16(c));
    }

    fn rooms(&mut self, rooms: &[(String, Vec<String>)]) {
        self.u16(rooms.len() as u16);
        for (room, members) in rooms {
            self.str8(room);
            self.u16(members.len() as u16);
            members.iter().for_each(|m| self.str8(m));
        }
    }
}

impl Reader<'_> {
    /// A `u32` count, then each user. Each entry takes at least 3 bytes, so a count larger
    /// than that allows is a lie: `list` rejects it before reserving room for it.
    fn users(&mut self, what: &'static str, max: usize) -> Result<Vec<User>, WireError> {
        let count = self.u32(what)? as usize;
        self.list(what, count, max, 3, Reader::user)
    }

    fn videos(&mut self) -> Result<Vec<VideoInfo>, WireError> {
        let count = self.u16("video count")? as usize;
        self.list("video list", count, MAX_VIDEOS, 10, Reader::video)
    }

    fn rooms(&mut self) -> Result<Vec<(String, Vec<String>)>, WireError> {
        let count = self.u16("room count")? as usize;
        // The rooms one is in, then those one is invited to: as many again.
        self.list("rooms", count, 2 * MAX_ROOMS_PER_USER, 3, |r| {
            let room = r.str8("room", MAX_ROOM)?;
            let n = r.u16("members")? as usize;
            let members =
                r.list("room members", n, MAX_ROOM_MEMBERS, 1, |r| r.str8("member", MAX_NAME))?;
            Ok((room, members))
        })
    }

    fn room_chat(&mut self) -> Result<ServerMsg, WireError> {
        Ok(ServerMsg::RoomChat {
            id: self.u64("message id")?,
            room: self.str8("room", MAX_ROOM)?,
            from: self.str8("sender", MAX_NAME)?,
            envelope: self.blob16("envelope", MAX_ENVELOPE)?,
        })
    }

    fn watch(&mut self) -> Result<ServerMsg, WireError> {
        let room = self.str8("room", MAX_ROOM)?;
        let by = self.str8("member", MAX_NAME)?;
        let at_ms = self.u32("time")?;
        let event = match self.u8("watch event")? {
            0 => WatchEvent::Started { video: self.str8("video name", MAX_VIDEO_NAME)? },
            1 => WatchEvent::Paused,
            2 => WatchEvent::Playing,
            3 => WatchEvent::Seeked,
            4 => WatchEvent::Stopped,
            5 => WatchEvent::Ended,
            6 => WatchEvent::Behind { missed: self.u32("frames missed")? },
            _ => return Err(WireError::BadValue { what: "watch event" }),
        };
        Ok(ServerMsg::Watch { room, by, event, at_ms })
    }

    fn room_log(&mut self) -> Result<ServerMsg, WireError> {
        let room = self.str8("room", MAX_ROOM)?;
        let n = self.u16("change count")? as usize;
        let changes =
            self.list("room changes", n, MAX_CHANGES, 2, |r| r.blob16("room change", MAX_CHANGE))?;
        Ok(ServerMsg::RoomLog { room, changes })
    }

    fn stream_start(&mut self) -> Result<ServerMsg, WireError> {
        let video = self.str8("video name", MAX_VIDEO_NAME)?;
        let frames = self.u32("frame count")?;
        let fps = self.f32("fps")?;
        let n = self.u8("segment count")? as usize;
        let plan = self.list("plan", n, MAX_RESOLUTIONS, 9, Reader::segment)?;
        Ok(ServerMsg::StreamStart { video, frames, fps, plan })
    }

    fn stream_end(&mut self) -> Result<ServerMsg, WireError> {
        let sent = self.u32("frames sent")?;
        let reason = match self.u8("end reason")? {
            0 => EndReason::Complete,
            1 => EndReason::Stopped,
            2 => EndReason::Error,
            _ => return Err(WireError::BadValue { what: "end reason" }),
        };
        Ok(ServerMsg::StreamEnd { sent, reason })
    }
}
