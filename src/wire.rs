//! The wire format: messages to bytes and back. Pure code over byte slices, plus two thin
//! helpers over `Read`/`Write`. It knows nothing of sockets, threads, keys or terminals.
//!
//! Every message is one frame:
//!
//! ```text
//! +---------+------------------+-----------------+
//! | tag [4] | length u32 (BE)  | payload [length]|
//! +---------+------------------+-----------------+
//! ```
//!
//! The Python original sent bare strings with no framing (it imports `pickle` but never uses
//! it), so two messages sent back-to-back could glue together or split anywhere. Here the reader always knows where a
//! message ends, and every length is checked against a bound *before* anything is allocated.
//! `docs/PROTOCOL.md` documents every frame byte by byte.

use byteorder::{BigEndian, ByteOrder, ReadBytesExt, WriteBytesExt};
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

/// Sent first by both sides, so a stray program that connects is told at once what it reached.
pub const MAGIC: [u8; 4] = *b"CHRM";
/// Bumped on any incompatible change; both sides refuse a peer with another version.
pub const VERSION: u16 = 3;
/// Tag (4 bytes) + payload length (4 bytes).
pub const HEADER_LEN: usize = 8;
/// The largest payload of any frame (docs/PROTOCOL.md, "Frames"). Video frames are the only
/// large ones.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// The largest payload a client may send. Everything a client says is small, so the server
/// never allocates more than this for one client frame.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// User names: 1 to 32 characters (README, "Using it", gives the rules).
pub const MAX_NAME: usize = 32;
/// A DER-encoded RSA public key; 4096-bit keys take about 550 bytes.
pub const MAX_KEY_DER: usize = 1024;
/// The join proof: an RSA-PSS signature, as long as the key (at most 4096 bits).
pub const MAX_PROOF: usize = 512;
/// The server's join challenge: fresh random bytes for each connection.
pub const CHALLENGE_LEN: usize = 32;
/// A sealed direct message: 4096 bytes of text + tag, a wrapped key and a signature of at most
/// 512 bytes each (4096-bit keys), and small fields.
pub const MAX_ENVELOPE: usize = 6 * 1024;
/// Human-readable text in error frames.
pub const MAX_ERROR_TEXT: usize = 1024;
/// The most users one directory frame may list.
pub const MAX_DIRECTORY: usize = 65_536;
/// Video names (the `NAME` in `NAME_LABEL.mp4`) and resolution labels.
pub const MAX_VIDEO_NAME: usize = 128;
pub const MAX_LABEL: usize = 16;
/// The most videos, and resolutions per video, one list frame may carry.
pub const MAX_VIDEOS: usize = 4096;
pub const MAX_RESOLUTIONS: usize = 64;

/// A whole frame, header included, encoded once and shared by every queue it is put in: a
/// broadcast is encoded once, not once per client, and a video frame once for every viewer.
/// Writers send its bytes as they are.
pub type EncodedFrame = Arc<[u8]>;

/// The `URIF` frame of `users`, in the order given. The registry hands out the directory as a
/// list of shared users, so only the client who needs the bytes pays for making them.
pub fn encode_directory(users: &[Arc<User>]) -> EncodedFrame {
    let mut w = FrameWriter::new(Tag::DIRECTORY);
    w.users(users.iter().map(|u| &**u));
    w.finish().into()
}

/// Why a user name breaks the rules: 1 to 32 characters of `A-Z a-z 0-9 _ . -`, not starting
/// with `.` or `-`, and not `QUIT`
/// in any case (the client uses it to leave chat). The server refuses such a name at `JOIN`; a
/// client ignores such a name in what a server sends, and checks its own before sending it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than 32 characters")]
    TooLong,
    #[error("{0:?} is not allowed; use letters, digits, '_', '.' or '-'")]
    BadChar(char),
    #[error("the name QUIT is reserved")]
    Reserved,
    #[error("it must start with a letter, a digit or '_' (not '.' or '-')")]
    BadStart,
}

/// The rules every user name follows (see [`NameError`]).
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Err(NameError::BadChar(c));
    }
    // `.`, `..`, `-rf`: names that read as paths or as command-line options.
    if name.starts_with(['.', '-']) {
        return Err(NameError::BadStart);
    }
    if name.eq_ignore_ascii_case("QUIT") {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// What a name looks like: two names with the same look-alike form are told apart by few
/// eyes (`aIice`, `a1ice` and `alice`; `rnallory` and `mallory`). It folds the ASCII
/// confusables of Unicode TR39 that names can hold (`I` `1` `l`; `0` `O`; `rn` `m`; `vv` `w`;
/// `cl` `d`) and case. As names are one ignoring case, `I` is also `i`: so `i` joins `l`'s
/// class (`alice` and `allce` count as alike; a few more refusals, no look-alike let in).
/// Names are ASCII (`check_name`), so this is all of TR39 that applies.
pub fn look_alike(name: &str) -> String {
    let folded: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' | '1' => 'l',
            '0' => 'o',
            c => c,
        })
        .collect();
    folded.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// A frame's four-byte ASCII tag. The original's tags are kept where the meaning is the same.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(pub [u8; 4]);

