//! Rooms through the real binaries: each user a `chatroom client` with its own config folder,
//! one server with a real SQLite file. Members get a room message, non-members do not and are
//! refused, a member offline gets it at the next join, the server never holds the text, and a
//! member whose key changed is left out of the sealing, the sender told.

mod common;

use chatroom::cmd;
use chatroom::roster::{Action, GENESIS};
use chatroom::wire::{ErrorCode, ServerMsg};
use common::proc::{Proc, client_at as client, server_at};
use common::temp_dir;

/// A client joined as `name` (its own config folder `home`), at the menu.
fn joined(addr: &str, home: &std::path::Path, name: &str) -> Proc {
    let mut p = client(addr, home, name);
    p.expect("the welcome", |l| l.starts_with(&format!("Welcome, {name}!")));
    p.expect_line("1. CHAT  2. STREAM  3. QUIT");
    p
}

#[test]
fn members_get_a_room_message_non_members_are_refused_and_the_offline_get_it_later() {
    let db = temp_dir("rooms").join("chatroom.db");
    let (mut server, addr) = server_at(&db);
    let homes: Vec<_> = ["alice", "bob", "carol", "dave"].iter().map(|n| temp_dir(n)).collect();
    let mut alice = joined(&addr, &homes[0], "alice");
    let mut bob = joined(&addr, &homes[1], "bob");
    let mut carol = joined(&addr, &homes[2], "carol");
    let mut dave = joined(&addr, &homes[3], "dave");

    alice.type_line("/join #study");
    alice.expect_line("Joined #study (members: alice)");
    // Invite-only: bob's /join is refused until a member invites him.
    bob.type_line("/join #study");
    bob.expect_line("#study is invite-only: ask a member to /invite you");
    alice.type_line("/invite #study bob");
    alice.expect_line("Invited bob to #study: they join with /join #study");
    bob.expect_line("alice invited you to #study: /join #study to accept");
    bob.type_line("/join #study");
    bob.expect_line("Joined #study (members: alice, bob)");
    alice.expect_line("[#study] bob joined (invited by alice)");
    bob.type_line("/invite #study carol");
    carol.expect_line("bob invited you to #study: /join #study to accept");
    carol.type_line("/join #study");
    carol.expect_line("Joined #study (members: alice, bob, carol)");
    bob.expect_line("[#study] carol joined (invited by bob)");
    alice.expect_line("[#study] carol joined (invited by bob)");
    // carol goes offline: still a member.
    carol.type_line("3");
    assert_eq!(carol.wait(), 0);
    alice.expect_line("[LEFT] carol");

    // Written to the room: bob prints it, dave (not a member) does not. (A whole command line
    // at the message prompt is a command, and the prompt comes back.)
    for line in ["1", "#study", "/rooms"] {
        alice.type_line(line);
    }
    alice.expect_line("  #study: alice (you), bob*, carol");
    // Asked again after the command's answer.
    alice.expect_line("Enter message : ");
    alice.type_line("hello room");
    bob.expect_line("[#study] alice: hello room");
    alice.expect_line("Enter recipient (QUIT to go back) : ");
    // dave may not write to it.
    for line in ["1", "#study"] {
        dave.type_line(line);
    }
    dave.expect_line("You are not in #study");
    dave.type_line("/join #study");
    dave.expect_line("#study is invite-only: ask a member to /invite you");
    dave.type_line("QUIT");
    dave.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // Leaving is a change bob signs, said to those online.
    bob.type_line("/leave #study");
    bob.expect_line("Left #study");
    alice.expect_line("[#study] bob left");
    // carol gets the message at her next join, and learns of the change she missed.
    let mut carol = joined(&addr, &homes[2], "carol");
    carol.expect_all(&["[#study] alice: hello room".into(), "[#study] bob left".into()]);
    carol.type_line("/rooms");
    carol.expect_line("Your rooms (* online):");
    carol.expect_line("  #study: alice*, carol (you)");

    // The server never held the text, in its log or its database.
    alice.type_line("QUIT");
    for p in [&mut alice, &mut bob, &mut carol, &mut dave] {
        p.type_line("3");
        assert_eq!(p.wait(), 0);
    }
    server.interrupt();
    assert_eq!(server.wait(), 0);
    assert!(!dave.rest().iter().any(|l| l.contains("hello room")));
    assert!(!server.errors().contains("hello room"), "{}", server.errors());
    for file in std::fs::read_dir(db.parent().unwrap()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(10).any(|w| w == b"hello room"));
    }
}

