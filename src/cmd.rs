//! Everything a client may ask of the server, one file per kind, as mini-redis keeps its
//! commands (`src/cmd/get.rs`): each file holds the request's payload, how it is read (every
//! field bounded), and what the server does with it (`apply`, on the connection's
//! [`Handler`]). This file is only the table: one row per kind, from which the macro makes
//! the enum [`ClientMsg`], its decoder, and its one dispatch.
//!
//! Adding a request is one new file (a struct, `impl Message`, `apply`) and one row below.
//! A kind cannot be half added: its decoder is its `Message::read`, reached only through its
//! row, and the dispatch is generated from the same row.

use std::io::Read;

use crate::handler::Handler;
use crate::socket::End;
use crate::wire::{
    self, Encode, Inbound, Limits, MAX_CLIENT_FRAME, Message, ReadError, Tag, WireError,
};

/// Defines the request kinds from one list of `module::Kind` rows: each module, the enum
/// with a variant per kind, the tags a server accepts, decoding by tag, and the dispatch.
macro_rules! commands {
    ($($module:ident::$kind:ident,)*) => {
        $(mod $module; pub use $module::$kind;)*

        /// Any request a client sends.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ClientMsg {
            $($kind($kind),)*
        }

        /// Every tag a client sends: what the server accepts.
        pub const CLIENT_TAGS: &[Tag] = &[$($kind::TAG,)*];

        impl ClientMsg {
            pub fn tag(&self) -> Tag {
                match self {
                    $(ClientMsg::$kind(_) => $kind::TAG,)*
                }
            }

            /// Decodes one payload. The caller has already checked `payload.len()` against the
            /// bound. Hot kinds first: the tags are compared in the table's order.
            pub fn decode(tag: Tag, payload: &[u8]) -> Result<ClientMsg, WireError> {
                $(if tag == $kind::TAG {
                    return wire::decode_as::<$kind>(payload).map(ClientMsg::$kind);
                })*
                Err(WireError::UnknownTag(tag))
            }

            /// What the server does with the request: the one dispatch. `Some` when the
            /// session is to end.
            pub(crate) fn apply(self, handler: &mut Handler) -> Option<End> {
                match self {
                    $(ClientMsg::$kind(cmd) => cmd.apply(handler),)*
                }
            }
        }

        impl Encode for ClientMsg {
            fn encode(&self) -> Vec<u8> {
                match self {
                    $(ClientMsg::$kind(cmd) => cmd.encode(),)*
                }
            }
        }

        $(impl From<$kind> for ClientMsg {
            fn from(cmd: $kind) -> ClientMsg {
                ClientMsg::$kind(cmd)
            }
        })*
    };
}

commands! {
    chat::Chat,
    ack::Ack,
    room_chat::RoomChat,
    pong::Pong,
    hello::Hello,
    join::Join,
    key_query::KeyQuery,
    list_videos::ListVideos,
    play::Play,
    stop::Stop,
    quit::Quit,
    room_join::RoomJoin,
    room_change::RoomChange,
    room_list::RoomList,
    room_query::RoomQuery,
    watch::Watch,
}

pub use crate::wire::{SeekTo, WatchAction};

/// What the server accepts from a client. A client's payload buffer grows as its bytes
/// arrive (`wire::read_frame`).
pub const FROM_CLIENT: Limits =
    Limits { tags: CLIENT_TAGS, max_payload: MAX_CLIENT_FRAME, grow: true };

impl Inbound for ClientMsg {
    const LIMITS: Limits = FROM_CLIENT;
    fn decode(tag: Tag, payload: &[u8]) -> Result<ClientMsg, WireError> {
        ClientMsg::decode(tag, payload)
    }
}

/// Parses one client frame from the front of `buf`; returns it and the bytes it took.
pub fn parse_client(buf: &[u8]) -> Result<(ClientMsg, usize), WireError> {
    wire::parse(buf)
}

