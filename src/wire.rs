//! The wire format: messages to bytes and back. Pure code over byte slices, plus two thin
//! helpers over `Read`/`Write`. It knows nothing of sockets, threads, keys or terminals.
//!
//! - here: the bounds, the tags (one table, [`MESSAGES`]), the errors and the messages;
//! - `frame`: the frame around each message: header, limits, reading one from a stream;
//! - `codec`: each message's payload, encoded and decoded;
//! - `fields`: the field types a payload is made of (numbers, bounded strings and lists).
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

mod codec;
mod fields;
mod frame;

use std::fmt;
use std::sync::Arc;

pub use codec::encode_frame;
pub(crate) use fields::{FrameWriter, Reader};
pub use frame::{
    FROM_CLIENT, FROM_SERVER, Limits, ReadError, check, parse_client, parse_header, parse_server,
    read_client, read_frame, read_server,
};

/// Sent first by both sides, so a stray program that connects is told at once what it reached.
pub const MAGIC: [u8; 4] = *b"CHRM";
/// Bumped on any incompatible change; both sides refuse a peer with another version.
pub const VERSION: u16 = 6;
/// Tag (4 bytes) + payload length (4 bytes).
pub const HEADER_LEN: usize = 8;
/// The largest payload of any frame (docs/PROTOCOL.md, "Frames"). Video frames are the only
/// large ones.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// The largest payload a client may send. Everything a client says is small, so the server
/// never allocates more than this for one client frame.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// User names: 1 to 32 characters (README, "Using it", gives the rules).
pub const MAX_NAME: usize = crate::names::MAX_LEN;
/// A DER-encoded RSA public key; 4096-bit keys take about 550 bytes.
pub const MAX_KEY_DER: usize = 1024;
/// The join proof: an RSA-PSS signature, as long as the key (at most 4096 bits).
pub const MAX_PROOF: usize = 512;
/// The server's join challenge: fresh random bytes for each connection.
pub const CHALLENGE_LEN: usize = 32;
/// A sealed direct message: 4096 bytes of text + tag, a wrapped key and a signature of at most
/// 512 bytes each (4096-bit keys), and small fields.
pub const MAX_ENVELOPE: usize = 6 * 1024;
/// Room names: `#` and 1 to 32 characters of the name alphabet (`names::check_room`).
pub const MAX_ROOM: usize = crate::names::MAX_ROOM_LEN;
/// The most members a room may have (docs/SECURITY.md, "Limits"): a room message carries one
/// envelope per member in one client frame, which stays within `MAX_CLIENT_FRAME`.
pub const MAX_ROOM_MEMBERS: usize = 32;
/// The most rooms one user may be in.
pub const MAX_ROOMS_PER_USER: usize = 16;
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
    /// The client has shown (or dropped for good) the message with this id: the server may
    /// delete it.
    pub const ACK: Tag = Tag(*b"ACKN");
    /// A recipient acknowledged messages of ours that the server held for them.
    pub const DELIVERED: Tag = Tag(*b"DLVD");
    /// Join a room (client); the server answers with `RINF`.
    pub const ROOM_JOIN: Tag = Tag(*b"RJON");
    /// Leave a room.
    pub const ROOM_LEAVE: Tag = Tag(*b"RLEV");
    /// The rooms we are in: a request (client) or the answer (server).
    pub const ROOM_LIST: Tag = Tag(*b"RLST");
    /// Ask for a room's members and their keys, to write to it.
    pub const ROOM_QUERY: Tag = Tag(*b"RQRY");
    /// A room and its members with their keys.
    pub const ROOM_INFO: Tag = Tag(*b"RINF");
    /// Someone joined, or left, a room we are in.
    pub const ROOM_JOINED: Tag = Tag(*b"RJND");
    pub const ROOM_LEFT: Tag = Tag(*b"RLFT");
    /// A room message: one envelope per member (client), or one member's (server).
    pub const ROOM_CHAT: Tag = Tag(*b"RCHT");
}

/// Who sends a kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
    /// `HELO` is both the client's greeting and the server's answer.
    Both,
}

