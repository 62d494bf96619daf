//! The chat half through the library API: a real server on 127.0.0.1:0, real clients with real
//! RSA keys, real sockets. Each bug of the Python original has a test here that it would fail.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use chatroom::client::peers::DropReason;
use chatroom::cmd::{self, ClientMsg};
use chatroom::config::ServerConfig;
use chatroom::keys::KeyError;
use chatroom::wire::{self, Encode, ErrorCode, ServerMsg, User};

#[test]
fn joins_and_leaves_reach_everyone_and_the_directory_is_in_join_order() {
    let server = default_server();
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.directory.peers().len(), 1);

    let bob = TestClient::join(server.local_addr(), "bob", 1);
    let names: Vec<_> = bob.directory.peers().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    // Keys and fingerprints travel with the names.
    assert_eq!(bob.directory.get("alice").unwrap().key, alice.identity.public_der());
    assert_eq!(bob.directory.get("alice").unwrap().fingerprint, alice.identity.fingerprint());

    match alice.recv() {
        ServerMsg::Joined(User { name, key }) => {
            assert_eq!(name, "bob");
            assert_eq!(key, bob.identity.public_der());
        }
        other => panic!("expected JOINED bob, got {other:?}"),
    }
    bob.quit();
    assert_eq!(alice.recv(), ServerMsg::Left { name: "bob".into() });
    server.shutdown();
}

#[test]
fn a_duplicate_name_is_refused_ignoring_case_and_retried_on_the_same_connection() {
    let server = default_server();
    let _alice = TestClient::join(server.local_addr(), "alice", 0);

    let id = identity(1);
    let (mut reader, writer) =
        chatroom::client::link::connect(&server.local_addr().to_string(), false).unwrap();
    // A look-alike of alice's name, even with her key: taken. (Her own name with her key is a
    // second session of hers, which replaces the first: see the next test.) With another key:
    // registered to it.
    for (taken, key, code, says) in [
        ("a1ice", identity(0), ErrorCode::NameTaken, "looks too much like alice"),
        ("ALlCE", identity(0), ErrorCode::NameTaken, "looks too much like alice"),
        (
            "Alice",
            id.clone(),
            ErrorCode::NameRegistered,
            "the name Alice is registered to another key",
        ),
    ] {
        match chatroom::client::link::join(&mut reader, &writer, taken, &key, false) {
            Err(chatroom::client::ClientError::Refused { code: got, text }) => {
                assert_eq!(got, code, "{taken}");
                assert!(text.contains(says), "{text}");
            }
            other => panic!("{taken} should be refused, got {other:?}"),
        }
    }
    let (long, very_long) = ("x".repeat(33), "y".repeat(10_000));
    for (bad, code) in [
        ("QUIT", ErrorCode::NameReserved),
        ("a b", ErrorCode::NameInvalid),
        ("", ErrorCode::NameInvalid),
        // Too long for the rules, or for the wire: the same retryable refusal.
        (long.as_str(), ErrorCode::NameInvalid),
        (very_long.as_str(), ErrorCode::NameInvalid),
    ] {
        match chatroom::client::link::join(&mut reader, &writer, bad, &id, false) {
            Err(chatroom::client::ClientError::Refused { code: got, .. }) => {
                assert_eq!(got, code, "{bad:?}")
            }
            other => panic!("{bad:?} should be refused, got {other:?}"),
        }
    }
    // Same connection, a free name: accepted.
    let joined = chatroom::client::link::join(&mut reader, &writer, "alice2", &id, false).unwrap();
    assert_eq!(joined.name, "alice2");
    assert_eq!(joined.directory.len(), 2);
    server.shutdown();
}

