//! Abuse resistance (docs/SECURITY.md, "Limits"): no user can knock another off, burn their
//! CPU, or lock everyone out. Attackers connect from other loopback addresses (127.0.0.2,
//! 127.0.0.3...), each standing in for another host.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use chatroom::cmd;
use chatroom::config::ServerConfig;
use chatroom::wire::{Encode, ErrorCode, ServerMsg};
use common::{RawClient, TestClient, identity, start_server};

/// A raw client from `source`, joined as `name` with test key `key`.
fn joined_from(addr: std::net::SocketAddr, source: &str, name: &str, key: usize) -> RawClient {
    let mut raw = RawClient::connect_from(addr, source).unwrap();
    raw.hello();
    raw.send_msg(&raw.join_msg(name, &identity(key)));
    assert!(matches!(raw.recv(), Some(ServerMsg::Welcome { .. })), "{name} could not join");
    raw
}

#[test]
fn one_address_holding_all_it_may_does_not_lock_out_another() {
    // 40 slots: one address may hold 30 of them, 20 before they join.
    let server = start_server(ServerConfig { max_clients: 40, ..ServerConfig::default() });
    let addr = server.local_addr();
    let mut silent = Vec::new();
    let refusal = loop {
        let mut raw = RawClient::connect_from(addr, "127.0.0.2").unwrap();
        // Connections are admitted as they are accepted: wait until this one has been.
        raw.stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        match raw.recv() {
            Some(ServerMsg::Error { code: ErrorCode::ServerFull, text }) => break text,
            Some(other) => panic!("a silent connection was sent {other:?}"),
            None => silent.push(raw),
        }
        assert!(silent.len() <= 40, "no limit per address");
    };
    assert_eq!(silent.len(), 20, "{refusal}");
    assert!(refusal.contains("too many connections from your address"), "{refusal}");
    // Someone else, from another address, gets in and chats.
    let mut alice = TestClient::join(addr, "alice", 0);
    let bob = TestClient::join(addr, "bob", 1);
    alice.wait_joined("bob");
    drop(bob);
    drop(silent);
}

#[test]
fn a_replay_flood_from_several_connections_leaves_the_victim_connected_and_served() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut bob = TestClient::join(addr, "bob", 1);
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut mallory = TestClient::join(addr, "mallory", 2);
    mallory.wait_joined("bob");
    alice.wait_joined("bob");
    // Eight connections from eight addresses replay one genuine envelope of mallory's to bob
    // (cheap for bob to drop: `peers::tests`), between the largest envelopes there are, while
    // bob is busy for a moment: his socket and his queue fill. The old server then cut *bob*
    // ("its chat queue stayed full").
    let peer = mallory.directory.get("bob").unwrap().clone();
    let envelope = mallory.sealer.seal(&peer, "buy now").unwrap().envelope;
    let mut frame = cmd::Chat { to: "bob".into(), envelope }.encode();
    let junk = vec![0xAB; chatroom::wire::MAX_ENVELOPE];
    frame.extend(cmd::Chat { to: "bob".into(), envelope: junk }.encode());
    let flooders: Vec<_> = (2..10)
        .map(|i| {
            let mut raw = joined_from(addr, &format!("127.0.0.{i}"), &format!("m{i}"), 3);
            let frame = frame.clone();
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(4);
                while Instant::now() < deadline && raw.stream.write_all(&frame).is_ok() {}
                // Its errors are its own to read; the server cuts it when it goes on.
                raw.closed_within(Duration::from_secs(10))
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));

    // Mid-flood, alice writes to bob: it arrives within a second or two.
    alice.send_text("bob", "lunch?");
    let sent = Instant::now();
    loop {
        let left = Duration::from_secs(2).saturating_sub(sent.elapsed());
        let Some(msg) = bob.recv_within(left) else {
            panic!("alice's message did not reach bob within 2 s of the flood");
        };
        if let ServerMsg::Chat { from, envelope, .. } = msg
            && from == "alice"
        {
            assert_eq!(bob.opener.open(&bob.directory, "", &from, &envelope), Ok("lunch?".into()));
            break;
        }
    }
    for f in flooders {
        assert!(f.join().unwrap(), "a flooder was not cut off");
    }
    // bob was never cut: he is still here, and hears alice.
    alice.send_text("bob", "still there?");
    loop {
        if let (from, Ok(text)) = bob.next_chat()
            && from == "alice"
        {
            assert_eq!(text, "still there?");
            break;
        }
    }
    assert!(server.registry().lookup("bob").is_some());
}

