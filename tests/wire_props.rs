//! Property tests of the wire format: arbitrary bytes never panic and never make the parser
//! allocate more than the frame bound; arbitrary messages round-trip; any split of a valid
//! byte stream into reads gives the same messages.

use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;

use chatroom::cmd::{self, ClientMsg};
use chatroom::wire::{
    self, Encode, EndReason, ErrorCode, MAX_CLIENT_FRAME, PlayMode, Resolution, Segment, ServerMsg,
    User, VideoInfo, WatchEvent,
};

/// Records the largest single allocation made by this thread while tracking is on.
struct Tracking;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = TRACKING.try_with(|t| {
            if t.get() {
                let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
            }
        });
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns the largest allocation it made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    f();
    TRACKING.with(|t| t.set(false));
    LARGEST.with(|l| l.get())
}

/// Bytes that often start like a real frame (a known tag), so the parser gets past the header.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let tags: Vec<[u8; 4]> =
        cmd::CLIENT_TAGS.iter().chain(wire::SERVER_TAGS).map(|t| t.0).collect();
    (
        proptest::sample::select(tags),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..512),
        any::<bool>(),
    )
        .prop_map(|(tag, len, body, framed)| {
            if !framed {
                return body;
            }
            let mut bytes = tag.to_vec();
            // Half the time a length that fits what follows, half the time anything.
            let len = if len % 2 == 0 { (body.len() as u32).min(len) } else { len };
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend(body);
            bytes
        })
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,32}"
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..40).prop_map(move |c| {
        let mut s: String = c.into_iter().collect();
        while s.len() > max {
            s.pop();
        }
        s
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    let mode = prop_oneof![
        Just(PlayMode::Split),
        Just(PlayMode::Auto),
        "[0-9]{1,4}p".prop_map(PlayMode::Fixed)
    ];
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(magic, version)| ClientMsg::Hello(cmd::Hello { magic, version })),
        (name(), bytes(wire::MAX_KEY_DER), bytes(wire::MAX_PROOF), any::<bool>()).prop_map(
            |(name, key, proof, throwaway)| ClientMsg::Join(cmd::Join {
                name,
                key,
                proof,
                throwaway
            })
        ),
        name().prop_map(|name| ClientMsg::KeyQuery(cmd::KeyQuery { name })),
        Just(ClientMsg::Pong(cmd::Pong)),
        (name(), bytes(2000))
            .prop_map(|(to, envelope)| ClientMsg::Chat(cmd::Chat { to, envelope })),
        any::<u64>().prop_map(|id| ClientMsg::Ack(cmd::Ack { id })),
        Just(ClientMsg::ListVideos(cmd::ListVideos)),
        (text(wire::MAX_VIDEO_NAME), mode)
            .prop_map(|(video, mode)| ClientMsg::Play(cmd::Play { video, mode })),
        Just(ClientMsg::Stop(cmd::Stop)),
        Just(ClientMsg::Quit(cmd::Quit)),
        (room(), any::<[u8; 32]>())
            .prop_map(|(room, since)| ClientMsg::RoomJoin(cmd::RoomJoin { room, since })),
        bytes(wire::MAX_CHANGE)
            .prop_map(|change| ClientMsg::RoomChange(cmd::RoomChange { change })),
        room().prop_map(|room| ClientMsg::RoomQuery(cmd::RoomQuery { room })),
        Just(ClientMsg::RoomList(cmd::RoomList)),
        (room(), proptest::collection::vec((name(), bytes(600)), 0..wire::MAX_ROOM_MEMBERS))
            .prop_map(|(room, envelopes)| ClientMsg::RoomChat(cmd::RoomChat { room, envelopes })),
        (room(), watch_action())
            .prop_map(|(room, action)| ClientMsg::Watch(cmd::Watch { room, action })),
    ]
}