impl Tag {
    pub const HELLO: Tag = Tag(*b"HELO");
    pub const JOIN: Tag = Tag(*b"JOIN");
    pub const WELCOME: Tag = Tag(*b"WLCM");
    /// The original's user-information message: here, the whole directory.
    pub const DIRECTORY: Tag = Tag(*b"URIF");
    pub const JOINED: Tag = Tag(*b"JOND");
    pub const LEFT: Tag = Tag(*b"LEFT");
    pub const CHAT: Tag = Tag(*b"CHAT");
    pub const ERROR: Tag = Tag(*b"ERRR");
    pub const QUIT: Tag = Tag(*b"QUIT");
    /// The original's stream-list message.
    pub const VIDEO_LIST: Tag = Tag(*b"STLI");
    /// The original's stream message: a play request (client) or a stream start (server).
    pub const STREAM: Tag = Tag(*b"STRM");
    pub const FRAME: Tag = Tag(*b"FRAM");
    pub const STOP: Tag = Tag(*b"STOP");
    pub const STREAM_END: Tag = Tag(*b"SEND");
    /// The server took a chat message: it is on its way to the recipient.
    pub const SENT: Tag = Tag(*b"SENT");
    pub const KEY_QUERY: Tag = Tag(*b"KEYQ");
    /// Are you there? (a joined client silent for a while). Answered with `PONG`.
    pub const PING: Tag = Tag(*b"PING");
    pub const PONG: Tag = Tag(*b"PONG");
    pub const USER_KEY: Tag = Tag(*b"USER");
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

/// Why some bytes are not a valid frame. `Incomplete` is not a fault: it means "read more".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the frame does.
    #[error("incomplete frame")]
    Incomplete,
    /// A length field is larger than its bound; nothing was allocated.
    #[error("{what} is {len} bytes long, more than the limit of {max}")]
    TooLong { what: &'static str, len: usize, max: usize },
    /// A tag this side does not accept.
    #[error("unknown message tag {0:?}")]
    UnknownTag(Tag),
    /// A text field is not UTF-8.
    #[error("{what} is not valid UTF-8")]
    BadUtf8 { what: &'static str },
    /// A field holds a value outside its domain (an unknown code, a zero count, ...).
    #[error("invalid {what}")]
    BadValue { what: &'static str },
    /// The payload has bytes left over after the last field.
    #[error("{extra} unexpected bytes at the end of a {tag} frame")]
    TrailingBytes { tag: Tag, extra: usize },
    /// A field runs past the end of its frame's payload.
    #[error("frame ends in the middle of {what}")]
    Truncated { what: &'static str },
}

/// Error codes carried by `ERRR` frames, so a program can react without parsing English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ErrorCode {
    /// Wrong magic or protocol version in the handshake.
    BadHandshake = 1,
    /// A frame that does not parse.
    Malformed = 2,
    /// A tag the server does not know.
    UnknownTag = 3,
    /// The message is valid but not allowed now (e.g. `CHAT` before `JOIN`).
    Unexpected = 4,
    NameInvalid = 5,
    NameTaken = 6,
    NameReserved = 7,
    /// The public key does not parse, or its size is outside the accepted range.
    BadKey = 8,
    ServerFull = 9,
    /// No user of that name is online.
    UnknownUser = 10,
    /// The connection did not finish the handshake in time.
    Timeout = 11,
    ShuttingDown = 12,
    /// The sender exceeded its chat rate.
    RateLimited = 13,
    /// The recipient could not keep up and was disconnected.
    RecipientTooSlow = 14,
    UnknownVideo = 15,
    /// A video could not be read or encoded.
    VideoFailed = 16,
    /// The name is registered to another key.
    NameRegistered = 17,
    /// The offline recipient's mailbox is full.
    MailboxFull = 18,
}

impl ErrorCode {
    const ALL: [ErrorCode; 18] = [
        ErrorCode::BadHandshake,
        ErrorCode::Malformed,
        ErrorCode::UnknownTag,
        ErrorCode::Unexpected,
        ErrorCode::NameInvalid,
        ErrorCode::NameTaken,
        ErrorCode::NameReserved,
        ErrorCode::BadKey,
        ErrorCode::ServerFull,
        ErrorCode::UnknownUser,
        ErrorCode::Timeout,
        ErrorCode::ShuttingDown,
        ErrorCode::RateLimited,
        ErrorCode::RecipientTooSlow,
        ErrorCode::UnknownVideo,
        ErrorCode::VideoFailed,
        ErrorCode::NameRegistered,
        ErrorCode::MailboxFull,
    ];

    fn from_u16(v: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| *c as u16 == v)
    }
}

/// One entry of the user directory: a name and its DER-encoded RSA public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub key: Vec<u8>,
}

/// How the server cuts a video's timeline across its resolutions (README, "Videos").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayMode {
    /// The original's behaviour: one segment per resolution, lowest first.
    Split,
    /// The whole video at one resolution.
    Fixed(String),
}