#[test]
fn a_join_with_the_same_key_replaces_a_stale_session_at_once() {
    let server = default_server();
    let addr = server.local_addr();
    let mut bob = TestClient::join(addr, "bob", 1);
    // alice's first session goes silent (a dead link, a frozen client): she joins again.
    let mut stale = TestClient::join(addr, "alice", 0);
    bob.wait_joined("alice");
    let mut alice = TestClient::join(addr, "ALICE", 0);
    assert_eq!(alice.name, "ALICE");
    // The stale session is told why, then closed.
    match stale.recv() {
        ServerMsg::Error { code: ErrorCode::Replaced, text } => {
            assert!(text.contains("joined again from another connection"), "{text}")
        }
        other => panic!("the old session should be told, got {other:?}"),
    }
    assert!(stale.reader.recv().is_err(), "the old session stays open");
    // Everyone saw alice leave and come back, once; she is online once.
    assert!(matches!(bob.recv(), ServerMsg::Left { name } if name == "alice"));
    assert!(matches!(bob.recv(), ServerMsg::Joined(user) if user.name == "ALICE"));
    assert_eq!(server.registry().member_count(), 2);
    // What is sent to her now reaches the new session.
    bob.send_text("alice", "are you back?");
    assert_eq!(alice.next_chat(), ("bob".to_string(), Ok("are you back?".to_string())));
    server.shutdown();
}

#[test]
fn a_direct_message_reaches_its_recipient_only() {
    // The original broadcast every chat to every client (and echoed it to the sender).
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut bob = TestClient::join(addr, "bob", 1);
    let mut carol = TestClient::join(addr, "carol", 2);
    alice.wait_joined("carol");

    alice.send_text("bob", "for bob only");
    alice.send_text("carol", "for carol");
    assert_eq!(bob.next_chat(), ("alice".into(), Ok("for bob only".into())));
    // Carol's first chat is the one for her: she never saw bob's.
    assert_eq!(carol.next_chat(), ("alice".into(), Ok("for carol".into())));
    // And nothing came back to alice: her next frame is the reply to a request she makes now.
    alice.writer.send(&cmd::Chat { to: "nobody".into(), envelope: vec![1] }).unwrap();
    loop {
        match alice.recv() {
            ServerMsg::Error { code, text } => {
                assert_eq!(code, ErrorCode::UnknownUser);
                assert!(text.contains("nobody"), "{text}");
                break;
            }
            ServerMsg::Joined(_) | ServerMsg::Left { .. } => {}
            other => panic!("alice got {other:?}"),
        }
    }
    server.shutdown();
}

#[test]
fn the_server_relays_ciphertext_only() {
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);

    // Bob is a raw socket, so the test sees the exact bytes the server sends him.
    let bob_id = identity(1);
    let mut bob = RawClient::connect(addr);
    bob.hello();
    bob.send_msg(&bob.join_msg("bob", &bob_id));
    assert!(matches!(bob.recv(), Some(ServerMsg::Welcome { .. })));
    assert!(matches!(bob.recv(), Some(ServerMsg::Directory(_))));
    alice.wait_joined("bob");

    let secret = "the eagle lands at midnight";
    alice.send_text("bob", secret);
    let frame = bob.recv_raw().unwrap();
    assert!(!frame.windows(secret.len()).any(|w| w == secret.as_bytes()), "plaintext on the wire");
    let (msg, _) = wire::parse_server(&frame).unwrap();
    let ServerMsg::Chat { from, envelope, .. } = msg else { panic!("expected CHAT, got {msg:?}") };
    assert_eq!(from, "alice");
    // ...and yet bob, with his key, reads it.
    let opened = bob_id.open("alice", alice.identity.public_der(), "bob", &envelope).unwrap();
    assert_eq!(opened.text, secret);
    server.shutdown();
}

#[test]
fn an_unknown_recipient_gets_an_error_and_an_offline_one_a_held_message() {
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let bob = TestClient::join(addr, "bob", 1);
    alice.wait_joined("bob");
    let bob_peer = alice.directory.get("bob").unwrap().clone();
    bob.quit();
    assert_eq!(alice.recv(), ServerMsg::Left { name: "bob".into() });
    // bob is registered: the server holds the message and says so.
    let msg = alice.sealer.seal(&bob_peer, "are you there?").unwrap();
    alice.writer.send(&msg).unwrap();
    assert_eq!(alice.recv_any(), ServerMsg::Sent { to: "bob".into(), queued: true });
    // Nobody was ever called "nobody": an error that names them.
    let nobody = chatroom::client::peers::Peer { name: "nobody".into(), ..bob_peer };
    alice.writer.send(&alice.sealer.seal(&nobody, "hello?").unwrap()).unwrap();
    match alice.recv_any() {
        ServerMsg::Error { code: ErrorCode::UnknownUser, text } => {
            assert!(text.contains("\"nobody\" is online or registered"), "{text}")
        }
        other => panic!("expected an UnknownUser error, got {other:?}"),
    }
    // bob comes back, and finds the message, with alice's key before it.
    let mut bob = TestClient::join(addr, "bob", 1);
    assert_eq!(bob.next_chat(), ("alice".into(), Ok("are you there?".into())));
    server.shutdown();
}

