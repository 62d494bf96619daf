//! Identity that lasts, through the real binaries: keys kept per name in the config folder
//! (`XDG_CONFIG_HOME` points at a temporary one), names bound to keys in a real SQLite file,
//! trust on first use, safety numbers, and messages held for offline users, surviving a
//! `kill -9` of the server.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::proc::{Proc, client_at as client, server_at as server_with_db};
use common::temp_dir;

/// The fingerprint in the welcome line.
fn welcome(p: &mut Proc, name: &str) -> String {
    let line = p.expect("the welcome", |l| l.starts_with(&format!("Welcome, {name}!")));
    line.rsplit(' ').next().unwrap().trim_end_matches('.').to_owned()
}

#[test]
fn a_key_is_made_once_per_name_kept_private_and_used_again() {
    let (_server, addr) = common::proc::server(&[]);
    let config = temp_dir("profile");
    let mut alice = client(&addr, &config, "alice");
    alice.expect("the new key", |l| l.starts_with("Made a new key for alice, kept in "));
    let first = welcome(&mut alice, "alice");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
    let file = config.join("chatroom/identities/alice.pem");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    let mut again = client(&addr, &config, "alice");
    assert_eq!(welcome(&mut again, "alice"), first, "the same key, read back");
    again.type_line("3");
    let mut bob = client(&addr, &config, "bob");
    assert_ne!(welcome(&mut bob, "bob"), first, "bob has a key of his own");
    bob.type_line("3");

    // A file that is not a key: an error naming it, and the file left alone.
    std::fs::write(&file, "not a key").unwrap();
    let mut broken = client(&addr, &config, "alice");
    assert_eq!(broken.wait(), 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a key");
    // Readable by others: refused too.
    let carol = config.join("chatroom/identities/carol.pem");
    std::fs::copy(config.join("chatroom/identities/bob.pem"), &carol).unwrap();
    std::fs::set_permissions(&carol, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut exposed = client(&addr, &config, "carol");
    assert_eq!(exposed.wait(), 1);
}

#[test]
fn a_name_stays_bound_to_its_key_across_restarts_until_forgotten() {
    let db = temp_dir("names").join("chatroom.db");
    let (alice_home, mallory_home) = (temp_dir("alice"), temp_dir("mallory"));
    let (mut server, addr) = server_with_db(&db);
    let mut alice = client(&addr, &alice_home, "alice");
    welcome(&mut alice, "alice");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
    server.interrupt();
    assert_eq!(server.wait(), 0);

    let (mut server, addr) = server_with_db(&db);
    let mut mallory = client(&addr, &mallory_home, "alice");
    assert_eq!(mallory.wait(), 2);
    assert!(mallory.errors().contains("the name alice is registered to another key"));
    let mut alice = client(&addr, &alice_home, "alice");
    welcome(&mut alice, "alice");
    alice.type_line("3");
    server.interrupt();
    assert_eq!(server.wait(), 0);

    let mut forget = Proc::start(&["server", "--db", db.to_str().unwrap(), "--forget", "ALICE"]);
    forget.expect("the release", |l| l.starts_with("Released the name ALICE"));
    assert_eq!(forget.wait(), 0);
    let (_server, addr) = server_with_db(&db);
    let mut mallory = client(&addr, &mallory_home, "alice");
    welcome(&mut mallory, "alice");
}

#[test]
fn a_changed_key_warns_and_blocks_sending_until_trusted_and_both_sides_see_one_safety_number() {
    let (alice_home, bob_home) = (temp_dir("alice"), temp_dir("bob"));
    // First meeting: alice pins bob's key.
    let (_first, addr) = common::proc::server(&[]);
    let mut bob = client(&addr, &bob_home, "bob");
    welcome(&mut bob, "bob");
    let mut alice = client(&addr, &alice_home, "alice");
    welcome(&mut alice, "alice");
    bob.expect_line("[JOINED] alice");
    // /verify on both sides, whoever asks: the same number.
    alice.type_line("/verify bob");
    bob.type_line("/verify alice");
    let number = |p: &mut Proc| {
        p.expect("the safety number line", |l| l.starts_with("Safety number for you and"));
        p.expect("the number", |l| l.starts_with("  ") && l.len() == 2 + 71)
    };
    assert_eq!(number(&mut alice), number(&mut bob));
    drop(bob);
    drop(alice);

    // Elsewhere (another server, which knows nothing), "bob" has another key.
    let (_second, addr) = common::proc::server(&[]);
    let mut mallory = common::proc::Proc::client(&addr, &["--name", "bob"]);
    welcome(&mut mallory, "bob");
    let mut alice = client(&addr, &alice_home, "alice");
    alice.expect("the warning", |l| l.starts_with("WARNING: bob's key has CHANGED"));
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // What the changed key says is marked as such, and so is bob in the list.
    for line in ["1", "alice", "it's me, new laptop", "QUIT"] {
        mallory.type_line(line);
    }
    alice.expect_line("[UNTRUSTED] bob: it's me, new laptop");
    alice.type_line("1");
    alice.expect("bob, marked", |l| {
        l.starts_with("  bob  [")
            && l.ends_with("] UNTRUSTED: key changed (/verify bob, then /trust bob)")
    });
    alice.type_line("bob");
    alice.expect_line("Not sending to bob: their key changed. Type /trust bob if you are sure.");
    // A command with no name says how it is used, not `No key is known for ""`.
    alice.type_line("/verify");
    alice.expect("the help", |l| l.contains("/verify NAME"));
    alice.type_line("/trust bob");
    alice.expect("the trust", |l| l.starts_with("You now trust bob's key"));
    alice.type_line("bob");
    alice.type_line("hello, new bob");
    mallory.expect_line("[CHAT] alice: hello, new bob");
    for line in ["1", "alice", "trusted now"] {
        mallory.type_line(line);
    }
    alice.expect_line("[CHAT] bob: trusted now");
    assert!(!alice.seen.iter().any(|l| l.contains("No key is known")), "{:?}", alice.seen);
}

#[test]
fn messages_held_for_an_offline_user_survive_a_kill_and_arrive_in_order() {
    let db = temp_dir("mailbox").join("chatroom.db");
    let (alice_home, bob_home) = (temp_dir("alice"), temp_dir("bob"));
    let (mut server, addr) = server_with_db(&db);
    let mut bob = client(&addr, &bob_home, "bob");
    welcome(&mut bob, "bob");
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);

    let mut alice = client(&addr, &alice_home, "alice");
    welcome(&mut alice, "alice");
    alice.type_line("1");
    for i in 1..=3 {
        alice.type_line("bob");
        alice.type_line(&format!("message {i}"));
        alice.expect_line("[QUEUED] bob is offline; delivered when they return");
    }
    // The server dies at once, with no chance to tidy up.
    server.child.kill().unwrap();
    server.wait();
    drop(alice);

    let (_server, addr) = server_with_db(&db);
    let mut bob = client(&addr, &bob_home, "bob");
    welcome(&mut bob, "bob");
    for i in 1..=3 {
        bob.expect_line(&format!("[CHAT] alice: message {i}"));
    }
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);
    // Delivered messages are gone: the next join finds nothing.
    let mut bob = client(&addr, &bob_home, "bob");
    welcome(&mut bob, "bob");
    bob.type_line("3");
    let rest = bob.rest();
    // (Were they sent again, bob would drop them as replays: nothing of alice's at all.)
    assert!(!rest.iter().any(|l| l.contains("alice")), "{rest:?}");
}

