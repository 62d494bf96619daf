//! Hostile clients (docs/SECURITY.md, "Threat model"): a real server, two normal clients that
//! chat and stream the whole time, and offenders that try everything they can. Each offender
//! must get its documented outcome, and the normal clients must see every message and every
//! frame.

mod common;

use common::*;
use rand::RngExt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chatroom::client::peers::DropReason;
use chatroom::cmd;
use chatroom::config::ServerConfig;
use chatroom::keys::KeyError;
use chatroom::wire::{self, Encode, EndReason, ErrorCode, PlayMode, ServerMsg};

/// Resident memory of this process (the server runs inside it), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// What the normal clients saw.
struct Normal {
    messages_sent: usize,
    messages_received: usize,
    streams_complete: usize,
    frames_received: usize,
}

/// alice streams the clip again and again; bob sends alice a message every 50 ms; both until
/// `stop` is set. Every frame and every message is checked.
fn normal_traffic(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> thread::JoinHandle<Normal> {
    thread::spawn(move || {
        let mut alice = TestClient::join(addr, "alice", 0);
        let mut bob = TestClient::join(addr, "bob", 1);
        alice.wait_joined("bob");
        bob.wait_joined("alice");
        let bob_stop = stop.clone();
        let sender = thread::spawn(move || {
            let mut sent = 0;
            while !bob_stop.load(Ordering::SeqCst) {
                bob.send_text("alice", &format!("normal {sent}"));
                sent += 1;
                thread::sleep(Duration::from_millis(50));
            }
            (bob, sent)
        });
        let mut received = 0;
        let (mut streams, mut frames) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            alice.play("clip", PlayMode::Split);
            let got = alice.receive_stream();
            let indices: Vec<u32> = got.frames.iter().map(|f| f.0).collect();
            assert_eq!(indices, (0..60).collect::<Vec<_>>(), "alice's stream lost frames");
            assert_eq!(got.end, Some((60, EndReason::Complete)));
            for (from, text, _) in got.chats {
                assert_eq!((from.as_str(), text), ("bob", format!("normal {received}")));
                received += 1;
            }
            streams += 1;
            frames += indices.len();
            // At most 500 plays a second, under the request budget this server gives her
            // (1000): unpaced and served from the cache, a clip can end within a millisecond,
            // and a faster machine would otherwise see her refused as a flooder.
            thread::sleep(Duration::from_millis(2));
        }
        let (_bob, sent) = sender.join().unwrap();
        // The last messages may still be on their way.
        while received < sent {
            let (from, text) = alice.next_chat();
            assert_eq!((from.as_str(), text), ("bob", Ok(format!("normal {received}"))));
            received += 1;
        }
        Normal {
            messages_sent: sent,
            messages_received: received,
            streams_complete: streams,
            frames_received: frames,
        }
    })
}

fn expect_error_then_close(raw: &mut RawClient, code: ErrorCode, what: &str) {
    match raw.recv() {
        Some(ServerMsg::Error { code: got, .. }) => assert_eq!(got, code, "{what}"),
        other => panic!("{what}: expected ERRR {code:?}, got {other:?}"),
    }
    assert!(raw.closed_within(Duration::from_secs(10)), "{what}: connection not closed");
}

fn joined_raw(addr: std::net::SocketAddr, name: &str, key: usize) -> RawClient {
    let mut raw = RawClient::connect(addr);
    raw.hello();
    raw.send_msg(&raw.join_msg(name, &identity(key)));
    assert!(matches!(raw.recv(), Some(ServerMsg::Welcome { .. })), "{name} could not join");
    raw
}