#[test]
fn clean_and_abrupt_disconnects_reach_the_others_and_free_the_name() {
    // The original kept abruptly closed clients registered, and every later join then crashed
    // on a broken pipe; its [DISCONNECT] never closed the socket.
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);

    // Clean: QUIT, and the server closes the connection.
    let bob = TestClient::join(addr, "bob", 1);
    alice.wait_joined("bob");
    let bob_stream = bob.reader.stream().try_clone().unwrap();
    bob.quit();
    assert_eq!(alice.recv(), ServerMsg::Left { name: "bob".into() });
    let mut raw = RawClient { stream: bob_stream, challenge: [0; wire::CHALLENGE_LEN] };
    assert!(raw.closed_within(Duration::from_secs(5)), "the server must close a socket after QUIT");

    // Abrupt: the socket just drops, mid-session.
    let carol = TestClient::join(addr, "carol", 2);
    alice.wait_joined("carol");
    carol.writer.shutdown();
    drop(carol);
    assert_eq!(alice.recv(), ServerMsg::Left { name: "carol".into() });

    // Both names are free again, and joining still works for everyone.
    let mut bob2 = TestClient::join(addr, "bob", 1);
    let _carol2 = TestClient::join(addr, "carol", 2);
    bob2.wait_joined("carol");
    alice.wait_joined("carol");
    alice.send_text("bob", "welcome back");
    assert_eq!(bob2.next_chat().1, Ok("welcome back".into()));
    // Every dropped connection's thread ended: nothing is left spinning.
    assert!(eventually(Duration::from_secs(5), || server.registry().connection_count() == 3));
    server.shutdown();
}

#[test]
fn two_senders_flooding_one_recipient_lose_and_corrupt_nothing() {
    // The original had no framing: two senders' messages interleaved and corrupted each other.
    const EACH: usize = 400;
    // Framing is under test, not the budgets: no limits (a real client would be told to slow).
    let no_limits = ServerConfig::default().with_chat_rate(0);
    let server = start_server(no_limits);
    let addr = server.local_addr();
    let mut bob = TestClient::join(addr, "bob", 0);
    let mut senders = Vec::new();
    for (i, name) in ["alice", "carol"].into_iter().enumerate() {
        let mut c = TestClient::join(addr, name, i + 1);
        c.wait_joined("bob");
        senders.push(c);
    }
    bob.wait_joined("carol");
    let handles: Vec<_> = senders
        .into_iter()
        .map(|mut c| {
            thread::spawn(move || {
                for i in 0..EACH {
                    let text = format!("{}:{i}:{}", c.name, "x".repeat(i % 300));
                    // A message bob has no room for yet is refused, and offered again, as a
                    // client does: what the server took must arrive whole and in order.
                    while c.send_confirmed("bob", &text).is_err() {
                        thread::sleep(Duration::from_millis(10));
                    }
                }
                c
            })
        })
        .collect();
    let mut next: HashMap<String, usize> = HashMap::new();
    for _ in 0..2 * EACH {
        let (from, text) = bob.next_chat();
        let text = text.unwrap_or_else(|e| panic!("corrupted message from {from}: {e}"));
        let expected = next.entry(from.clone()).or_insert(0);
        assert_eq!(text, format!("{from}:{expected}:{}", "x".repeat(*expected % 300)));
        *expected += 1;
    }
    assert_eq!(next.get("alice"), Some(&EACH));
    assert_eq!(next.get("carol"), Some(&EACH));
    for h in handles {
        h.join().unwrap();
    }
    server.shutdown();
}