#[test]
fn a_database_that_is_not_ours_is_refused_and_left_alone() {
    let db = temp_dir("corrupt").join("chatroom.db");
    std::fs::write(&db, b"SQLite format 3\0 but then garbage, garbage, garbage").unwrap();
    let before = std::fs::read(&db).unwrap();
    let mut server =
        Proc::start(&["server", "--bind", "127.0.0.1:0", "--db", db.to_str().unwrap()]);
    assert_eq!(server.wait(), 1);
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn a_reconnecting_client_comes_back_and_gets_what_was_held_meanwhile() {
    let db = temp_dir("reconnect").join("chatroom.db");
    let (alice_home, bob_home) = (temp_dir("alice"), temp_dir("bob"));
    let (mut server, addr) = server_with_db(&db);
    let args = ["client", "--server", &addr, "--key-bits", "1024", "--name", "bob", "--reconnect"];
    let mut bob = Proc::start_with(&args, &[("XDG_CONFIG_HOME", bob_home.to_str().unwrap())]);
    welcome(&mut bob, "bob");

    server.child.kill().unwrap();
    server.wait();
    bob.expect_line("Connection to the server lost; reconnecting...");
    // bob's first try (after 1 s) finds no server; the next comes 2 s later. Meanwhile the
    // server is back on the same address, and alice writes to bob, who is not back yet.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let db_arg = db.to_str().unwrap();
    let mut server =
        Proc::start(&["server", "--bind", &addr, "--db", db_arg, "--min-key-bits", "1024"]);
    server.expect("the listening line", |l| l.starts_with("Server listening on "));
    let mut alice = client(&addr, &alice_home, "alice");
    welcome(&mut alice, "alice");
    alice.type_line("1");
    alice.type_line("bob");
    alice.type_line("while you were away");
    alice.expect_line("[QUEUED] bob is offline; delivered when they return");

    bob.expect_line("[RECONNECTED]");
    bob.expect_line("[CHAT] alice: while you were away");
    // And bob's session works as before: he answers.
    bob.type_line("1");
    bob.type_line("alice");
    bob.type_line("back now");
    alice.expect_line("[CHAT] bob: back now");
    bob.type_line("QUIT");
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);
}