/// Every kind of message, once: its tag and who sends it. What each side accepts is read
/// from this table. A new kind of message is a row here, a tag above, and its variant with
/// an arm in `tag`, `encode` and `decode` (the compiler points at each).
pub const MESSAGES: &[(Tag, Side)] = &[
    (Tag::HELLO, Side::Both),
    (Tag::JOIN, Side::Client),
    (Tag::WELCOME, Side::Server),
    (Tag::DIRECTORY, Side::Server),
    (Tag::JOINED, Side::Server),
    (Tag::LEFT, Side::Server),
    (Tag::CHAT, Side::Both),
    (Tag::ERROR, Side::Server),
    (Tag::QUIT, Side::Client),
    (Tag::VIDEO_LIST, Side::Both),
    (Tag::STREAM, Side::Both),
    (Tag::FRAME, Side::Server),
    (Tag::STOP, Side::Client),
    (Tag::STREAM_END, Side::Server),
    (Tag::SENT, Side::Server),
    (Tag::KEY_QUERY, Side::Client),
    (Tag::PING, Side::Server),
    (Tag::PONG, Side::Client),
    (Tag::USER_KEY, Side::Server),
    (Tag::ACK, Side::Client),
    (Tag::DELIVERED, Side::Server),
    (Tag::ROOM_JOIN, Side::Client),
    (Tag::ROOM_LEAVE, Side::Client),
    (Tag::ROOM_LIST, Side::Both),
    (Tag::ROOM_QUERY, Side::Client),
    (Tag::ROOM_INFO, Side::Server),
    (Tag::ROOM_JOINED, Side::Server),
    (Tag::ROOM_LEFT, Side::Server),
    (Tag::ROOM_CHAT, Side::Both),
];

/// The tags `side` sends.
pub fn tags_of(side: Side) -> impl Iterator<Item = Tag> {
    MESSAGES.iter().filter(move |(_, s)| *s == side || *s == Side::Both).map(|(tag, _)| *tag)
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

/// The fields of `JOIN` whose bounds a client may overstep and still be answered with a
/// refusal it can retry (the frame was read whole, so the connection is still in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinField {
    Name,
    Key,
}

/// The `what` of `JOIN`'s two fields, written once for the decoder and `join_field_too_long`.
const JOIN_NAME: &str = "name";
const JOIN_KEY: &str = "public key";

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

impl WireError {
    /// The `JOIN` field that was over its bound, with its length and the bound, if that is
    /// what this error is. (Only `JOIN` is decoded before a client has joined, so a `name`
    /// or `public key` over its bound then is always `JOIN`'s.)
    pub fn join_field_too_long(&self) -> Option<(JoinField, usize, usize)> {
        match *self {
            WireError::TooLong { what: JOIN_NAME, len, max } => Some((JoinField::Name, len, max)),
            WireError::TooLong { what: JOIN_KEY, len, max } => Some((JoinField::Key, len, max)),
            _ => None,
        }
    }
}

/// Defines [`ErrorCode`] and the list of every code from one list of rows, so that adding a
/// code is one row (a hand-kept second list would be a place to forget it).
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        /// Error codes carried by `ERRR` frames, so a program can react without parsing
        /// English.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $value,)*
        }

        impl ErrorCode {
            /// Every code, in order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];
        }
    };
}

error_codes! {
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
    /// Not sent since protocol 4 (a recipient's full queue); a full mailbox is `MailboxFull`.
    RecipientTooSlow = 14,
    UnknownVideo = 15,
    /// A video could not be read or encoded.
    VideoFailed = 16,
    /// The name is registered to another key.
    NameRegistered = 17,
    /// The recipient's mailbox (what waits for it, unacknowledged) is full.
    MailboxFull = 18,
    /// The server could not store the message (its disk, its database): it was not taken,
    /// and the client offers it again.
    NotStored = 19,
    /// The same user joined again from another connection (the same key, proved): this
    /// session is closed. A client does not reconnect on it.
    Replaced = 20,
    /// A room request from someone who is not a member (writing to it, leaving it), or an
    /// envelope for someone who is not.
    NotInRoom = 21,
    /// A room is full, or the user is in as many rooms as allowed.
    RoomLimit = 22,
}

impl ErrorCode {
    fn from_u16(v: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| *c as u16 == v)
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
    /// The resolution follows what the client reads (`stream.rs`, `Adapt`), switching at
    /// frame boundaries. The plan announced lists the resolutions it may use, each with 0
    /// frames.
    Auto,
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
    /// refusal. `throwaway`: the key lasts this session only (`--ephemeral`), so the server
    /// binds the name to it only while the session lasts.
    Join { name: String, key: Vec<u8>, proof: Vec<u8>, throwaway: bool },
    /// `CHAT`: a sealed envelope for one recipient. The server cannot read it.
    Chat { to: String, envelope: Vec<u8> },
    /// `ACKN`: the message `id` (a `CHAT` from the server) is shown, or dropped for good: the
    /// server deletes it. Until then it is sent again at every join.
    Ack { id: u64 },
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
    /// `RJON`: join `room` (made if new); answered by `RINF`.
    RoomJoin { room: String },
    /// `RLEV`: leave `room`; answered by `RLFT` with our own name.
    RoomLeave { room: String },
    /// `RLST`: the rooms we are in, with their members.
    RoomList,
    /// `RQRY`: `room`'s members and their keys (we must be one); answered by `RINF`.
    RoomQuery { room: String },
    /// `RCHT`: a room message, sealed once for each member it is for (`(member, envelope)`).
    RoomChat { room: String, envelopes: Vec<(String, Vec<u8>)> },
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
    /// `RLST`: the rooms we are in, each with its members' names.
    RoomList(Vec<(String, Vec<String>)>),
    /// `RJND`: `name` joined `room`.
    RoomJoined { room: String, name: String },
    /// `RLFT`: `name` left `room` (our own name: we did).
    RoomLeft { room: String, name: String },
    /// `RCHT`: a room message for us, from `from`, with its id to acknowledge (`ACKN`).
    RoomChat { id: u64, room: String, from: String, envelope: Vec<u8> },
}