#[test]
fn a_client_just_over_its_rate_is_told_and_then_cut_off() {
    // 20 messages a second; 20 drops in 10 s and out. The old limiter forgave every drop as
    // soon as one message got through again, so this sender went on for ever.
    let config =
        ServerConfig { chat_rate: 20, chat_burst: 20, strike_limit: 20, ..ServerConfig::default() };
    let server = start_server(config);
    let addr = server.local_addr();
    let _bob = TestClient::join(addr, "bob", 1);
    let mut sender = joined_from(addr, "127.0.0.2", "eager", 0);
    let frame = cmd::Chat { to: "bob".into(), envelope: vec![0; 64] }.encode();
    let started = Instant::now();
    // 30 a second: 10 over the rate.
    let writer = sender.stream.try_clone().unwrap();
    let pacer = thread::spawn(move || {
        let mut writer = writer;
        while started.elapsed() < Duration::from_secs(10) {
            if writer.write_all(&frame).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(33));
        }
    });
    let mut told = false;
    let cut = loop {
        match sender.recv() {
            Some(ServerMsg::Error { code: ErrorCode::RateLimited, text }) => {
                if text.starts_with("disconnected") {
                    break true;
                }
                told = true;
            }
            Some(_) => {}
            None => break false,
        }
    };
    assert!(told && cut, "told: {told}, cut: {cut}");
    assert!(started.elapsed() < Duration::from_secs(8), "cut after {:?}", started.elapsed());
    let _ = sender.stream.shutdown(std::net::Shutdown::Both);
    let _ = pacer.join();
}

/// Every kind of request a joined client can make, flooded, is told, then cut off
/// (docs/SECURITY.md, "Limits": every request kind has a budget), and others are served.
#[test]
fn every_request_kind_flooded_is_cut_off_and_others_are_served() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut bob = TestClient::join(addr, "bob", 2);
    let floods: Vec<(&str, Vec<u8>)> = vec![
        ("video lists", cmd::ListVideos.encode()),
        ("acknowledgements of ids never sent", cmd::Ack { id: 1 << 40 }.encode()),
        ("unasked PONGs", cmd::Pong.encode()),
        ("room messages to a room not joined", {
            let envelopes = vec![("bob".to_owned(), vec![7u8; 64])];
            cmd::RoomChat { room: "#nope".into(), envelopes }.encode()
        }),
        ("key lookups", cmd::KeyQuery { name: "bob".into() }.encode()),
        ("room lists", cmd::RoomList.encode()),
        ("room queries", cmd::RoomQuery { room: "#nope".into() }.encode()),
        ("room joins", cmd::RoomJoin { room: "#nope".into(), since: [0; 32] }.encode()),
        ("room changes", cmd::RoomChange { change: vec![1, 2, 3] }.encode()),
        ("stops", cmd::Stop.encode()),
        (
            "watch pauses",
            cmd::Watch { room: "#nope".into(), action: cmd::WatchAction::Pause }.encode(),
        ),
        (
            "second joins",
            cmd::Join { name: "x".into(), key: vec![1], proof: vec![2], throwaway: false }.encode(),
        ),
    ];
    for (i, (kind, frame)) in floods.into_iter().enumerate() {
        let source = format!("127.0.0.{}", 10 + i);
        let mut flooder = joined_from(addr, &source, &format!("flooder{i}"), 0);
        let writer = flooder.stream.try_clone().unwrap();
        thread::spawn(move || {
            let mut writer = writer;
            while writer.write_all(&frame).is_ok() {}
        });
        let mut said = Vec::new();
        while let Some(msg) = flooder.recv() {
            if let ServerMsg::Error { text, .. } = msg {
                said.push(text);
            }
        }
        assert!(said.len() > 1, "{kind}: {said:?}");
        let last = said.last().unwrap();
        assert_eq!(last, "disconnected: kept flooding after being told", "{kind}: {said:?}");
        // bob is served between floods.
        bob.writer.send(&cmd::ListVideos).unwrap();
        while !matches!(bob.recv_any(), ServerMsg::VideoList(_)) {}
    }
}