/// One entry of the video list.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub name: String,
    /// Frames on the timeline (the smallest frame count over the resolutions).
    pub frames: u32,
    pub fps: f32,
    pub resolutions: Vec<Resolution>,
}

/// A resolution as listed: its label, and the real size of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub label: String,
    pub width: u16,
    pub height: u16,
}

/// One piece of a stream's plan: timeline frames `start..start + frames` come from `label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub label: String,
    pub start: u32,
    pub frames: u32,
}

impl Segment {
    /// A plan as people read it: `144p: 34, 240p: 33, 360p: 33` (server log, client banner).
    pub fn describe(plan: &[Segment]) -> String {
        plan.iter().map(|s| format!("{}: {}", s.label, s.frames)).collect::<Vec<_>>().join(", ")
    }
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Complete = 0,
    Stopped = 1,
    Error = 2,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndReason::Complete => "complete",
            EndReason::Stopped => "stopped",
            EndReason::Error => "error",
        })
    }
}

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMsg {
    /// `HELO`: the first frame of every connection.
    Hello { magic: [u8; 4], version: u16 },
    /// `JOIN`: register a name and a public key, with the proof that we hold the key (our
    /// signature of the server's challenge, the name and the key). May be repeated after a
    /// refusal.
    Join { name: String, key: Vec<u8>, proof: Vec<u8> },
    /// `CHAT`: a sealed envelope for one recipient. The server cannot read it.
    Chat { to: String, envelope: Vec<u8> },
    /// `KEYQ`: ask for a registered user's key (to write to them while they are offline).
    KeyQuery { name: String },
    /// `PONG`: the answer to a `PING`.
    Pong,
    /// `STLI`: ask for the video list.
    ListVideos,
    /// `STRM`: play a video.
    Play { video: String, mode: PlayMode },
    /// `STOP`: stop the current stream.
    Stop,
    /// `QUIT`: leave; the server closes the connection.
    Quit,
}

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMsg {
    /// `HELO`: the server's answer to a good handshake, with the challenge to sign in `JOIN`.
    Hello { magic: [u8; 4], version: u16, challenge: [u8; CHALLENGE_LEN] },
    /// `WLCM`: the join was accepted under this name.
    Welcome { name: String },
    /// `URIF`: every user online (the joining user included), in join order.
    Directory(Vec<User>),
    /// `JOND`: a user joined.
    Joined(User),
    /// `LEFT`: a user left.
    Left { name: String },
    /// `CHAT`: an envelope, with the sender's registered name stamped by the server.
    Chat { from: String, envelope: Vec<u8> },
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
    /// `SENT`: the sender's last `CHAT` to `to` was taken: in the recipient's queue. (A
    /// `CHAT` that is not taken gets an `ERRR` instead.) The client waits for one or the
    /// other before its next prompt, so an error never lands after it.
    Sent { to: String, queued: bool },
    /// `USER`: a registered user's key: the answer to `KEYQ`, and, before messages held for
    /// us, the key of each of their senders.
    UserKey(User),
    /// `PING`: the client has been silent a while; it answers `PONG` or is cut off.
    Ping,
}

impl ClientMsg {
    /// Every tag a client may send.
    pub const TAGS: [Tag; 9] = [
        Tag::HELLO,
        Tag::JOIN,
        Tag::CHAT,
        Tag::VIDEO_LIST,
        Tag::STREAM,
        Tag::STOP,
        Tag::QUIT,
        Tag::KEY_QUERY,
        Tag::PONG,
    ];