#[test]
fn a_member_whose_key_changed_is_left_out_and_the_sender_told() {
    let (alice_home, carol_home) = (temp_dir("alice"), temp_dir("carol"));
    // alice meets bob on a first server, writes to him: his key is pinned, as one talked to.
    let (_first, addr) = common::proc::server(&[]);
    let mut bob = joined(&addr, &temp_dir("bob"), "bob");
    let mut alice = joined(&addr, &alice_home, "alice");
    for line in ["1", "bob", "hi bob", "QUIT", "3"] {
        alice.type_line(line);
    }
    bob.expect_line("[CHAT] alice: hi bob");
    assert_eq!(alice.wait(), 0);
    // Elsewhere "bob" has another key, and is in #study with carol.
    let (_second, addr) = common::proc::server(&[]);
    let mut mallory = joined(&addr, &temp_dir("mallory"), "bob");
    let mut carol = joined(&addr, &carol_home, "carol");
    mallory.type_line("/join #study");
    mallory.expect_line("Joined #study (members: bob)");
    mallory.type_line("/invite #study carol");
    carol.expect_line("bob invited you to #study: /join #study to accept");
    carol.type_line("/join #study");
    carol.expect_line("Joined #study (members: bob, carol)");
    let mut alice = joined(&addr, &alice_home, "alice");
    let warned = |l: &String| l.starts_with("WARNING: bob's key has CHANGED");
    assert!(alice.seen.iter().any(warned), "{:?}", alice.seen);
    carol.type_line("/invite #study alice");
    alice.expect_line("carol invited you to #study: /join #study to accept");
    alice.type_line("/join #study");
    alice.expect_line("Joined #study (members: bob, carol, alice)");
    for line in ["1", "#study", "for those I trust"] {
        alice.type_line(line);
    }
    alice.expect_line(
        "Not sealed for bob in #study: their key changed (/trust bob if you are sure).",
    );
    carol.expect_line("[#study] alice: for those I trust");
    alice.expect_line("Enter recipient (QUIT to go back) : ");
    alice.type_line("QUIT");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
    mallory.type_line("3");
    assert_eq!(mallory.wait(), 0);
    assert!(!mallory.rest().iter().any(|l| l.contains("for those I trust")));
}

/// The next `RINF` `client` gets (after joining a room).
fn room_info(client: &mut common::TestClient) -> ServerMsg {
    loop {
        match client.recv_any() {
            msg @ (ServerMsg::RoomInfo { .. } | ServerMsg::Error { .. }) => return msg,
            _ => continue,
        }
    }
}