fn watch_action() -> impl Strategy<Value = cmd::WatchAction> {
    use cmd::{SeekTo, WatchAction};
    let mode = prop_oneof![
        Just(PlayMode::Split),
        Just(PlayMode::Auto),
        "[0-9]{1,4}p".prop_map(PlayMode::Fixed)
    ];
    prop_oneof![
        (text(wire::MAX_VIDEO_NAME), mode)
            .prop_map(|(video, mode)| WatchAction::Start { video, mode }),
        Just(WatchAction::Stop),
        Just(WatchAction::Pause),
        Just(WatchAction::Play),
        any::<u32>().prop_map(|f| WatchAction::Seek(SeekTo::Frame(f))),
        any::<u32>().prop_map(|ms| WatchAction::Seek(SeekTo::Millis(ms))),
        Just(WatchAction::Attach),
        Just(WatchAction::Detach),
    ]
}

fn room() -> impl Strategy<Value = String> {
    "#[A-Za-z0-9_.-]{1,32}"
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    let user = || (name(), bytes(600)).prop_map(|(name, key)| User { name, key });
    let resolution = ("[0-9]{1,4}p", any::<u16>(), any::<u16>())
        .prop_map(|(label, width, height)| Resolution { label, width, height });
    let video = (
        text(wire::MAX_VIDEO_NAME),
        any::<u32>(),
        0.1f32..240.0,
        proptest::collection::vec(resolution, 0..5),
    )
        .prop_map(|(name, frames, fps, resolutions)| VideoInfo {
            name,
            frames,
            fps,
            resolutions,
        });
    let segment = ("[0-9]{1,4}p", any::<u32>(), any::<u32>())
        .prop_map(|(label, start, frames)| Segment { label, start, frames });
    let code = proptest::sample::select(vec![
        ErrorCode::NameTaken,
        ErrorCode::UnknownUser,
        ErrorCode::RateLimited,
    ]);
    let reason =
        proptest::sample::select(vec![EndReason::Complete, EndReason::Stopped, EndReason::Error]);
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>(), any::<[u8; 32]>())
            .prop_map(|(magic, version, challenge)| ServerMsg::Hello { magic, version, challenge }),
        (name(), any::<u16>(), any::<u64>())
            .prop_map(|(name, window, last_seq)| ServerMsg::Welcome { name, window, last_seq }),
        proptest::collection::vec(user(), 0..20).prop_map(ServerMsg::Directory),
        user().prop_map(ServerMsg::Joined),
        name().prop_map(|name| ServerMsg::Left { name }),
        (room(), proptest::collection::vec(user(), 0..wire::MAX_ROOM_MEMBERS))
            .prop_map(|(room, members)| ServerMsg::RoomInfo { room, members }),
        proptest::collection::vec(
            (room(), proptest::collection::vec(name(), 0..wire::MAX_ROOM_MEMBERS)),
            0..wire::MAX_ROOMS_PER_USER
        )
        .prop_map(ServerMsg::RoomList),
        (room(), proptest::collection::vec(bytes(wire::MAX_CHANGE), 0..8))
            .prop_map(|(room, changes)| ServerMsg::RoomLog { room, changes }),
        bytes(wire::MAX_CHANGE).prop_map(|change| ServerMsg::RoomChange { change }),
        (any::<u64>(), room(), name(), bytes(2000)).prop_map(|(id, room, from, envelope)| {
            ServerMsg::RoomChat { id, room, from, envelope }
        }),
        (name(), any::<bool>()).prop_map(|(to, queued)| ServerMsg::Sent { to, queued }),
        user().prop_map(ServerMsg::UserKey),
        Just(ServerMsg::Ping),
        (any::<u64>(), name(), bytes(2000)).prop_map(|(id, from, envelope)| ServerMsg::Chat {
            id,
            from,
            envelope
        }),
        (name(), any::<u32>()).prop_map(|(to, count)| ServerMsg::Delivered { to, count }),
        (code, text(wire::MAX_ERROR_TEXT)).prop_map(|(code, text)| ServerMsg::Error { code, text }),
        proptest::collection::vec(video, 0..5).prop_map(ServerMsg::VideoList),
        (
            text(wire::MAX_VIDEO_NAME),
            any::<u32>(),
            0.1f32..240.0,
            proptest::collection::vec(segment, 0..5)
        )
            .prop_map(|(video, frames, fps, plan)| ServerMsg::StreamStart {
                video,
                frames,
                fps,
                plan
            }),
        (any::<u32>(), "[0-9]{1,4}p", bytes(3000))
            .prop_map(|(index, label, jpeg)| ServerMsg::Frame { index, label, jpeg }),
        (any::<u32>(), reason).prop_map(|(sent, reason)| ServerMsg::StreamEnd { sent, reason }),
        (room(), name(), watch_event(), any::<u32>())
            .prop_map(|(room, by, event, at_ms)| ServerMsg::Watch { room, by, event, at_ms }),
    ]
}