#[test]
fn a_database_that_held_names_is_never_replaced_by_an_empty_one_without_a_word() {
    let db = temp_dir("lost").join("chatroom.db");
    let (server, addr) = server_with_db(&db);
    let mut bob = client(&addr, &temp_dir("bob"), "bob");
    welcome(&mut bob, "bob");
    drop(bob);
    drop(server);
    // The file is deleted (or emptied): the server will not start empty on its own...
    for damage in ["delete", "empty"] {
        match damage {
            "delete" => std::fs::remove_file(&db).unwrap(),
            _ => std::fs::write(&db, b"").unwrap(),
        }
        let args = ["server", "--bind", "127.0.0.1:0", "--db", db.to_str().unwrap()];
        let mut refused = Proc::start_with(&args, &[("RUST_LOG", "off")]);
        assert_eq!(refused.wait(), 1, "{damage}");
        assert!(refused.rest().iter().all(|l| !l.starts_with("Server listening")), "{damage}");
    }
    // ...unless told to.
    let args = ["server", "--bind", "127.0.0.1:0", "--db", db.to_str().unwrap(), "--init-db"];
    let mut fresh = Proc::start(&args);
    fresh.expect("the listening line", |l| l.starts_with("Server listening on "));
}

#[test]
fn forget_says_what_it_deleted_and_makes_no_database() {
    let db = temp_dir("forget").join("chatroom.db");
    let forget = |name: &str| {
        let mut p = Proc::start(&["server", "--db", db.to_str().unwrap(), "--forget", name]);
        let code = p.wait();
        (code, p.rest())
    };
    // No database: an error, and none is made.
    assert_eq!(forget("alice").0, 1);
    assert!(!db.exists());
    let (server, addr) = server_with_db(&db);
    let (alice_home, bob_home) = (temp_dir("alice"), temp_dir("bob"));
    let mut bob = client(&addr, &bob_home, "bob");
    welcome(&mut bob, "bob");
    bob.type_line("3");
    bob.wait();
    let mut alice = client(&addr, &alice_home, "alice");
    welcome(&mut alice, "alice");
    alice.type_line("1");
    for i in 1..=2 {
        alice.type_line("bob");
        alice.type_line(&format!("held {i}"));
        alice.expect_line("[QUEUED] bob is offline; delivered when they return");
    }
    drop(alice);
    drop(server);
    let (code, said) = forget("ALICE");
    assert_eq!(code, 0, "{said:?}");
    assert!(said.iter().any(|l| l.starts_with("Released the name ALICE")), "{said:?}");
    assert!(
        said.iter().any(|l| l.contains("0 messages waiting for ALICE, and 2 from ALICE")),
        "{said:?}"
    );
    // A name nobody has: an error, not a silent success.
    assert_eq!(forget("nosuch").0, 1);
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_refused_name_writes_no_key_and_ends_a_piped_client_with_status_2() {
    let db = temp_dir("refused").join("chatroom.db");
    let (_server, addr) = server_with_db(&db);
    let (wendy_home, home) = (temp_dir("wendy"), temp_dir("newcomer"));
    let mut wendy = client(&addr, &wendy_home, "wendy");
    welcome(&mut wendy, "wendy");
    wendy.type_line("3");
    assert_eq!(wendy.wait(), 0);
    let env = [("XDG_CONFIG_HOME", home.to_str().unwrap())];

    // The script, with wendy registered to another key: the client ends at the
    // refusal, with the way out on stderr; nothing after it is read as a name.
    let args = ["client", "--server", &addr, "--key-bits", "1024"];
    let mut p = Proc::start_with(&args, &env);
    for line in ["wendy", "1", "bob", "hello", "QUIT", "3"] {
        p.type_line(line);
    }
    assert_eq!(p.wait(), 2);
    let shown = p.rest();
    assert!(
        !shown.iter().any(|l| l.starts_with("Welcome") || l.contains("Made a new key")),
        "{shown:?}"
    );
    let err = p.errors();
    assert!(
        err.contains(
            "chatroom: error: the name \"wendy\" was refused: the name wendy is registered to another key"
        ),
        "{err}"
    );
    assert!(err.contains("chatroom server --forget NAME"), "the way out: {err}");

    // A name against the rules, typed or given: refused before anything is written.
    let mut p = Proc::start_with(&args, &env);
    p.type_line("../../evil");
    assert_eq!(p.wait(), 2);
    assert!(p.errors().contains("was refused: invalid name"), "{}", p.errors());
    for bad in ["--name=../../evil", "--name=-x", "--name=.hidden", "--name=QUIT"] {
        let mut p = Proc::start_with(&["client", "--server", &addr, bad], &env);
        assert_eq!(p.wait(), 2, "{bad}");
        assert!(p.errors().contains("invalid name"), "{bad}: {}", p.errors());
    }
    assert_eq!(files_under(&home), Vec::<String>::new(), "nothing written for refused names");

    // An accepted name: its key is written once the server has taken it.
    let mut p = client(&addr, &home, "wanda");
    p.expect("the new key", |l| l.starts_with("Made a new key for wanda, kept in "));
    welcome(&mut p, "wanda");
    p.type_line("3");
    assert_eq!(p.wait(), 0);
    assert_eq!(files_under(&home), ["chatroom/identities/wanda.pem"]);
}

#[test]
fn a_throwaway_key_never_binds_its_name() {
    let db = temp_dir("throwaway").join("chatroom.db");
    let (mut server, addr) = server_with_db(&db);
    let throwaway = |name: &str| {
        let mut p = Proc::client(&addr, &["--name", name]);
        welcome(&mut p, name);
        p
    };
    let mut tess = throwaway("tess");
    // While tess is on, the name is taken, for another throwaway key and for a lasting one.
    let mut other = Proc::client(&addr, &["--name", "tess"]);
    assert_eq!(other.wait(), 2);
    assert!(other.errors().contains("the name tess is taken"), "{}", other.errors());
    // She may leave messages for users offline: her key is kept with them, so they can be
    // checked after she has gone.
    let carol_home = temp_dir("carol");
    let mut carol = client(&addr, &carol_home, "carol");
    welcome(&mut carol, "carol");
    carol.type_line("3");
    assert_eq!(carol.wait(), 0);
    for line in ["1", "carol", "are you there?"] {
        tess.type_line(line);
    }
    tess.expect_line("[QUEUED] carol is offline; delivered when they return");
    tess.type_line("QUIT");
    tess.type_line("3");
    assert_eq!(tess.wait(), 0);
    let mut carol = client(&addr, &carol_home, "carol");
    carol.expect_line("[CHAT] tess: are you there?");
    carol.type_line("3");
    assert_eq!(carol.wait(), 0);

    // Once her session is over the name is free: for the next throwaway run...
    let mut again = throwaway("tess");
    again.type_line("3");
    assert_eq!(again.wait(), 0);
    // ...and after a server killed mid-session, too.
    let _on = throwaway("tess");
    server.child.kill().unwrap();
    server.wait();
    let (_server, addr) = server_with_db(&db);
    let mut after = Proc::client(&addr, &["--name", "tess"]);
    welcome(&mut after, "tess");
    after.type_line("3");
    assert_eq!(after.wait(), 0);
    // A lasting key may take it for good.
    let mut lasting = client(&addr, &temp_dir("tess"), "tess");
    welcome(&mut lasting, "tess");
    lasting.type_line("3");
    assert_eq!(lasting.wait(), 0);
    let mut late = Proc::client(&addr, &["--name", "tess"]);
    assert_eq!(late.wait(), 2);
    assert!(late.errors().contains("registered to another key"), "{}", late.errors());
    assert!(late.errors().contains("throwaway key (--ephemeral) cannot use a registered name"));
}

#[test]
fn a_key_too_small_for_the_server_says_how_to_get_in() {
    let args = ["server", "--bind", "127.0.0.1:0", "--db", ":memory:", "--min-key-bits", "2048"];
    let mut server = Proc::start(&args);
    let line = server.expect("the listening line", |l| l.starts_with("Server listening on "));
    let addr = line.trim_start_matches("Server listening on ").to_owned();
    let home = temp_dir("small");
    // A new key of 1024 bits: refused, with the flag that makes a larger one.
    let mut small = client(&addr, &home, "sam");
    assert_eq!(small.wait(), 2);
    let err = small.errors();
    assert!(err.contains("this server wants at least 2048 bits"), "{err}");
    assert!(err.contains("Start again with a larger --key-bits (default 2048)"), "{err}");
    assert_eq!(files_under(&home), Vec::<String>::new());
    let mut kept = Proc::start_with(
        &["client", "--server", &addr, "--key-bits", "2048", "--name", "sam"],
        &[("XDG_CONFIG_HOME", home.to_str().unwrap())],
    );
    welcome(&mut kept, "sam");
    kept.type_line("3");
    assert_eq!(kept.wait(), 0);
    assert_eq!(files_under(&home), ["chatroom/identities/sam.pem"]);
}