#[cfg(test)]
mod tests {
    use super::fields::cut;
    use super::*;

    fn user(name: &str) -> User {
        User { name: name.into(), key: vec![0x30, 0x82, 1, 2, 3] }
    }

    #[test]
    fn a_video_frame_made_in_one_allocation_is_the_same_frame() {
        let jpeg: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        let made = encode_frame(42, "720p", &jpeg);
        let msg = ServerMsg::Frame { index: 42, label: "720p".into(), jpeg };
        assert_eq!(&made[..], &msg.encode()[..]);
        assert_eq!(parse_server(&made).unwrap(), (msg, made.len()));
    }

    pub(crate) fn every_client_msg() -> Vec<ClientMsg> {
        vec![
            ClientMsg::Hello { magic: MAGIC, version: VERSION },
            ClientMsg::Join {
                name: "alice".into(),
                key: vec![7; 300],
                proof: vec![9; 256],
                throwaway: true,
            },
            ClientMsg::KeyQuery { name: "bob".into() },
            ClientMsg::Pong,
            ClientMsg::Chat { to: "bob".into(), envelope: vec![9; 700] },
            ClientMsg::Ack { id: 42 },
            ClientMsg::ListVideos,
            ClientMsg::Play { video: "demo".into(), mode: PlayMode::Split },
            ClientMsg::Play { video: "demo".into(), mode: PlayMode::Fixed("360p".into()) },
            ClientMsg::Stop,
            ClientMsg::Quit,
            ClientMsg::RoomJoin { room: "#study".into() },
            ClientMsg::RoomLeave { room: "#study".into() },
            ClientMsg::RoomList,
            ClientMsg::RoomQuery { room: "#study".into() },
            ClientMsg::RoomChat {
                room: "#study".into(),
                envelopes: vec![("bob".into(), vec![1; 500]), ("carol".into(), vec![2; 500])],
            },
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
            ServerMsg::Chat { id: u64::MAX - 7, from: "alice".into(), envelope: vec![1, 2, 3] },
            ServerMsg::Delivered { to: "bob".into(), count: 3 },
            ServerMsg::RoomInfo {
                room: "#study".into(),
                members: vec![user("bob"), user("carol")],
            },
            ServerMsg::RoomList(vec![("#study".into(), vec!["bob".into(), "carol".into()])]),
            ServerMsg::RoomJoined { room: "#study".into(), name: "carol".into() },
            ServerMsg::RoomLeft { room: "#study".into(), name: "carol".into() },
            ServerMsg::RoomChat {
                id: 9,
                room: "#study".into(),
                from: "bob".into(),
                envelope: vec![3; 600],
            },
            ServerMsg::Sent { to: "#study".into(), queued: true },
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
        let join = ClientMsg::Join {
            name: "n".repeat(300),
            key: vec![1, 2, 3],
            proof: vec![],
            throwaway: false,
        }
        .encode();
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
    fn the_message_table_names_each_tag_once_and_every_code_is_listed() {
        let mut tags: Vec<[u8; 4]> = MESSAGES.iter().map(|(t, _)| t.0).collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), MESSAGES.len());
        // Each side reads what the other sends, and only that.
        assert!(FROM_CLIENT.accepts(Tag::PONG) && !FROM_SERVER.accepts(Tag::PONG));
        assert!(FROM_SERVER.accepts(Tag::PING) && !FROM_CLIENT.accepts(Tag::PING));
        assert!(FROM_CLIENT.accepts(Tag::HELLO) && FROM_SERVER.accepts(Tag::HELLO));
        // Codes are numbered 1, 2, 3... and each decodes to itself.
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as u16, i as u16 + 1);
            assert_eq!(ErrorCode::from_u16(*code as u16), Some(*code));
        }
        assert_eq!(ErrorCode::from_u16(ErrorCode::ALL.len() as u16 + 1), None);
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