#[test]
fn look_alike_names_and_names_like_paths_or_options_are_refused() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let _alice = TestClient::join(addr, "alice", 0);
    TestClient::join(addr, "bob", 1).quit();
    let mut raw = RawClient::connect_from(addr, "127.0.0.2").unwrap();
    raw.hello();
    for (name, code, says) in [
        ("aIice", ErrorCode::NameTaken, "looks too much like alice"),
        ("a1ice", ErrorCode::NameTaken, "looks too much like alice"),
        // bob has left, but his name is registered.
        ("b0b", ErrorCode::NameTaken, "looks too much like bob, who is registered"),
        // Punctuation at the end, doubled, or another mark for the same place.
        ("bob.", ErrorCode::NameTaken, "looks too much like bob, who is registered"),
        ("alice__", ErrorCode::NameTaken, "looks too much like alice"),
        (".", ErrorCode::NameInvalid, "must start with a letter"),
        ("..", ErrorCode::NameInvalid, "must start with a letter"),
        ("-rf", ErrorCode::NameInvalid, "must start with a letter"),
    ] {
        raw.send_msg(&raw.join_msg(name, &identity(2)));
        match raw.recv() {
            Some(ServerMsg::Error { code: got, text }) => {
                assert_eq!(got, code, "{name}");
                assert!(text.contains(says), "{name}: {text}");
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
    }
    // The same connection may still join under a name of its own.
    raw.send_msg(&raw.join_msg("carol", &identity(2)));
    assert!(matches!(raw.recv(), Some(ServerMsg::Welcome { .. })));
}

#[test]
fn a_silent_session_is_pinged_and_cut_if_it_does_not_answer() {
    let config = ServerConfig {
        ping_after: Duration::from_millis(300),
        ping_grace: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = start_server(config);
    let addr = server.local_addr();
    // A client that answers stays, however long it says nothing else.
    let mut alive = TestClient::join(addr, "alive", 0);
    // One that holds its socket open and never answers is cut.
    let mut silent = joined_from(addr, "127.0.0.2", "silent", 1);
    let started = Instant::now();
    let watcher = thread::spawn(move || {
        let mut pinged = false;
        while let Some(msg) = silent.recv() {
            pinged |= msg == ServerMsg::Ping;
        }
        (pinged, started.elapsed())
    });
    // alive reads (and so answers its pings, as TestClient does) until silent has left.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "silent was never cut");
        if let Some(ServerMsg::Left { name }) = alive.recv_within(Duration::from_millis(100))
            && name == "silent"
        {
            break;
        }
    }
    let (pinged, after) = watcher.join().unwrap();
    assert!(pinged, "no ping before the cut");
    assert!(after < Duration::from_secs(3), "cut after {after:?}");
    // Well past several ping intervals, alive is still here.
    for _ in 0..10 {
        let _ = alive.recv_within(Duration::from_millis(100));
    }
    assert!(server.registry().lookup("alive").is_some(), "a client that answers was cut");
}

#[test]
fn chat_for_stalled_receivers_waits_on_disk_within_each_mailbox_and_the_flooder_is_told() {
    // No rate limit, so only the mailboxes stop the flood. Chat never queues in memory: it
    // waits in the store until its recipient acknowledges it.
    let config = ServerConfig {
        strike_limit: 100_000,
        write_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    }
    .with_chat_rate(0);
    let server = start_server(config);
    let addr = server.local_addr();
    // Four receivers that never read (nor acknowledge).
    let stalled: Vec<RawClient> = (0..4)
        .map(|i| joined_from(addr, &format!("127.0.0.{}", 10 + i), &format!("s{i}"), i))
        .collect();
    let mut flooder = joined_from(addr, "127.0.0.2", "flooder", 0);
    let reader = flooder.stream.try_clone().unwrap();
    let said = thread::spawn(move || {
        let mut raw = RawClient { stream: reader, challenge: [0; 32] };
        raw.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut full = 0;
        while let Some(msg) = raw.recv() {
            if let ServerMsg::Error { code: ErrorCode::MailboxFull, text } = msg
                && text.contains("messages from you")
            {
                full += 1;
                if full == 4 {
                    return true;
                }
            }
        }
        false
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let junk = vec![0xAB; chatroom::wire::MAX_ENVELOPE];
    'flood: while Instant::now() < deadline && !said.is_finished() {
        for i in 0..4 {
            let frame = cmd::Chat { to: format!("s{i}"), envelope: junk.clone() }.encode();
            if flooder.stream.write_all(&frame).is_err() {
                break 'flood;
            }
        }
    }
    assert!(said.join().unwrap(), "the flooder was never told the mailboxes are full");
    for i in 0..4 {
        let kept = server.store().held_for(&format!("s{i}")).unwrap().len() as i64;
        assert_eq!(kept, chatroom::store::MAILBOX_PER_SENDER, "s{i}'s mailbox");
    }
    drop(stalled);
}

/// The answer to the last chat message sent: `SENT` or an error (other news skipped).
fn answer(from: &mut RawClient) -> ServerMsg {
    loop {
        match from.recv() {
            Some(msg @ (ServerMsg::Sent { .. } | ServerMsg::Error { .. })) => return msg,
            Some(_) => {}
            None => panic!("the connection ended"),
        }
    }
}

#[test]
fn a_message_for_a_stalled_recipient_waits_while_its_sender_goes_on_and_is_refused_after_patience()
{
    // Flow control: a message for an online recipient whose mailbox is full is not refused at
    // once; it waits, unanswered, while its sender's session goes on reading and writing.
    let patience = Duration::from_secs(1);
    let config =
        ServerConfig { mailbox_patience: patience, ..ServerConfig::default() }.with_chat_rate(0);
    let server = start_server(config);
    let addr = server.local_addr();
    let _stalled = joined_from(addr, "127.0.0.10", "stalled", 0);
    let mut lone = joined_from(addr, "127.0.0.2", "lone", 1);
    let mut busy = joined_from(addr, "127.0.0.3", "busy", 2);
    let chat = cmd::Chat { to: "stalled".into(), envelope: vec![0xAB; 64] };
    for _ in 0..chatroom::store::MAILBOX_PER_SENDER {
        busy.send_msg(&chat);
        let reply = answer(&mut busy);
        assert!(matches!(reply, ServerMsg::Sent { .. }), "refused early: {reply:?}");
    }
    // One more waits; meanwhile busy writes to lone, who gets it and is answered at once.
    let asked = Instant::now();
    busy.send_msg(&chat);
    busy.send_msg(&cmd::Chat { to: "lone".into(), envelope: vec![1; 64] });
    let first = answer(&mut busy);
    assert!(matches!(&first, ServerMsg::Sent { to, .. } if to == "lone"), "{first:?}");
    assert!(asked.elapsed() < patience, "the message to lone waited behind the other");
    let got = std::iter::from_fn(|| lone.recv()).any(|m| matches!(m, ServerMsg::Chat { .. }));
    assert!(got, "lone never got busy's message");
    // stalled takes nothing: after the patience, busy is told.
    let refused = answer(&mut busy);
    assert!(
        matches!(refused, ServerMsg::Error { code: ErrorCode::MailboxFull, .. }),
        "{refused:?}"
    );
    assert!(asked.elapsed() >= patience, "refused after {:?}", asked.elapsed());
}

#[test]
fn an_address_that_joins_and_leaves_over_and_over_is_held_to_its_join_budget() {
    // 8 slots: one address may hold 6, so it may join 6 times at once, then once a second.
    let config = ServerConfig { max_clients: 8, join_rate: 60, ..ServerConfig::default() };
    let server = start_server(config);
    let addr = server.local_addr();
    let mut watcher = TestClient::join(addr, "watcher", 0);
    // Join, quit, join again as fast as the server answers, for 2 s. Unchecked, this put
    // 450 [JOINED]/[LEFT] lines a second on every screen, and registered a name each time.
    let started = Instant::now();
    let (mut joins, mut refusal) = (0, None);
    while started.elapsed() < Duration::from_secs(2) {
        let mut raw = RawClient::connect_from(addr, "127.0.0.2").unwrap();
        raw.hello();
        raw.send_msg(&raw.join_msg(&format!("churn{joins}"), &identity(1)));
        match raw.recv() {
            Some(ServerMsg::Welcome { .. }) => joins += 1,
            Some(ServerMsg::Error { code: ErrorCode::RateLimited, text }) => {
                assert!(raw.closed_within(Duration::from_secs(2)), "a refused join stays open");
                refusal = Some(text);
            }
            other => panic!("expected a welcome or a refusal, got {other:?}"),
        }
        raw.send_msg(&cmd::Quit);
        let _ = raw.closed_within(Duration::from_secs(2));
    }
    let refusal = refusal.expect("never refused");
    assert!(
        refusal.contains("too many joins from your address (at most 60 a minute)"),
        "{refusal}"
    );
    assert!(refusal.contains("try again in 1 s"), "{refusal}");
    // The burst (6), then about one a second.
    assert!((6..=9).contains(&joins), "{joins} joins in 2 s");
    // Another address is not held back.
    let other = TestClient::join(addr, "other", 2);
    // The watcher saw each join and leave once: no more than the budget let through.
    let mut events = 0;
    while let Some(msg) = watcher.recv_within(Duration::from_millis(300)) {
        match msg {
            ServerMsg::Joined(user) if user.name == "other" => break,
            ServerMsg::Joined(_) | ServerMsg::Left { .. } => events += 1,
            _ => {}
        }
    }
    assert_eq!(events, 2 * joins);
    drop(other);
}

/// Throwaway names cost nothing to make: together they may fill a tenth of an offline
/// user's mailbox, and registered senders keep the rest.
#[test]
fn throwaway_senders_cannot_fill_an_offline_mailbox() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    TestClient::join(addr, "bob", 1).quit();
    let (mut kept, mut refused) = (0, None);
    for i in 0..10 {
        let mut squatter = TestClient::join_throwaway(addr, &format!("junk{i}"), 3);
        squatter.ask_key("bob");
        for _ in 0..20 {
            match squatter.send_confirmed("bob", "junk") {
                Ok(_) => kept += 1,
                Err(ServerMsg::Error { code, text }) => {
                    assert_eq!(code, ErrorCode::MailboxFull, "{text}");
                    refused = Some(text);
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        squatter.quit();
    }
    assert_eq!(kept, chatroom::store::MAILBOX_THROWAWAY);
    let refused = refused.expect("a refusal");
    assert!(refused.contains("100 messages from throwaway keys"), "{refused}");
    // A registered sender still gets through.
    let mut alice = TestClient::join(addr, "alice", 0);
    alice.ask_key("bob");
    assert_eq!(alice.send_confirmed("bob", "hello"), Ok(true));
}
