//! Step 0, the Python original's design in Rust (`chatroom-original`, the middle column of
//! `make compare`), keeps the original's behaviour: driven by the product's bench clients that
//! speak the original's protocol, it relays chat to everyone and sends more frames than it
//! announces. Its client chats with it and streams as the original's client does.

mod harness;

use std::time::Duration;

use chatroom::bench::{self, ChatBench, ChatMode, StreamBench};
use harness::{Client, Server, video, video_dir};

#[test]
fn the_port_keeps_the_originals_design_and_its_extra_frames() {
    let videos = video_dir("port");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240)), ("360p", (640, 360))] {
        video(&videos, "clip", label, size, 31, false);
    }
    let server = Server::start(0, &videos);
    // 31 frames in 3 files: 31 announced, one more sent (the remainder loop's frame 0 again,
    // and each segment one longer until the last file runs out): 32.
    let stream = StreamBench { server: server.addr.clone(), clients: 1, video: "clip".into() };
    let report = bench::original::stream(&stream).unwrap();
    assert_eq!((report.announced, report.frames, report.errors), (31, 32, 0), "{report:?}");
    let chat = bench::original::chat(&ChatBench {
        server: server.addr.clone(),
        clients: 4,
        messages: 20,
        senders: 2,
        mode: ChatMode::Relay,
        rate: 0,
        key_bits: 1024,
        wait: Duration::from_secs(2),
        hold: Duration::ZERO,
    })
    .unwrap();
    assert_eq!((chat.sent, chat.delivered, chat.corrupted), (40, 40, 0), "{chat:?}");
}

#[test]
fn the_clients_port_chats_in_pkcs1_v15_through_the_ports_server() {
    let server = Server::start(0, &video_dir("port-chat"));
    let bob = Client::join(0, &server.addr, "bob");
    let mut alice = Client::join(0, &server.addr, "alice");
    bob.proc.wait_for(Duration::from_secs(5), |l| l.contains("[users] someone joined"));
    // Chat: the server broadcasts alice's ciphertext to everyone; only bob's key opens it.
    alice.enter_chat();
    alice.say("bob", "hello from the port");
    assert!(bob.waits_for_chat("alice", "hello from the port", Duration::from_secs(5)));
    let line = bob.proc.wait_for(Duration::ZERO, |l| l.contains("hello from the port"));
    assert_eq!(line.unwrap().trim(), "[message] alice : hello from the port");
}

/// A raw connection joined to step 0's server as the original's client does: the server's key
/// read, the name sent, its `OK` read, the key sent. Returns the connection.
fn raw_join(addr: &str, name: &str, key: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0; 4096];
    let _ = conn.read(&mut buf).unwrap(); // the server's key
    conn.write_all(name.as_bytes()).unwrap();
    assert_eq!(conn.read(&mut buf).unwrap(), 2, "OK");
    conn.write_all(key.as_bytes()).unwrap();
    conn
}

#[test]
fn the_ports_user_list_is_written_as_pythons_json_dumps_in_join_order() {
    use std::io::Read;
    let server = Server::start(0, &video_dir("port-json"));
    let mut zed = raw_join(&server.addr, "zed", "key-z");
    let mut buf = vec![0; 4096];
    let n = zed.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], br#"URIF{"zed": "key-z"}"#);
    let _amy = raw_join(&server.addr, "amy", "key-a");
    let n = zed.read(&mut buf).unwrap();
    // Join order, not sorted; `", "` and `": "`, as json.dumps writes a dict.
    assert_eq!(&buf[..n], br#"URIF{"zed": "key-z", "amy": "key-a"}"#);
}

#[test]
fn the_ports_help_says_how_to_run_it_and_starts_nothing() {
    for bin in
        [env!("CARGO_BIN_EXE_chatroom-original"), env!("CARGO_BIN_EXE_chatroom-original-client")]
    {
        let out = std::process::Command::new(bin).arg("--help").output().unwrap();
        assert!(out.status.success(), "{bin}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("usage: chatroom-original"));
        let bad = std::process::Command::new(bin).arg("--bogus").output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{bin}: {bad:?}");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown flag --bogus"));
    }
}