fn watch_event() -> impl Strategy<Value = WatchEvent> {
    prop_oneof![
        text(wire::MAX_VIDEO_NAME).prop_map(|video| WatchEvent::Started { video }),
        Just(WatchEvent::Paused),
        Just(WatchEvent::Playing),
        Just(WatchEvent::Seeked),
        Just(WatchEvent::Stopped),
        Just(WatchEvent::Ended),
        any::<u32>().prop_map(|missed| WatchEvent::Behind { missed }),
    ]
}

/// A reader that hands out a byte stream in chunks of the given sizes (then the rest at once).
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes.get(self.next).copied().unwrap_or(usize::MAX).max(1);
        self.next += 1;
        let n = want.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_allocate_past_the_bound(data in hostile_bytes()) {
        let largest = largest_allocation(|| {
            let _ = cmd::parse_client(&data);
            let _ = wire::parse_server(&data);
            let _ = cmd::read_client(&mut &data[..]);
            // A room change's bytes, as `RCHG` and `RLOG` carry them (past a frame header).
            let _ = chatroom::roster::Change::parse(&data);
            let _ = chatroom::roster::Change::parse(data.get(8..).unwrap_or_default());
        });
        // What a client sends is never allowed to make the server allocate more than one
        // client frame, whatever its header claims.
        prop_assert!(largest <= MAX_CLIENT_FRAME, "allocated {largest} bytes");
        // And never more than a fixed multiple of the input: a list reserves room for as many
        // items as its remaining bytes could hold, and the widest item in memory against its
        // smallest encoding is a directory entry (48 bytes for 3 on the wire: 16x).
        let ratio = std::mem::size_of::<wire::User>() / 3;
        prop_assert!(
            largest <= data.len().max(64) * ratio,
            "allocated {largest} for {} input bytes", data.len()
        );
    }

    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        let bytes = msg.encode();
        prop_assert_eq!(cmd::parse_client(&bytes), Ok((msg.clone(), bytes.len())));
        prop_assert_eq!(cmd::read_client(&mut &bytes[..]).unwrap(), msg);
    }

    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        let bytes = msg.encode();
        prop_assert_eq!(wire::parse_server(&bytes), Ok((msg.clone(), bytes.len())));
    }

    #[test]
    fn any_split_of_a_stream_into_reads_gives_the_same_messages(
        msgs in proptest::collection::vec(client_msg(), 1..12),
        sizes in proptest::collection::vec(1usize..64, 0..200),
    ) {
        let data: Vec<u8> = msgs.iter().flat_map(ClientMsg::encode).collect();
        let chunked = Chunked { data, pos: 0, sizes, next: 0 };
        let mut reader = std::io::BufReader::with_capacity(16, chunked);
        for expected in &msgs {
            prop_assert_eq!(&cmd::read_client(&mut reader).unwrap(), expected);
        }
        prop_assert!(matches!(cmd::read_client(&mut reader), Err(wire::ReadError::Closed)));
    }
}
