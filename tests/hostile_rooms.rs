//! Rooms against a server that lies. The real client (`chatroom client`) talks to the real
//! server through a man in the middle that rewrites what the server says about a room: it
//! adds a member, hides one, forges an invitation, replays a change, reorders the changes a
//! client missed; or the server's database is edited by hand. Each time no message is sealed
//! for anyone no member signed in, and the lie is named on screen.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatroom::roster::{Action, Change, GENESIS, key_hash};
use chatroom::wire::{ServerMsg, User};
use common::TestClient;
use common::proc::{Proc, client_at};

/// What the man in the middle does to the next messages about a room.
const HONEST: usize = 0;
const ADD_MALLORY: usize = 1;
const HIDE_ALICE: usize = 2;
const FORGE_INVITE: usize = 3;
const REPLAY: usize = 4;
const REORDER: usize = 5;

/// A lying server: the real one, with `lie` applied to what it sends.
struct Liar {
    lie: Arc<AtomicUsize>,
    addr: std::net::SocketAddr,
}

/// The rewriting: `mallory` is the user the server wants to read the room.
fn liar(server: std::net::SocketAddr, mallory: User) -> Liar {
    let lie = Arc::new(AtomicUsize::new(HONEST));
    let mode = lie.clone();
    // The last change seen, and the victim's own, as they passed.
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let addr = common::proxy(server, move |msg| {
        let mut seen = seen.lock().unwrap();
        match (mode.load(Ordering::SeqCst), msg) {
            (_, ServerMsg::RoomChange { change }) => {
                seen.push(change.clone());
                vec![ServerMsg::RoomChange { change }]
            }
            (REORDER, ServerMsg::RoomLog { room, mut changes }) if changes.len() > 1 => {
                changes.reverse();
                vec![ServerMsg::RoomLog { room, changes }]
            }
            (_, ServerMsg::RoomLog { room, changes }) => {
                seen.extend(changes.iter().cloned());
                vec![ServerMsg::RoomLog { room, changes }]
            }
            (ADD_MALLORY, ServerMsg::RoomInfo { room, mut members }) => {
                members.push(mallory.clone());
                vec![ServerMsg::RoomInfo { room, members }]
            }
            (HIDE_ALICE, ServerMsg::RoomInfo { room, mut members }) => {
                members.retain(|m| m.name != "alice");
                vec![ServerMsg::RoomInfo { room, members }]
            }
            // An invitation of mallory "by alice", signed with mallory's own key.
            (FORGE_INVITE, info @ ServerMsg::RoomInfo { .. }) => {
                let prev = chatroom::roster::hash_of(seen.last().unwrap());
                let key = key_hash(&mallory.key);
                let mallory_id = common::identity(2);
                let mut forged = Change::signed(
                    &mallory_id,
                    "mallory",
                    "#a",
                    prev,
                    Action::Invite,
                    "mallory",
                    key,
                )
                .unwrap();
                forged.by = "alice".into();
                vec![ServerMsg::RoomChange { change: forged.encode() }, info]
            }
            // A change the victim already applied, sent again.
            (REPLAY, info @ ServerMsg::RoomInfo { .. }) => {
                let old = seen[1].clone();
                vec![ServerMsg::RoomChange { change: old }, info]
            }
            (_, other) => vec![other],
        }
    });
    Liar { lie, addr }
}

/// The victim writes `text` to `#a`; whatever the server said, only alice may get it.
fn write_to_room(victim: &mut Proc, text: &str) {
    for line in ["1", "#a", text] {
        victim.type_line(line);
    }
}