#[test]
fn commands_sent_back_to_back_in_one_write_are_each_handled() {
    // The original read "whatever arrived" as one command: two commands glued together killed
    // the session.
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let id = identity(1);
    // The join must sign the server's challenge: everything after the handshake is glued.
    let mut raw = RawClient::connect(addr);
    raw.hello();
    let mut bytes = Vec::new();
    bytes.extend(raw.join_msg("bob", &id).encode());
    let alice_key = chatroom::keys::parse_public_key(alice.identity.public_der()).unwrap();
    for seq in 1..=3 {
        let envelope = id.seal("bob", "alice", &alice_key, seq, &format!("glued {seq}")).unwrap();
        bytes.extend(cmd::Chat { to: "alice".into(), envelope }.encode());
    }
    bytes.extend(cmd::Quit.encode());
    raw.send(&bytes);
    for seq in 1..=3 {
        assert_eq!(alice.next_chat(), ("bob".into(), Ok(format!("glued {seq}"))));
    }
    assert_eq!(alice.recv(), ServerMsg::Left { name: "bob".into() });
    assert!(raw.closed_within(Duration::from_secs(5)));
    server.shutdown();
}

#[test]
fn a_directory_of_200_users_arrives_whole() {
    // The original read the user list into a 1 KB buffer: cut from about 4 users on.
    let server = default_server();
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for i in 0..199 {
        let id = identity(i);
        let (mut reader, writer) =
            chatroom::client::link::connect(&addr.to_string(), false).unwrap();
        chatroom::client::link::join(&mut reader, &writer, &format!("user{i:03}"), &id, false)
            .unwrap();
        clients.push((reader, writer));
    }
    let last = TestClient::join(addr, "last", 0);
    let names: Vec<_> = last.directory.peers().iter().map(|p| p.name.clone()).collect();
    let mut expected: Vec<_> = (0..199).map(|i| format!("user{i:03}")).collect();
    expected.push("last".into());
    assert_eq!(names, expected);
    for (i, peer) in last.directory.peers().iter().enumerate().take(199) {
        assert_eq!(peer.key, identity(i).public_der(), "{}", peer.name);
    }
    server.shutdown();
}

#[test]
fn a_client_that_stops_reading_stalls_nobody_and_is_cut_off() {
    // In the original one client that stopped reading blocked chat for everyone and new joins.
    let config = ServerConfig {
        write_timeout: Duration::from_secs(2),
        outbox_timeout: Duration::from_secs(1),
        outbox_frames: 32,
        // Chat waits on disk now, so frozen's socket may never fill: its silence to the
        // server's pings is what ends it.
        ping_after: Duration::from_secs(1),
        ping_grace: Duration::from_secs(1),
        ..ServerConfig::default()
    }
    // The flooder must get through to fill frozen's socket: no rate limits here.
    .with_chat_rate(0);
    let server = start_server(config);
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut bob = TestClient::join(addr, "bob", 1);
    alice.wait_joined("bob");

    // "frozen" joins and never reads again.
    let mut frozen = RawClient::connect(addr);
    frozen.hello();
    frozen.send_msg(&frozen.join_msg("frozen", &identity(2)));
    alice.wait_joined("frozen");
    bob.wait_joined("frozen");

    // A flooder sends frozen as much as it can: the server cannot read envelopes, so 6 KB of
    // junk is as good as a real one for filling frozen's socket and queue.
    let flooder = thread::spawn(move || {
        let mut raw = RawClient::connect(addr);
        raw.hello();
        raw.send_msg(&raw.join_msg("flooder", &identity(3)));
        let frame = ClientMsg::Chat(cmd::Chat {
            to: "frozen".into(),
            envelope: vec![0xAB; wire::MAX_ENVELOPE],
        })
        .encode();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if raw.stream.write_all(&frame).is_err() {
                break;
            }
        }
        raw
    });

    // Meanwhile alice and bob chat, and a newcomer joins, all without waiting on frozen.
    for i in 0..20 {
        alice.send_text("bob", &format!("still here {i}"));
        assert_eq!(bob.next_chat(), ("alice".into(), Ok(format!("still here {i}"))));
    }
    // The join completes (the client library gives up after 10 s, failing the test).
    let newcomer = TestClient::join(addr, "newcomer", 2);
    assert!(newcomer.directory.get("bob").is_some());

    // frozen is cut off within the write and queue timeouts, and everyone hears it left.
    let cut_by = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < cut_by, "frozen was never cut off");
        match alice.recv() {
            ServerMsg::Left { name } if name == "frozen" => break,
            _ => {}
        }
    }
    assert!(frozen.closed_within(Duration::from_secs(10)));
    let _ = flooder.join();
    server.shutdown();
}