#[test]
fn a_room_message_replayed_as_direct_or_into_another_room_is_dropped_and_forgeries_refused() {
    let server = common::default_server();
    let addr = server.local_addr().to_string();
    let mut bob = Proc::client(&addr, &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // mallory makes two rooms and invites bob to both; he joins them.
    let mut mallory = common::TestClient::join(server.local_addr(), "mallory", 1);
    mallory.wait_joined("bob");
    let bob_key = mallory.directory.get("bob").unwrap().key.clone();
    let mallory_key = mallory.identity.public_der().to_vec();
    for room in ["#study", "#other"] {
        let head = mallory.change(room, GENESIS, Action::Create, "mallory", &mallory_key).unwrap();
        mallory.change(room, head, Action::Invite, "bob", &bob_key).unwrap();
        bob.expect_line(&format!("mallory invited you to {room}: /join {room} to accept"));
        bob.type_line(&format!("/join {room}"));
        bob.expect_line(&format!("Joined {room} (members: mallory, bob)"));
    }
    let peer = mallory.directory.get("bob").unwrap().clone();
    let envelopes =
        mallory.sealer.seal_room("#study", &[&peer], "sealed for #study").unwrap().envelopes;
    let envelope = envelopes[0].1.clone();
    // Passed off as a direct message, then as one to #other: bob drops both.
    mallory.writer.send(&cmd::Chat { to: "bob".into(), envelope: envelope.clone() }).unwrap();
    bob.expect("the first drop", |l| {
        l.starts_with("Warning: dropped a message claiming to be from mallory")
            && l.ends_with("message was written to \"#study\", not \"\"")
    });
    let into_other = vec![("bob".to_owned(), envelope.clone())];
    mallory.writer.send(&cmd::RoomChat { room: "#other".into(), envelopes: into_other }).unwrap();
    bob.expect("the second drop", |l| {
        l.ends_with("message was written to \"#study\", not \"#other\"")
    });
    // Where it was written, it is shown.
    let real = vec![("bob".to_owned(), envelope)];
    mallory.writer.send(&cmd::RoomChat { room: "#study".into(), envelopes: real }).unwrap();
    bob.expect_line("[#study] mallory: sealed for #study");
    assert!(
        !bob.seen
            .iter()
            .any(|l| l.starts_with("[CHAT] mallory") || l.starts_with("[#other] mallory:"))
    );

    // The server refuses a non-member writing to a room, and an envelope for a non-member.
    let mut eve = common::TestClient::join(server.local_addr(), "eve", 2);
    let to_bob = vec![("bob".to_owned(), vec![1, 2, 3])];
    eve.writer.send(&cmd::RoomChat { room: "#study".into(), envelopes: to_bob }).unwrap();
    let ServerMsg::Error { code, text } = room_info(&mut eve) else { panic!("not refused") };
    assert_eq!((code, text.as_str()), (ErrorCode::NotInRoom, "You are not in #study"));
    let to_eve = vec![("eve".to_owned(), vec![1, 2, 3])];
    mallory.writer.send(&cmd::RoomChat { room: "#study".into(), envelopes: to_eve }).unwrap();
    let ServerMsg::Error { code, text } = room_info(&mut mallory) else { panic!("not refused") };
    assert_eq!(code, ErrorCode::NotInRoom, "{text}");
    assert_eq!(text, "eve is not in #study (or is you)");
    server.shutdown();
}

#[test]
fn a_throwaway_name_holds_its_seat_for_its_session_only() {
    let db = temp_dir("squat").join("chatroom.db");
    let (_server, addr) = server_at(&db);
    let mut alice = joined(&addr, &temp_dir("alice"), "alice");
    alice.type_line("/join #study");
    alice.expect_line("Joined #study (members: alice)");
    let mut eph = Proc::client(&addr, &["--name", "eph"]);
    eph.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.expect_line("[JOINED] eph");
    alice.type_line("/invite #study eph");
    eph.expect_line("alice invited you to #study: /join #study to accept");
    eph.type_line("/join #study");
    eph.expect_line("Joined #study (members: alice, eph)");
    alice.expect_line("[#study] eph joined (invited by alice)");
    // The session ends: so does the seat, by the server's change, which alice sees.
    eph.type_line("3");
    assert_eq!(eph.wait(), 0);
    alice.expect_line("[#study] eph left (their name was released)");
    alice.type_line("/rooms");
    alice.expect_line("  #study: alice (you)");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
}

#[test]
fn a_piped_script_of_room_commands_runs_in_order() {
    let (_server, addr) = common::proc::server(&[]);
    let mut bob = joined(&addr, &temp_dir("bob"), "bob");
    let mut alice = joined(&addr, &temp_dir("alice"), "alice");
    // Each room command waits for the server's answer before the next line is read: the
    // invitation follows the room's making, however fast the lines come.
    alice.type_line("/join #fast\n/invite #fast bob\n/rooms");
    bob.expect_line("alice invited you to #fast: /join #fast to accept");
    alice.expect_line("  #fast: alice (you)");
    bob.type_line("/join #fast\n1\n#fast\nhi alice\nQUIT\n/leave #fast\n3");
    alice.expect_line("[#fast] bob joined (invited by alice)");
    alice.expect_line("[#fast] bob: hi alice");
    alice.expect_line("[#fast] bob left");
    assert_eq!(bob.wait(), 0);
    let out = bob.rest();
    let at = |line: &str| {
        out.iter().position(|l| l == line).unwrap_or_else(|| panic!("{line}: {out:?}"))
    };
    assert!(at("Joined #fast (members: alice, bob)") < at("Left #fast"));
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
}