    pub fn tag(&self) -> Tag {
        match self {
            ClientMsg::Hello { .. } => Tag::HELLO,
            ClientMsg::Join { .. } => Tag::JOIN,
            ClientMsg::Chat { .. } => Tag::CHAT,
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
            ClientMsg::Join { name, key, proof } => {
                w.str8(name);
                w.blob16(key);
                w.blob16(proof);
            }
            ClientMsg::KeyQuery { name } => w.str8(name),
            ClientMsg::Chat { to, envelope } => {
                w.str8(to);
                w.blob16(envelope);
            }
            ClientMsg::Play { video, mode } => {
                w.str8(video);
                match mode {
                    PlayMode::Split => w.u8(0),
                    PlayMode::Fixed(label) => {
                        w.u8(1);
                        w.str8(label);
                    }
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
                name: r.str8("name", MAX_NAME)?,
                key: r.blob16("public key", MAX_KEY_DER)?,
                proof: r.blob16("proof", MAX_PROOF)?,
            },
            Tag::KEY_QUERY => ClientMsg::KeyQuery { name: r.str8("name", MAX_NAME)? },
            Tag::PONG => ClientMsg::Pong,
            Tag::CHAT => ClientMsg::Chat {
                to: r.str8("recipient", MAX_NAME)?,
                envelope: r.blob16("envelope", MAX_ENVELOPE)?,
            },
            Tag::VIDEO_LIST => ClientMsg::ListVideos,
            Tag::STREAM => {
                let video = r.str8("video name", MAX_VIDEO_NAME)?;
                let mode = match r.u8("play mode")? {
                    0 => PlayMode::Split,
                    1 => PlayMode::Fixed(r.str8("resolution label", MAX_LABEL)?),
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

impl ServerMsg {
    /// Every tag the server may send.
    pub const TAGS: [Tag; 14] = [
        Tag::HELLO,
        Tag::WELCOME,
        Tag::DIRECTORY,
        Tag::JOINED,
        Tag::LEFT,
        Tag::CHAT,
        Tag::ERROR,
        Tag::VIDEO_LIST,
        Tag::STREAM,
        Tag::FRAME,
        Tag::STREAM_END,
        Tag::SENT,
        Tag::USER_KEY,
        Tag::PING,
    ];

    pub fn tag(&self) -> Tag {
        match self {
            ServerMsg::Hello { .. } => Tag::HELLO,
            ServerMsg::Welcome { .. } => Tag::WELCOME,
            ServerMsg::Directory(_) => Tag::DIRECTORY,
            ServerMsg::Joined(_) => Tag::JOINED,
            ServerMsg::Left { .. } => Tag::LEFT,
            ServerMsg::Chat { .. } => Tag::CHAT,
            ServerMsg::Error { .. } => Tag::ERROR,
            ServerMsg::VideoList(_) => Tag::VIDEO_LIST,
            ServerMsg::StreamStart { .. } => Tag::STREAM,
            ServerMsg::Frame { .. } => Tag::FRAME,
            ServerMsg::StreamEnd { .. } => Tag::STREAM_END,
            ServerMsg::Sent { .. } => Tag::SENT,
            ServerMsg::UserKey(_) => Tag::USER_KEY,
            ServerMsg::Ping => Tag::PING,
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
            ServerMsg::Chat { from, envelope } => {
                w.str8(from);
                w.blob16(envelope);
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
                ServerMsg::Sent { to: r.str8("name", MAX_NAME)?, queued: r.u8("queued")? != 0 }
            }
            Tag::USER_KEY => ServerMsg::UserKey(r.user()?),
            Tag::PING => ServerMsg::Ping,
            Tag::CHAT => ServerMsg::Chat {
                from: r.str8("sender", MAX_NAME)?,
                envelope: r.blob16("envelope", MAX_ENVELOPE)?,
            },
            Tag::ERROR => r.error()?,
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

/// The limits one side applies to the frames it reads: which tags it accepts, and the
/// largest payload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub tags: &'static [Tag],
    pub max_payload: usize,
}

/// What the server accepts from a client.
pub const FROM_CLIENT: Limits = Limits { tags: &ClientMsg::TAGS, max_payload: MAX_CLIENT_FRAME };
/// What a client accepts from the server.
pub const FROM_SERVER: Limits = Limits { tags: &ServerMsg::TAGS, max_payload: MAX_FRAME };

/// Checks that `buf` starts with one whole frame within `limits`, and returns its tag and
/// total length (header included). Allocates nothing.
pub fn check(buf: &[u8], limits: Limits) -> Result<(Tag, usize), WireError> {
    if buf.len() < HEADER_LEN {
        return Err(WireError::Incomplete);
    }
    let (tag, len) = parse_header(buf[..HEADER_LEN].try_into().expect("8 bytes"), limits)?;
    if buf.len() < HEADER_LEN + len {
        return Err(WireError::Incomplete);
    }
    Ok((tag, HEADER_LEN + len))
}

/// Reads the header's tag and length. The tag is checked first, so a stray program (a web
/// browser, say) is told its first bytes are an unknown tag, not an absurd length.
pub fn parse_header(header: &[u8; HEADER_LEN], limits: Limits) -> Result<(Tag, usize), WireError> {
    let tag = Tag(header[..4].try_into().expect("4 bytes"));
    if !limits.tags.contains(&tag) {
        return Err(WireError::UnknownTag(tag));
    }
    let len = BigEndian::read_u32(&header[4..]) as usize;
    if len > limits.max_payload {
        return Err(WireError::TooLong { what: "frame payload", len, max: limits.max_payload });
    }
    Ok((tag, len))
}

/// Parses one client frame from the front of `buf`; returns it and the bytes it took.
pub fn parse_client(buf: &[u8]) -> Result<(ClientMsg, usize), WireError> {
    let (tag, len) = check(buf, FROM_CLIENT)?;
    Ok((ClientMsg::decode(tag, &buf[HEADER_LEN..len])?, len))
}

/// Parses one server frame from the front of `buf`; returns it and the bytes it took.
pub fn parse_server(buf: &[u8]) -> Result<(ServerMsg, usize), WireError> {
    let (tag, len) = check(buf, FROM_SERVER)?;
    Ok((ServerMsg::decode(tag, &buf[HEADER_LEN..len])?, len))
}

/// What can go wrong reading a frame from a stream.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection cleanly, between two frames.
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Reads one raw frame: its tag and payload, with the tag and length checked against `limits`
/// before the payload is allocated. A clean end of stream before the first byte is `Closed`.
pub fn read_frame(r: &mut impl Read, limits: Limits) -> Result<(Tag, Vec<u8>), ReadError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Err(ReadError::Closed),
            Ok(0) => return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    let (tag, len) = parse_header(&header, limits)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Ok((tag, payload))
}

/// Reads and decodes one frame sent by a client.
pub fn read_client(r: &mut impl Read) -> Result<ClientMsg, ReadError> {
    let (tag, payload) = read_frame(r, FROM_CLIENT)?;
    Ok(ClientMsg::decode(tag, &payload)?)
}

/// Reads and decodes one frame sent by the server.
pub fn read_server(r: &mut impl Read) -> Result<ServerMsg, ReadError> {
    let (tag, payload) = read_frame(r, FROM_SERVER)?;
    Ok(ServerMsg::decode(tag, &payload)?)
}

/// Builds a frame: reserves the header, appends fields, then fills in the length.
/// Callers keep every field within its bound (the constants above); encoding does not
/// re-check them, decoding does.
pub(crate) struct FrameWriter {
    buf: Vec<u8>,
    /// False for a bare payload (an envelope), which has no header to fill in.
    framed: bool,
}

impl FrameWriter {
    pub(crate) fn new(tag: Tag) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&tag.0);
        buf.extend_from_slice(&[0; 4]);
        FrameWriter { buf, framed: true }
    }

    /// A writer for a bare payload with no frame header (used for envelopes).
    pub(crate) fn bare() -> Self {
        FrameWriter { buf: Vec::with_capacity(1024), framed: false }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.write_u16::<BigEndian>(v).expect("Vec write");
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.write_u32::<BigEndian>(v).expect("Vec write");
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.write_u64::<BigEndian>(v).expect("Vec write");
    }
    fn f32(&mut self, v: f32) {
        self.buf.write_f32::<BigEndian>(v).expect("Vec write");
    }
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    /// A string after a `u8` length. A longer one is cut at 255 bytes (at a character's
    /// boundary), never wrapped: the frame stays well formed and the reader's bound refuses it.
    pub(crate) fn str8(&mut self, s: &str) {
        let s = cut(s, u8::MAX as usize);
        self.u8(s.len() as u8);
        self.raw(s.as_bytes());
    }
    /// A string after a `u16` length, cut like `str8`'s.
    fn str16(&mut self, s: &str) {
        self.blob16(cut(s, u16::MAX as usize).as_bytes());
    }
    /// Bytes after a `u16` length; past 65 535 bytes, cut.
    pub(crate) fn blob16(&mut self, bytes: &[u8]) {
        let bytes = &bytes[..bytes.len().min(u16::MAX as usize)];
        self.u16(bytes.len() as u16);
        self.raw(bytes);
    }
    /// A `u32` count, then each user.
    fn users<'a>(&mut self, users: impl ExactSizeIterator<Item = &'a User>) {
        self.u32(users.len() as u32);
        for user in users {
            self.user(user);
        }
    }
    fn video(&mut self, video: &VideoInfo) {
        self.str8(&video.name);
        self.u32(video.frames);
        self.f32(video.fps);
        self.u8(video.resolutions.len() as u8);
        for res in &video.resolutions {
            self.str8(&res.label);
            self.u16(res.width);
            self.u16(res.height);
        }
    }

    fn user(&mut self, user: &User) {
        self.str8(&user.name);
        self.blob16(&user.key);
    }

    /// The frame with its length filled in (or the bare payload).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.framed {
            let len = (self.buf.len() - HEADER_LEN) as u32;
            BigEndian::write_u32(&mut self.buf[4..8], len);
        }
        self.buf
    }
}

/// `s`, or its longest start of at most `max` bytes that ends on a character's boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A cursor over one payload. Every read checks the bytes remain; every length is checked
/// against its bound and against what remains before anything is allocated.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(self.take(2, what)?.read_u16::<BigEndian>().expect("2 bytes"))
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(self.take(4, what)?.read_u32::<BigEndian>().expect("4 bytes"))
    }
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(self.take(8, what)?.read_u64::<BigEndian>().expect("8 bytes"))
    }
    fn f32(&mut self, what: &'static str) -> Result<f32, WireError> {
        let v = self.take(4, what)?.read_f32::<BigEndian>().expect("4 bytes");
        if !v.is_finite() {
            return Err(WireError::BadValue { what });
        }
        Ok(v)
    }
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], WireError> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }

    fn bounded(
        &mut self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], WireError> {
        if len > max {
            return Err(WireError::TooLong { what, len, max });
        }
        self.take(len, what)
    }

    /// A string after a `u8` length, at most `max` bytes.
    pub(crate) fn str8(&mut self, what: &'static str, max: usize) -> Result<String, WireError> {
        let len = self.u8(what)? as usize;
        let bytes = self.bounded(len, max, what)?;
        Ok(std::str::from_utf8(bytes).map_err(|_| WireError::BadUtf8 { what })?.to_owned())
    }
    fn str16(&mut self, what: &'static str, max: usize) -> Result<String, WireError> {
        let len = self.u16(what)? as usize;
        let bytes = self.bounded(len, max, what)?;
        Ok(std::str::from_utf8(bytes).map_err(|_| WireError::BadUtf8 { what })?.to_owned())
    }
    /// Bytes after a `u16` length, at most `max`.
    pub(crate) fn blob16(&mut self, what: &'static str, max: usize) -> Result<Vec<u8>, WireError> {
        let len = self.u16(what)? as usize;
        Ok(self.bounded(len, max, what)?.to_vec())
    }

    /// `count` items read by `item`. The count is checked against `max`, and against what the
    /// remaining bytes could hold at `min_entry` bytes an item, before anything is reserved.
    fn list<T>(
        &mut self,
        what: &'static str,
        count: usize,
        max: usize,
        min_entry: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        if count > max {
            return Err(WireError::TooLong { what, len: count, max });
        }
        if count.saturating_mul(min_entry) > self.buf.len() {
            return Err(WireError::Truncated { what });
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }

    /// One entry of a video list.
    fn video(&mut self) -> Result<VideoInfo, WireError> {
        let name = self.str8("video name", MAX_VIDEO_NAME)?;
        let frames = self.u32("frame count")?;
        let fps = self.f32("fps")?;
        let n = self.u8("resolution count")? as usize;
        let resolutions = self.list("resolutions", n, MAX_RESOLUTIONS, 5, |r| {
            Ok(Resolution {
                label: r.str8("resolution label", MAX_LABEL)?,
                width: r.u16("width")?,
                height: r.u16("height")?,
            })
        })?;
        Ok(VideoInfo { name, frames, fps, resolutions })
    }

    /// One segment of a stream's plan.
    fn segment(&mut self) -> Result<Segment, WireError> {
        Ok(Segment {
            label: self.str8("resolution label", MAX_LABEL)?,
            start: self.u32("segment start")?,
            frames: self.u32("segment frames")?,
        })
    }

    fn error(&mut self) -> Result<ServerMsg, WireError> {
        let code = self.u16("error code")?;
        let code = ErrorCode::from_u16(code).ok_or(WireError::BadValue { what: "error code" })?;
        Ok(ServerMsg::Error { code, text: self.str16("error text", MAX_ERROR_TEXT)? })
    }

    fn user(&mut self) -> Result<User, WireError> {
        Ok(User {
            name: self.str8("name", MAX_NAME)?,
            key: self.blob16("public key", MAX_KEY_DER)?,
        })
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Ends the payload: anything left over is an error, so a frame means one thing only.
    pub(crate) fn finish(self, tag: Tag) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes { tag, extra: self.buf.len() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_names_share_a_form_and_others_do_not() {
        for (a, b) in [("alice", "aIice"), ("alice", "a1ice"), ("alice", "ALICE"), ("bob", "b0b")] {
            assert_eq!(look_alike(a), look_alike(b), "{a} {b}");
        }
        assert_eq!(look_alike("rnallory"), look_alike("mallory"));
        assert_eq!(look_alike("vvendy"), look_alike("wendy"));
        assert_eq!(look_alike("clave"), look_alike("dave"));
        assert_ne!(look_alike("alice"), look_alike("alicia"));
        assert_ne!(look_alike("bob"), look_alike("rob"));
    }

    #[test]
    fn names_that_read_as_paths_or_options_are_refused() {
        for bad in [".", "..", ".hidden", "-rf", "--help"] {
            assert_eq!(check_name(bad), Err(NameError::BadStart), "{bad}");
        }
        for good in ["a.b", "a-b", "_x", "9lives", "c.d-e_f"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
    }

    fn user(name: &str) -> User {
        User { name: name.into(), key: vec![0x30, 0x82, 1, 2, 3] }
    }

    pub(crate) fn every_client_msg() -> Vec<ClientMsg> {
        vec![
            ClientMsg::Hello { magic: MAGIC, version: VERSION },
            ClientMsg::Join { name: "alice".into(), key: vec![7; 300], proof: vec![9; 256] },
            ClientMsg::KeyQuery { name: "bob".into() },
            ClientMsg::Pong,
            ClientMsg::Chat { to: "bob".into(), envelope: vec![9; 700] },
            ClientMsg::ListVideos,
            ClientMsg::Play { video: "demo".into(), mode: PlayMode::Split },
            ClientMsg::Play { video: "demo".into(), mode: PlayMode::Fixed("360p".into()) },
            ClientMsg::Stop,
            ClientMsg::Quit,
        ]
    }

    pub(crate) fn every_server_msg() -> Vec<ServerMsg> {
        vec![
            ServerMsg::Hello { magic: MAGIC, version: VERSION, challenge: [3; CHALLENGE_LEN] },
            ServerMsg::Welcome { name: "alice".into() },
            ServerMsg::Directory(vec![user("alice"), user("bob"), user("c.d-e_f")]),
            ServerMsg::Directory(vec![]),
            ServerMsg::Joined(user("bob")),
            ServerMsg::Left { name: "bob".into() },
            ServerMsg::Chat { from: "alice".into(), envelope: vec![1, 2, 3] },
            ServerMsg::Sent { to: "bob".into(), queued: false },
            ServerMsg::Sent { to: "bob".into(), queued: true },
            ServerMsg::UserKey(user("carol")),
            ServerMsg::Ping,
            ServerMsg::Error { code: ErrorCode::NameTaken, text: "the name alice is taken".into() },
            ServerMsg::VideoList(vec![VideoInfo {
                name: "demo".into(),
                frames: 100,
                fps: 25.0,
                resolutions: vec![
                    Resolution { label: "144p".into(), width: 256, height: 144 },
                    Resolution { label: "360p".into(), width: 640, height: 360 },
                ],
            }]),
            ServerMsg::StreamStart {
                video: "demo".into(),
                frames: 100,
                fps: 25.0,
                plan: vec![
                    Segment { label: "144p".into(), start: 0, frames: 34 },
                    Segment { label: "360p".into(), start: 34, frames: 33 },
                ],
            },
            ServerMsg::Frame { index: 7, label: "144p".into(), jpeg: vec![0xff, 0xd8, 0xff, 0xd9] },
            ServerMsg::StreamEnd { sent: 100, reason: EndReason::Stopped },
        ]
    }

    #[test]
    fn every_client_message_round_trips() {
        for msg in every_client_msg() {
            let bytes = msg.encode();
            assert_eq!(parse_client(&bytes), Ok((msg.clone(), bytes.len())), "{msg:?}");
        }
    }

    #[test]
    fn every_server_message_round_trips() {
        for msg in every_server_msg() {
            let bytes = msg.encode();
            assert_eq!(parse_server(&bytes), Ok((msg.clone(), bytes.len())), "{msg:?}");
        }
    }

    #[test]
    fn a_directory_of_shared_users_encodes_as_the_message_does() {
        let users = vec![user("alice"), user("bob")];
        let shared: Vec<Arc<User>> = users.iter().cloned().map(Arc::new).collect();
        assert_eq!(&*encode_directory(&shared), &ServerMsg::Directory(users).encode()[..]);
        assert_eq!(&*encode_directory(&[]), &ServerMsg::Directory(vec![]).encode()[..]);
    }

    #[test]
    fn every_truncated_prefix_is_incomplete() {
        let frames = every_client_msg().iter().map(ClientMsg::encode).collect::<Vec<_>>();
        for bytes in &frames {
            for cut in 0..bytes.len() {
                assert_eq!(parse_client(&bytes[..cut]), Err(WireError::Incomplete), "cut at {cut}");
            }
        }
        for bytes in every_server_msg().iter().map(ServerMsg::encode) {
            for cut in 0..bytes.len() {
                assert_eq!(parse_server(&bytes[..cut]), Err(WireError::Incomplete), "cut at {cut}");
            }
        }
    }

    #[test]
    fn back_to_back_frames_parse_one_at_a_time() {
        // The original glued commands sent back-to-back into one string; framing must not.
        let msgs = every_client_msg();
        let stream: Vec<u8> = msgs.iter().flat_map(ClientMsg::encode).collect();
        let mut rest = &stream[..];
        for expected in msgs {
            let (msg, used) = parse_client(rest).unwrap();
            assert_eq!(msg, expected);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn an_oversize_length_is_rejected_from_the_header_alone() {
        let mut header = Vec::from(*b"CHAT");
        header.extend_from_slice(&u32::MAX.to_be_bytes());
        // Only the 8 header bytes exist: if the reader tried to allocate or read 4 GiB it
        // would fail differently (or not at all).
        let err = parse_client(&header).unwrap_err();
        assert!(matches!(
            err,
            WireError::TooLong { len, max, .. }
                if len == u32::MAX as usize && max == MAX_CLIENT_FRAME
        ));
        let err = read_client(&mut &header[..]).unwrap_err();
        assert!(matches!(err, ReadError::Wire(WireError::TooLong { .. })), "{err:?}");
    }

    #[test]
    fn unknown_tags_are_errors_on_both_sides() {
        let mut frame = Vec::from(*b"XXXX");
        frame.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(parse_client(&frame), Err(WireError::UnknownTag(Tag(*b"XXXX"))));
        assert_eq!(parse_server(&frame), Err(WireError::UnknownTag(Tag(*b"XXXX"))));
        // A server-only tag sent by a client is unknown to the server.
        let welcome = ServerMsg::Welcome { name: "a".into() }.encode();
        assert_eq!(parse_client(&welcome), Err(WireError::UnknownTag(Tag::WELCOME)));
        // The tag is judged before the length: an HTTP request is an unknown tag.
        assert_eq!(parse_client(b"GET / HTTP/1.1\r\n"), Err(WireError::UnknownTag(Tag(*b"GET "))));
    }

    #[test]
    fn field_lengths_are_bounded_inside_the_payload() {
        // A JOIN whose key claims 60000 bytes: over MAX_KEY_DER, refused before allocating.
        let mut w = FrameWriter::new(Tag::JOIN);
        w.str8("alice");
        w.u16(60_000);
        let err = parse_client(&w.finish()).unwrap_err();
        assert_eq!(err, WireError::TooLong { what: "public key", len: 60_000, max: MAX_KEY_DER });

        // A name longer than 32 bytes.
        let mut w = FrameWriter::new(Tag::JOIN);
        w.str8(&"a".repeat(33));
        w.blob16(&[1]);
        assert!(matches!(parse_client(&w.finish()), Err(WireError::TooLong { what: "name", .. })));

        // A directory that claims a billion users in a tiny payload.
        let mut w = FrameWriter::new(Tag::DIRECTORY);
        w.u32(1_000_000_000);
        assert!(matches!(parse_server(&w.finish()), Err(WireError::TooLong { .. })));
        let mut w = FrameWriter::new(Tag::DIRECTORY);
        w.u32(60_000);
        assert!(matches!(parse_server(&w.finish()), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn invalid_utf8_and_trailing_bytes_are_errors() {
        let mut w = FrameWriter::new(Tag::JOIN);
        w.u8(2);
        w.raw(&[0xff, 0xfe]);
        w.blob16(&[1]);
        assert_eq!(parse_client(&w.finish()), Err(WireError::BadUtf8 { what: "name" }));

        let mut bytes = ClientMsg::Quit.encode();
        bytes[7] = 1;
        bytes.push(0);
        assert_eq!(
            parse_client(&bytes),
            Err(WireError::TrailingBytes { tag: Tag::QUIT, extra: 1 })
        );
    }

    #[test]
    fn an_overlong_field_is_cut_never_wrapped() {
        // 300 bytes would wrap to 44 in a u8 length: the rest would be read as the key.
        let join =
            ClientMsg::Join { name: "n".repeat(300), key: vec![1, 2, 3], proof: vec![] }.encode();
        assert_eq!(join[8], 255);
        let err = parse_client(&join).unwrap_err();
        assert!(matches!(err, WireError::TooLong { what: "name", len: 255, .. }), "{err:?}");
        // Cut on a character's boundary: "é" is 2 bytes, 255 is not even.
        assert_eq!(cut(&"é".repeat(200), 255).len(), 254);
        let text = "x".repeat(70_000);
        let error = ServerMsg::Error { code: ErrorCode::Malformed, text }.encode();
        assert_eq!(u16::from_be_bytes([error[10], error[11]]), u16::MAX);
    }

    #[test]
    fn unknown_codes_are_errors() {
        let mut w = FrameWriter::new(Tag::ERROR);
        w.u16(999);
        w.blob16(b"x");
        assert_eq!(parse_server(&w.finish()), Err(WireError::BadValue { what: "error code" }));
        let mut w = FrameWriter::new(Tag::STREAM);
        w.str8("demo");
        w.u8(7);
        assert_eq!(parse_client(&w.finish()), Err(WireError::BadValue { what: "play mode" }));
    }

    #[test]
    fn read_frame_reports_a_clean_close_apart_from_a_cut_one() {
        assert!(matches!(read_client(&mut &[][..]), Err(ReadError::Closed)));
        let bytes = ClientMsg::Quit.encode();
        assert!(matches!(read_client(&mut &bytes[..3]), Err(ReadError::Io(_))));
        let chat = ClientMsg::Chat { to: "bob".into(), envelope: vec![1; 10] }.encode();
        assert!(matches!(read_client(&mut &chat[..chat.len() - 1]), Err(ReadError::Io(_))));
        assert_eq!(read_client(&mut &bytes[..]).unwrap(), ClientMsg::Quit);
    }

    #[test]
    fn tags_display_safely() {
        assert_eq!(Tag::CHAT.to_string(), "CHAT");
        assert_eq!(Tag([0, b'A', 0xff, b' ']).to_string(), "\\x00A\\xff\\x20");
    }
}