/// Reads and decodes one frame sent by a client.
pub fn read_client(r: &mut impl Read) -> Result<ClientMsg, ReadError> {
    wire::read(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::*;
    use std::sync::Arc;

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

    fn every_client_msg() -> Vec<ClientMsg> {
        vec![
            ClientMsg::Hello(Hello { magic: MAGIC, version: VERSION }),
            ClientMsg::Join(Join {
                name: "alice".into(),
                key: vec![7; 300],
                proof: vec![9; 256],
                throwaway: true,
            }),
            ClientMsg::KeyQuery(KeyQuery { name: "bob".into() }),
            ClientMsg::Pong(Pong),
            ClientMsg::Chat(Chat { to: "bob".into(), envelope: vec![9; 700] }),
            ClientMsg::Ack(Ack { id: 42 }),
            ClientMsg::ListVideos(ListVideos),
            ClientMsg::Play(Play { video: "demo".into(), mode: PlayMode::Split }),
            ClientMsg::Play(Play { video: "demo".into(), mode: PlayMode::Fixed("360p".into()) }),
            ClientMsg::Stop(Stop),
            ClientMsg::Quit(Quit),
            ClientMsg::RoomJoin(RoomJoin { room: "#study".into(), since: [4; 32] }),
            ClientMsg::RoomChange(RoomChange { change: vec![5; 900] }),
            ClientMsg::RoomList(RoomList),
            ClientMsg::RoomQuery(RoomQuery { room: "#study".into() }),
            ClientMsg::RoomChat(RoomChat {
                room: "#study".into(),
                envelopes: vec![("bob".into(), vec![1; 500]), ("carol".into(), vec![2; 500])],
            }),
        ]
    }

    fn every_server_msg() -> Vec<ServerMsg> {
        vec![
            ServerMsg::Hello { magic: MAGIC, version: VERSION, challenge: [3; CHALLENGE_LEN] },
            ServerMsg::Welcome { name: "alice".into(), window: 128, last_seq: 7 },
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
            ServerMsg::RoomLog { room: "#study".into(), changes: vec![vec![1; 700], vec![2; 30]] },
            ServerMsg::RoomLog { room: "#new".into(), changes: vec![] },
            ServerMsg::RoomChange { change: vec![6; 800] },
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
        let welcome = ServerMsg::Welcome { name: "a".into(), window: 128, last_seq: 0 }.encode();
        assert_eq!(parse_client(&welcome), Err(WireError::UnknownTag(Tag::WELCOME)));
        // The tag is judged before the length: an HTTP request is an unknown tag.
        assert_eq!(parse_client(b"GET / HTTP/1.1\r\n"), Err(WireError::UnknownTag(Tag(*b"GET "))));
    }

    #[test]
    fn field_lengths_are_bounded_inside_the_payload() {
        // A JOIN whose key claims 60000 bytes: over MAX_KEY_DER, refused before allocating.
        let mut w = FrameWriter::new(Join::TAG);
        w.str8("alice");
        w.u16(60_000);
        let err = parse_client(&w.finish()).unwrap_err();
        assert_eq!(err, WireError::TooLong { what: "public key", len: 60_000, max: MAX_KEY_DER });

        // A name longer than 32 bytes.
        let mut w = FrameWriter::new(Join::TAG);
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
        let mut w = FrameWriter::new(Join::TAG);
        w.u8(2);
        w.raw(&[0xff, 0xfe]);
        w.blob16(&[1]);
        assert_eq!(parse_client(&w.finish()), Err(WireError::BadUtf8 { what: "name" }));

        let mut bytes = ClientMsg::Quit(Quit).encode();
        bytes[7] = 1;
        bytes.push(0);
        assert_eq!(
            parse_client(&bytes),
            Err(WireError::TrailingBytes { tag: Quit::TAG, extra: 1 })
        );
    }

    #[test]
    fn an_overlong_field_is_cut_never_wrapped() {
        // 300 bytes would wrap to 44 in a u8 length: the rest would be read as the key.
        let join = ClientMsg::Join(Join {
            name: "n".repeat(300),
            key: vec![1, 2, 3],
            proof: vec![],
            throwaway: false,
        })
        .encode();
        assert_eq!(join[8], 255);
        let err = parse_client(&join).unwrap_err();
        assert!(matches!(err, WireError::TooLong { what: "name", len: 255, .. }), "{err:?}");
        let text = "x".repeat(70_000);
        let error = ServerMsg::Error { code: ErrorCode::Malformed, text }.encode();
        assert_eq!(u16::from_be_bytes([error[10], error[11]]), u16::MAX);
    }

    #[test]
    fn the_message_table_names_each_tag_once_and_every_code_is_listed() {
        for table in [CLIENT_TAGS, SERVER_TAGS] {
            let mut tags: Vec<[u8; 4]> = table.iter().map(|t| t.0).collect();
            tags.sort();
            tags.dedup();
            assert_eq!(tags.len(), table.len());
        }
        // Each side reads what the other sends, and only that.
        assert!(FROM_CLIENT.accepts(Pong::TAG) && !FROM_SERVER.accepts(Pong::TAG));
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
        let bytes = ClientMsg::Quit(Quit).encode();
        assert!(matches!(read_client(&mut &bytes[..3]), Err(ReadError::Io(_))));
        let chat = ClientMsg::Chat(Chat { to: "bob".into(), envelope: vec![1; 10] }).encode();
        assert!(matches!(read_client(&mut &chat[..chat.len() - 1]), Err(ReadError::Io(_))));
        assert_eq!(read_client(&mut &bytes[..]).unwrap(), ClientMsg::Quit(Quit));
    }
}
