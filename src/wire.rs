//! The wire format: messages to bytes and back. Pure code over byte slices, plus two thin
//! helpers over `Read`/`Write`. It knows nothing of sockets, threads, keys or terminals.
//!
//! - here: the bounds, the tags the server sends, the errors, the data messages carry;
//! - `frame`: the frame around each message: header, limits, reading one from a stream;
//! - `message`: what a message kind is ([`Message`]: a tag, a payload both ways), and reading
//!   one side's messages ([`Inbound`]);
//! - `server`: everything the server sends, [`ServerMsg`], one table of kinds;
//! - `fields`: the field types a payload is made of (numbers, bounded strings and lists).
//!
//! What a client sends is one file per kind, each with its handling on the server, in
//! `src/cmd/` (one table, `cmd::ClientMsg`).
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

mod fields;
mod frame;
mod message;
mod server;

use std::fmt;
use std::sync::Arc;

pub use fields::{FrameWriter, Reader};
pub use frame::{FROM_SERVER, Limits, ReadError, check, parse_header, read_frame};
pub use message::{Encode, Inbound, Message, decode_as, parse, read};
pub use server::{SERVER_TAGS, ServerMsg, encode_frame};

/// Parses one server frame from the front of `buf`; returns it and the bytes it took.
pub fn parse_server(buf: &[u8]) -> Result<(ServerMsg, usize), WireError> {
    parse(buf)
}

/// Reads and decodes one frame sent by the server.
pub fn read_server(r: &mut impl std::io::Read) -> Result<ServerMsg, ReadError> {
    read(r)
}

/// Sent first by both sides, so a stray program that connects is told at once what it reached.
pub const MAGIC: [u8; 4] = *b"CHRM";
/// Bumped on any incompatible change; both sides refuse a peer with another version.
pub const VERSION: u16 = 10;
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
/// Chat messages (envelopes) a client may have sent and not had answered yet: the window
/// `WLCM` announces (`mail::WINDOW`). A client that honours it is never refused for speed.
pub const CHAT_WINDOW: u16 = 128;
/// Changes one room's history may hold (`roster::Roster::apply`): about 1 KiB each, so a
/// newcomer checks at most about 2 MB. Past it the room takes no more changes.
pub const MAX_CHANGES: usize = 1024;
/// The largest encoded room change (`roster::Change`): its fields, a 4096-bit key and its
/// signature.
pub const MAX_CHANGE: usize = 2048;
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
/// The constants are the tags the server sends; each client request's is in its file
/// (`src/cmd/`), beside its payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(pub [u8; 4]);

impl Tag {
    pub const HELLO: Tag = Tag(*b"HELO");
    pub const WELCOME: Tag = Tag(*b"WLCM");
    /// The original's user-information message: here, the whole directory.
    pub const DIRECTORY: Tag = Tag(*b"URIF");
    pub const JOINED: Tag = Tag(*b"JOND");
    pub const LEFT: Tag = Tag(*b"LEFT");
    pub const CHAT: Tag = Tag(*b"CHAT");
    pub const ERROR: Tag = Tag(*b"ERRR");
    /// The original's stream-list message.
    pub const VIDEO_LIST: Tag = Tag(*b"STLI");
    /// The original's stream message: a play request (client) or a stream start (server).
    pub const STREAM: Tag = Tag(*b"STRM");
    pub const FRAME: Tag = Tag(*b"FRAM");
    pub const STREAM_END: Tag = Tag(*b"SEND");
    /// The server took a chat message: it is on its way to the recipient.
    pub const SENT: Tag = Tag(*b"SENT");
    /// Are you there? (a joined client silent for a while). Answered with `PONG`.
    pub const PING: Tag = Tag(*b"PING");
    pub const USER_KEY: Tag = Tag(*b"USER");
    /// A recipient acknowledged messages of ours that the server held for them.
    pub const DELIVERED: Tag = Tag(*b"DLVD");
    /// The rooms we are in: a request (client) or the answer (server).
    pub const ROOM_LIST: Tag = Tag(*b"RLST");
    /// A room and its members with their keys.
    pub const ROOM_INFO: Tag = Tag(*b"RINF");
    /// A room's signed membership changes, after the last one the client holds.
    pub const ROOM_LOG: Tag = Tag(*b"RLOG");
    /// One signed membership change: a request (client) or its news (server).
    pub const ROOM_CHANGE: Tag = Tag(*b"RCHG");
    /// A room message: one envelope per member (client), or one member's (server).
    pub const ROOM_CHAT: Tag = Tag(*b"RCHT");
    /// A member's request to its room's watch (client).
    pub const WATCH: Tag = Tag(*b"WTCH");
    /// News of a room's watch: who did what, and where the video is (server).
    pub const WATCH_NEWS: Tag = Tag(*b"WTEV");
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

/// The `what` of `JOIN`'s two fields, written once for its decoder (`cmd::join`) and
/// `join_field_too_long`.
pub(crate) const JOIN_NAME: &str = "name";
pub(crate) const JOIN_KEY: &str = "public key";

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
    /// The error code that answers a malformed frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::UnknownTag(_) => ErrorCode::UnknownTag,
            _ => ErrorCode::Malformed,
        }
    }

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
    /// `RJON` of a room one is neither in nor invited to.
    InviteOnly = 23,
    /// A membership change that does not follow the room's chain or break its rules.
    BadRoomChange = 24,
}

impl ErrorCode {
    pub(crate) fn from_u16(v: u16) -> Option<ErrorCode> {
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

/// What a member asks of its room's watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchAction {
    Start {
        video: String,
        mode: PlayMode,
    },
    Stop,
    Pause,
    Play,
    /// To a frame, or a time in milliseconds (the server knows the frame rate).
    Seek(SeekTo),
    /// The watch's frames to me, from its current frame (a member online or joining
    /// mid-stream, or coming back after leaving it).
    Attach,
    /// No more of its frames to me: I leave the watch alone; it goes on for the others.
    Detach,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    Frame(u32),
    Millis(u32),
}

/// What happened to a room's watch (`WTEV`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    Started {
        video: String,
    },
    Paused,
    Playing,
    Seeked,
    Stopped,
    Ended,
    /// To one member only: its lane could not take `missed` frames so far.
    Behind {
        missed: u32,
    },
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

#[cfg(test)]
mod tests {
    use super::fields::cut;
    use super::*;

    #[test]
    fn a_cut_ends_on_a_character_boundary() {
        // "é" is 2 bytes, 255 is not even.
        assert_eq!(cut(&"é".repeat(200), 255).len(), 254);
        assert_eq!(cut("abc", 255), "abc");
    }

    #[test]
    fn tags_display_safely() {
        assert_eq!(Tag::CHAT.to_string(), "CHAT");
        assert_eq!(Tag([0, b'A', 0xff, b' ']).to_string(), "\\x00A\\xff\\x20");
    }
}