#[test]
fn a_lying_server_cannot_add_a_reader_and_each_lie_is_named() {
    let server = common::default_server();
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    let mut mallory = TestClient::join(server.local_addr(), "mallory", 2);
    let mallory_user = User { name: "mallory".into(), key: mallory.identity.public_der().to_vec() };
    let liar = liar(server.local_addr(), mallory_user);
    let home = common::temp_dir("victim");
    let mut victim = client_at(&liar.addr.to_string(), &home, "victim");
    victim.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.wait_joined("victim");
    // alice makes #a and invites the victim, who joins: the honest part.
    let victim_key = alice.directory.get("victim").unwrap().key.clone();
    let alice_key = alice.identity.public_der().to_vec();
    let head = alice.change("#a", GENESIS, Action::Create, "alice", &alice_key).unwrap();
    alice.change("#a", head, Action::Invite, "victim", &victim_key).unwrap();
    victim.expect_line("alice invited you to #a: /join #a to accept");
    victim.type_line("/join #a");
    victim.expect_line("Joined #a (members: alice, victim)");

    // 1. The server lists mallory as a member.
    liar.lie.store(ADD_MALLORY, Ordering::SeqCst);
    write_to_room(&mut victim, "one");
    victim.expect_line(
        "WARNING: the server lists mallory in #a, but no member invited them: left out.",
    );
    assert_eq!(next_room_text(&mut alice), ("victim".into(), "one".into()));
    // 2. The server hides alice: nobody the victim could seal for is left.
    victim.type_line("QUIT");
    liar.lie.store(HIDE_ALICE, Ordering::SeqCst);
    write_to_room(&mut victim, "two");
    victim.expect_line(
        "WARNING: the server does not list alice in #a, though a member invited them: not sealed for them.",
    );
    victim.expect_line("Nobody else in #a can be written to: message not sent.");
    // 3. A forged invitation of mallory, "by alice", before the members.
    victim.type_line("QUIT");
    liar.lie.store(FORGE_INVITE, Ordering::SeqCst);
    write_to_room(&mut victim, "three");
    victim.expect(
        "the forgery named",
        |l| l.starts_with("WARNING: the server sent a change to #a that does not hold (alice signed with a key other"),
    );
    assert_eq!(next_room_text(&mut alice), ("victim".into(), "three".into()));
    // 4. An old change sent again.
    victim.type_line("QUIT");
    liar.lie.store(REPLAY, Ordering::SeqCst);
    write_to_room(&mut victim, "four");
    victim.expect_line("WARNING: the server sent a change to #a again (a replay): ignored");
    assert_eq!(next_room_text(&mut alice), ("victim".into(), "four".into()));
    victim.type_line("QUIT");
    victim.type_line("3");
    assert_eq!(victim.wait(), 0);

    // 5. Changes the victim missed while offline, reordered at its next join.
    let carol = TestClient::join(server.local_addr(), "carol", 3);
    let dave = TestClient::join(server.local_addr(), "dave", 4);
    let mut head = chatroom::roster::hash_of(&alice_last_change(&mut alice));
    for who in [&carol, &dave] {
        let key = who.identity.public_der().to_vec();
        head = alice.change("#a", head, Action::Invite, &who.name, &key).unwrap();
    }
    let liar = self::liar(server.local_addr(), User { name: "mallory".into(), key: vec![] });
    liar.lie.store(REORDER, Ordering::SeqCst);
    let mut victim = client_at(&liar.addr.to_string(), &home, "victim");
    victim.expect("the reordering named", |l| {
        l.starts_with("WARNING: the server sent a change to #a that does not hold (a change that does not follow")
    });
    victim.type_line("3");
    assert_eq!(victim.wait(), 0);

    // Through all of it, mallory got nothing.
    assert!(
        mallory
            .recv_within(Duration::from_millis(300))
            .is_none_or(|m| !matches!(m, ServerMsg::RoomChat { .. }))
    );
    server.shutdown();
}

/// The next room message alice gets, opened: (sender, text).
fn next_room_text(alice: &mut TestClient) -> (String, String) {
    loop {
        if let ServerMsg::RoomChat { room, from, envelope, .. } = alice.recv_any() {
            let text = alice.opener.open(&alice.directory, &room, &from, &envelope).unwrap();
            return (from, text);
        }
    }
}

/// The last change of `#a` alice has seen pass (she asks for the room's history from the
/// start).
fn alice_last_change(alice: &mut TestClient) -> Vec<u8> {
    alice.writer.send(&chatroom::cmd::RoomJoin { room: "#a".into(), since: GENESIS }).unwrap();
    loop {
        if let ServerMsg::RoomLog { changes, .. } = alice.recv_any() {
            return changes.last().unwrap().clone();
        }
    }
}

#[test]
fn a_member_written_into_the_database_by_hand_reads_nothing() {
    let db = common::temp_dir("edited").join("chatroom.db");
    let (mut server, addr) = common::proc::server_at(&db);
    let home = common::temp_dir("victim");
    let mut victim = client_at(&addr, &home, "victim");
    victim.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut alice = client_at(&addr, &common::temp_dir("alice"), "alice");
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let sock: std::net::SocketAddr = addr.parse().unwrap();
    let mut mallory = TestClient::join(sock, "mallory", 2);
    victim.type_line("/join #a");
    victim.expect_line("Joined #a (members: victim)");
    victim.type_line("/invite #a alice");
    alice.expect_line("victim invited you to #a: /join #a to accept");
    alice.type_line("/join #a");
    alice.expect_line("Joined #a (members: victim, alice)");
    // The operator adds mallory to the room in the server's database.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO room_members (room, member, joined, invited) VALUES ('#a', 'mallory', 9, 0)",
        [],
    )
    .unwrap();
    victim.type_line("/rooms");
    victim.expect_line("WARNING: the server lists mallory in #a, but no member invited them");
    write_to_room(&mut victim, "not for mallory");
    victim.expect_line(
        "WARNING: the server lists mallory in #a, but no member invited them: left out.",
    );
    alice.expect_line("[#a] victim: not for mallory");
    victim.type_line("QUIT");
    for p in [&mut victim, &mut alice] {
        p.type_line("3");
        assert_eq!(p.wait(), 0);
    }
    let got = std::iter::from_fn(|| mallory.recv_within(Duration::from_millis(300)))
        .any(|m| matches!(m, ServerMsg::RoomChat { .. }));
    assert!(!got, "mallory got a room message");
    server.interrupt();
    assert_eq!(server.wait(), 0);
}