#[test]
fn a_wrong_magic_or_version_gets_a_clear_error_then_a_close() {
    let server = default_server();
    let addr = server.local_addr();
    for (magic, version, expect) in
        [(*b"HTTP", wire::VERSION, "magic"), (wire::MAGIC, 99, "version")]
    {
        let mut raw = RawClient::connect(addr);
        raw.send_msg(&cmd::Hello { magic, version });
        match raw.recv() {
            Some(ServerMsg::Error { code: ErrorCode::BadHandshake, text }) => {
                assert!(text.contains(expect), "{text}")
            }
            other => panic!("expected BadHandshake, got {other:?}"),
        }
        assert!(raw.closed_within(Duration::from_secs(5)));
    }
    // Something that is not our protocol at all.
    let mut raw = RawClient::connect(addr);
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(raw.recv(), Some(ServerMsg::Error { code: ErrorCode::UnknownTag, .. })));
    assert!(raw.closed_within(Duration::from_secs(5)));
    server.shutdown();
}

#[test]
fn a_connection_that_never_joins_is_cut_by_the_handshake_timeout() {
    let config =
        ServerConfig { handshake_timeout: Duration::from_millis(500), ..ServerConfig::default() };
    let server = start_server(config);
    let mut silent = RawClient::connect(server.local_addr());
    // Half a header, then silence.
    silent.send(b"HEL");
    match silent.recv() {
        Some(ServerMsg::Error { code: ErrorCode::Timeout, .. }) | None => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(silent.closed_within(Duration::from_secs(5)));
    // A client that joins in time stays.
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    assert!(alice.recv_within(Duration::from_secs(1)).is_none());
    assert_eq!(server.registry().member_count(), 1);
    server.shutdown();
}

#[test]
fn past_max_clients_a_connection_is_refused_clearly() {
    let server = start_server(ServerConfig { max_clients: 2, ..ServerConfig::default() });
    let addr = server.local_addr();
    let _a = TestClient::join(addr, "a", 0);
    let _b = TestClient::join(addr, "b", 1);
    let mut third = RawClient::connect(addr);
    match third.recv() {
        Some(ServerMsg::Error { code: ErrorCode::ServerFull, .. }) => {}
        other => panic!("expected ServerFull, got {other:?}"),
    }
    match chatroom::client::link::connect(&addr.to_string(), false) {
        Err(chatroom::client::ClientError::Handshake(text)) => {
            assert!(text.contains("full"), "{text}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a third client must be refused"),
    }
    server.shutdown();
}

#[test]
fn requests_in_the_wrong_order_get_errors_and_the_session_goes_on() {
    let server = default_server();
    let mut raw = RawClient::connect(server.local_addr());
    raw.hello();
    raw.send_msg(&cmd::Chat { to: "x".into(), envelope: vec![1] });
    assert!(matches!(raw.recv(), Some(ServerMsg::Error { code: ErrorCode::Unexpected, .. })));
    raw.send_msg(&cmd::Join {
        name: "raw".into(),
        key: b"not a key".to_vec(),
        proof: vec![],
        throwaway: false,
    });
    assert!(matches!(raw.recv(), Some(ServerMsg::Error { code: ErrorCode::BadKey, .. })));
    raw.send_msg(&raw.join_msg("raw", &identity(0)));
    assert!(matches!(raw.recv(), Some(ServerMsg::Welcome { .. })));
    assert!(matches!(raw.recv(), Some(ServerMsg::Directory(_))));
    raw.send_msg(&raw.join_msg("again", &identity(0)));
    assert!(matches!(raw.recv(), Some(ServerMsg::Error { code: ErrorCode::Unexpected, .. })));
    // A malformed frame ends this connection only.
    let mut alice = TestClient::join(server.local_addr(), "alice", 1);
    let mut bad = Vec::from(*b"CHAT");
    bad.extend_from_slice(&3u32.to_be_bytes());
    bad.extend_from_slice(&[200, 1, 2]);
    raw.send(&bad);
    loop {
        match raw.recv() {
            Some(ServerMsg::Error { code: ErrorCode::Malformed, .. }) => break,
            Some(ServerMsg::Joined(_)) => {}
            other => panic!("expected Malformed, got {other:?}"),
        }
    }
    assert!(raw.closed_within(Duration::from_secs(5)));
    assert_eq!(alice.recv(), ServerMsg::Left { name: "raw".into() });
    server.shutdown();
}

#[test]
fn a_replayed_message_is_dropped() {
    let server = default_server();
    let via = proxy(server.local_addr(), |msg| match msg {
        ServerMsg::Chat { .. } => vec![msg.clone(), msg],
        other => vec![other],
    });
    let mut bob = TestClient::join(via, "bob", 1);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.wait_joined("bob");
    bob.wait_joined("alice");
    alice.send_text("bob", "once");
    alice.send_text("bob", "twice");
    let replayed = |got: Result<String, DropReason>| matches!(got, Err(DropReason::Key(KeyError::Replay { seq, last })) if seq == last);
    assert_eq!(bob.next_chat().1, Ok("once".into()));
    assert!(replayed(bob.next_chat().1));
    assert_eq!(bob.next_chat().1, Ok("twice".into()));
    assert!(replayed(bob.next_chat().1));
    server.shutdown();
}

#[test]
fn a_forged_sender_is_dropped() {
    let server = default_server();
    // The path stamps every chat as coming from carol.
    let via = proxy(server.local_addr(), |msg| match msg {
        ServerMsg::Chat { id, envelope, .. } => {
            vec![ServerMsg::Chat { id, from: "carol".into(), envelope }]
        }
        other => vec![other],
    });
    let mut bob = TestClient::join(via, "bob", 1);
    let _carol = TestClient::join(server.local_addr(), "carol", 2);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.wait_joined("bob");
    bob.wait_joined("alice");
    alice.send_text("bob", "signed by alice");
    match bob.next_chat() {
        (from, Err(DropReason::Key(KeyError::ForgedSender { claimed, signer }))) => {
            assert_eq!(from, "carol");
            assert_eq!(claimed, "carol");
            assert_eq!(signer, alice.identity.fingerprint());
        }
        other => panic!("expected a forged sender, got {other:?}"),
    }
    server.shutdown();
}

#[test]
fn shutdown_tells_the_clients_and_does_not_hang() {
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let _bob = TestClient::join(addr, "bob", 1);
    let _lurker = RawClient::connect(addr);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        server.shutdown();
        done_tx.send(()).unwrap();
    });
    done_rx.recv_timeout(Duration::from_secs(20)).expect("shutdown hung");
    loop {
        match alice.recv_within(Duration::from_secs(5)) {
            Some(ServerMsg::Error { code: ErrorCode::ShuttingDown, .. }) => break,
            Some(ServerMsg::Joined(_)) => {}
            other => panic!("expected ShuttingDown, got {other:?}"),
        }
    }
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "the port must be closed"
    );
}