#[test]
fn the_server_holds_under_hostile_clients_while_normal_clients_are_served() {
    let videos = temp_dir("hostile");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240)), ("360p", (640, 360))] {
        write_video(&videos, "clip", label, size, 25.0, 60);
    }
    // Longer than any socket buffer (about 20 MB of JPEG), for the client that stops reading.
    write_video(&videos, "long", "360p", (640, 360), 25.0, 500);
    let config = ServerConfig {
        videos,
        pace: false,
        handshake_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(3),
        outbox_timeout: Duration::from_secs(2),
        chat_rate: 200,
        chat_burst: 200,
        // alice, a program, plays the short clip again as soon as it ends, unpaced: far more
        // often than a person would.
        request_rate: 1000,
        ..ServerConfig::default()
    };
    let server = start_server(config);
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let normal = normal_traffic(addr, stop.clone());
    let mut rng = rand::rng();

    // Random bytes, 20 times: an error frame (almost always UnknownTag), then a close.
    for _ in 0..20 {
        let mut raw = RawClient::connect(addr);
        let junk: Vec<u8> = (0..1024).map(|_| rng.random()).collect();
        let _ = raw.stream.write_all(&junk);
        assert!(matches!(raw.recv(), Some(ServerMsg::Error { .. }) | None));
        assert!(raw.closed_within(Duration::from_secs(10)), "random bytes: not closed");
    }

    // A header, then silence: cut by the handshake timeout.
    let mut silent = RawClient::connect(addr);
    silent.send(&wire::Tag::HELLO.0);
    silent.send(&6u32.to_be_bytes());
    expect_error_then_close(&mut silent, ErrorCode::Timeout, "header then silence");

    // A u32::MAX length, before and after joining.
    let mut huge = RawClient::connect(addr);
    huge.send(b"CHAT\xff\xff\xff\xff");
    expect_error_then_close(&mut huge, ErrorCode::Malformed, "u32::MAX length");
    let mut huge = joined_raw(addr, "huge", 2);
    huge.send(b"CHAT\xff\xff\xff\xff");
    loop {
        match huge.recv() {
            Some(ServerMsg::Error { code, .. }) => {
                assert_eq!(code, ErrorCode::Malformed);
                break;
            }
            Some(_) => {}
            None => panic!("no error frame for a u32::MAX length"),
        }
    }
    assert!(huge.closed_within(Duration::from_secs(10)));

    // Wrong magic, wrong version.
    let mut raw = RawClient::connect(addr);
    raw.send_msg(&cmd::Hello { magic: *b"XXXX", version: wire::VERSION });
    expect_error_then_close(&mut raw, ErrorCode::BadHandshake, "wrong magic");
    let mut raw = RawClient::connect(addr);
    raw.send_msg(&cmd::Hello { magic: wire::MAGIC, version: wire::VERSION + 1 });
    expect_error_then_close(&mut raw, ErrorCode::BadHandshake, "wrong version");

    // Invalid UTF-8 in a name: the frame itself is malformed. Over-long names are names that
    // break the rules: a refusal, and the same connection may try another (issue #14).
    for (name, malformed) in
        [(vec![0xff, 0xfe, 0x41], true), (vec![b'a'; 33], false), (vec![b'a'; 255], false)]
    {
        let mut raw = RawClient::connect(addr);
        raw.hello();
        let mut frame = b"JOIN".to_vec();
        let mut payload = vec![name.len() as u8];
        payload.extend(&name);
        payload.extend(&(identity(0).public_der().len() as u16).to_be_bytes());
        payload.extend(identity(0).public_der());
        frame.extend(&(payload.len() as u32).to_be_bytes());
        frame.extend(payload);
        raw.send(&frame);
        if malformed {
            expect_error_then_close(&mut raw, ErrorCode::Malformed, "bad name bytes");
            continue;
        }
        match raw.recv() {
            Some(ServerMsg::Error { code, .. }) => assert_eq!(code, ErrorCode::NameInvalid),
            other => panic!("an over-long name: expected ERRR NameInvalid, got {other:?}"),
        }
        raw.send_msg(&raw.join_msg(&format!("retry{}", name.len()), &identity(0)));
        assert!(matches!(raw.recv(), Some(ServerMsg::Welcome { .. })), "the retry was refused");
    }

    // Reserved and duplicate names: refused, and the connection may try again.
    let mut raw = RawClient::connect(addr);
    raw.hello();
    for (name, code) in [
        ("QUIT", ErrorCode::NameReserved),
        ("Quit", ErrorCode::NameReserved),
        // alice is online with this key (joining as her would replace her session: see
        // tests/chat.rs); a look-alike of her name is taken; bob is bound to another key.
        ("a1ice", ErrorCode::NameTaken),
        ("bob", ErrorCode::NameRegistered),
        ("a/b", ErrorCode::NameInvalid),
    ] {
        raw.send_msg(&raw.join_msg(name, &identity(0)));
        match raw.recv() {
            Some(ServerMsg::Error { code: got, .. }) => assert_eq!(got, code, "{name}"),
            other => panic!("{name}: expected {code:?}, got {other:?}"),
        }
    }
    raw.send_msg(&raw.join_msg("carol", &identity(2)));
    assert!(matches!(raw.recv(), Some(ServerMsg::Welcome { .. })));
    drop(raw);

    // 300 connections opened at once, each joining.
    let crowd: Vec<_> = (0..300)
        .map(|i| {
            thread::spawn(move || {
                let mut raw = joined_raw(addr, &format!("crowd{i}"), i);
                assert!(matches!(raw.recv(), Some(ServerMsg::Directory(_))));
                raw
            })
        })
        .collect();
    let crowd: Vec<RawClient> = crowd.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(server.registry().member_count() >= 302);
    drop(crowd);
    assert!(eventually(Duration::from_secs(20), || server.registry().member_count() <= 3));

    // A client that starts a stream and never reads again: cut off within 30 s, memory bounded.
    let rss_before = rss_kib();
    let mut frozen = joined_raw(addr, "frozen", 3);
    frozen.send_msg(&cmd::Play { video: "long".into(), mode: PlayMode::Split });
    let frozen_since = Instant::now();
    let mut peak = rss_before;
    let mut cut = false;
    while frozen_since.elapsed() < Duration::from_secs(30) {
        peak = peak.max(rss_kib());
        if server.registry().connection_count() <= 2 || !any_member(&server, "frozen") {
            cut = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(cut, "a client that never reads was not cut off within 30 s");
    assert!(peak < rss_before + 64 * 1024, "memory grew from {rss_before} KiB to {peak} KiB");
    drop(frozen);

    // A client killed mid-stream.
    let mut victim = joined_raw(addr, "victim", 0);
    victim.send_msg(&cmd::Play { video: "clip".into(), mode: PlayMode::Split });
    let _ = victim.recv();
    let _ = victim.stream.shutdown(std::net::Shutdown::Both);
    drop(victim);
    assert!(eventually(Duration::from_secs(10), || !any_member(&server, "victim")));

    // A chat flood: rate-limited with an error frame, then cut off as it goes on.
    let mut flooder = joined_raw(addr, "flooder", 1);
    let frame = cmd::Chat { to: "nobody".into(), envelope: vec![0; 100] }.encode();
    let flood = thread::spawn(move || {
        for _ in 0..20_000 {
            if flooder.stream.write_all(&frame).is_err() {
                break;
            }
        }
        let mut codes = Vec::new();
        flooder.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while let Some(msg) = flooder.recv() {
            if let ServerMsg::Error { code, .. } = msg {
                codes.push(code);
            }
        }
        codes
    });
    let codes = flood.join().unwrap();
    assert!(codes.contains(&ErrorCode::UnknownUser), "the first messages were handled: {codes:?}");
    assert!(codes.contains(&ErrorCode::RateLimited), "no rate-limit error: {codes:?}");
    assert!(!any_member(&server, "flooder"), "the flooder was not cut off");

    // A forged sender: mallory signs, but names alice's key as the signer.
    let mut dave = TestClient::join(addr, "dave", 2);
    let mallory = TestClient::join(addr, "mallory", 3);
    dave.wait_joined("mallory");
    let forged = forge_envelope(&mallory, &dave, "alice's words, honest");
    mallory.writer.send(&cmd::Chat { to: "dave".into(), envelope: forged }).unwrap();
    match dave.next_chat() {
        (from, Err(DropReason::Key(KeyError::ForgedSender { .. }))) => assert_eq!(from, "mallory"),
        other => panic!("expected a forged sender, got {other:?}"),
    }
    // A replayed message: the same envelope sent twice.
    let mut mallory = mallory;
    let peer = mallory.directory.get("dave").unwrap().clone();
    let envelope = mallory.sealer.seal(&peer, "once").unwrap().envelope;
    for _ in 0..2 {
        mallory.writer.send(&cmd::Chat { to: "dave".into(), envelope: envelope.clone() }).unwrap();
    }
    assert_eq!(dave.next_chat().1, Ok("once".into()));
    assert!(matches!(dave.next_chat().1, Err(DropReason::Key(KeyError::Replay { .. }))));

    // Video names with '/', '..', NUL: UnknownVideo, and the session goes on.
    for name in ["../clip", "clip/..", "/clip", "clip\0", "..", "clip_360p.mp4"] {
        mallory.play(name, PlayMode::Split);
        loop {
            match mallory.recv() {
                ServerMsg::Error { code, .. } => {
                    assert_eq!(code, ErrorCode::UnknownVideo, "{name:?}");
                    break;
                }
                ServerMsg::Joined(_) | ServerMsg::Left { .. } => {}
                other => panic!("{name:?}: got {other:?}"),
            }
        }
    }

    stop.store(true, Ordering::SeqCst);
    let seen = normal.join().expect("the normal clients failed");
    assert!(seen.streams_complete >= 1 && seen.frames_received == 60 * seen.streams_complete);
    assert!(seen.messages_sent > 10);
    assert_eq!(seen.messages_received, seen.messages_sent);
    server.shutdown();
}

fn any_member(server: &chatroom::server::Server, name: &str) -> bool {
    server.registry().lookup(name).is_some()
}

/// An envelope signed by `mallory` whose signer field claims alice's key fingerprint.
fn forge_envelope(mallory: &TestClient, dave: &TestClient, text: &str) -> Vec<u8> {
    let dave_key = chatroom::keys::parse_public_key(dave.identity.public_der()).unwrap();
    let mut env = mallory.identity.seal("mallory", "dave", &dave_key, 1, text).unwrap();
    // The signer fingerprint sits after: version (1), recipient (1 + 4), seq (8).
    let at = 1 + 1 + "dave".len() + 8;
    let alice_fp = chatroom::keys::fingerprint(identity(0).public_der());
    for (i, byte) in
        (0..8).map(|i| u8::from_str_radix(&alice_fp[2 * i..2 * i + 2], 16).unwrap()).enumerate()
    {
        env[at + i] = byte;
    }
    env
}

/// A hostile server: answers the handshake, then never reads again.
fn deaf_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let _ = cmd::read_client(&mut socket).unwrap();
        socket
            .write_all(
                &ServerMsg::Hello {
                    magic: wire::MAGIC,
                    version: wire::VERSION,
                    challenge: [0; 32],
                }
                .encode(),
            )
            .unwrap();
        // Hold the socket open, unread, until the test ends.
        thread::sleep(Duration::from_secs(30));
    });
    addr
}

#[test]
fn a_writer_blocked_on_a_deaf_server_is_ended_at_once_by_shutdown() {
    let (_reader, writer) =
        chatroom::client::link::connect(&deaf_server().to_string(), false).expect("the handshake");
    let blocked = writer.clone();
    let (done_tx, done) = std::sync::mpsc::channel();
    thread::spawn(move || {
        // Megabytes nobody reads: the socket buffers fill and the write blocks.
        let junk = vec![0u8; 1 << 20];
        let result = (0..64).try_for_each(|_| blocked.send_frame(&junk));
        let _ = done_tx.send(result.is_err());
    });
    // Let the writer block, holding the write lock.
    thread::sleep(Duration::from_millis(500));
    assert!(done.try_recv().is_err(), "the writes should be blocked by now");
    // Shut down from another thread, so a shutdown that waits fails the test, not hangs it.
    let (shut_tx, shut) = std::sync::mpsc::channel();
    thread::spawn(move || {
        writer.shutdown();
        let _ = shut_tx.send(());
    });
    assert!(
        shut.recv_timeout(Duration::from_millis(500)).is_ok(),
        "shutdown waited for the writer"
    );
    let failed = done.recv_timeout(Duration::from_secs(2)).expect("the blocked write ended");
    assert!(failed, "a write to a shut connection must fail");
}