#[test]
fn dropping_the_server_tells_every_client_and_waits_for_its_threads() {
    let server = default_server();
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut silent = RawClient::connect(addr);
    let began = std::time::Instant::now();
    drop(server);
    // Drop returned: the listener and every client thread have ended.
    assert!(began.elapsed() < Duration::from_secs(5), "drop took {:?}", began.elapsed());
    match alice.recv() {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::ShuttingDown),
        other => panic!("expected the shutdown notice, got {other:?}"),
    }
    assert!(silent.closed_within(Duration::from_secs(2)));
    // Nobody listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_connection_that_has_not_joined_hears_no_broadcast() {
    // The original listed every socket at accept and broadcast to all of them, so a client
    // still in its handshake could read someone else's user list where it waited for "OK".
    let server = default_server();
    let mut waiting = RawClient::connect(server.local_addr());
    waiting.hello();
    let alice = TestClient::join(server.local_addr(), "alice", 0);
    let bob = TestClient::join(server.local_addr(), "bob", 1);
    bob.quit();
    waiting.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 64];
    match std::io::Read::read(&mut waiting.stream, &mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a connection that has not joined received {other:?}"),
    }
    // It can still join, and then it hears the others (alice: bob has gone by then).
    assert!(eventually(Duration::from_secs(5), || server.registry().member_count() == 1));
    waiting.send_msg(&waiting.join_msg("carol", &identity(2)));
    assert!(matches!(waiting.recv(), Some(ServerMsg::Welcome { .. })));
    match waiting.recv() {
        Some(ServerMsg::Directory(users)) => {
            let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
            assert_eq!(names, ["alice", "carol"]);
        }
        other => panic!("expected the directory, got {other:?}"),
    }
    alice.quit();
    server.shutdown();
}
