//! `chatroom-original`, the Python original's design in Rust (the middle column of `make
//! compare`), keeps the original's behaviour: driven by the bench's clients that speak the
//! original's protocol, it relays chat to everyone and sends more frames than it announces.

mod common;

use std::time::Duration;

use chatroom::bench::{self, ChatBench, ChatMode, StreamBench};
use common::proc::Proc;

/// The port on a free loopback port, serving `videos`. `Proc` reads its log on, as a terminal
/// would: a closed stdout would end the thread that prints next (as Python's print raises).
fn start_port(videos: &std::path::Path) -> (Proc, String) {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let args = ["--bind", &addr, "--videos", videos.to_str().unwrap()];
    let mut port = Proc::start_command(env!("CARGO_BIN_EXE_chatroom-original"), &args, &[]);
    // Ready when it says so, not by connecting to it: as in the original, a connection that
    // closes at once stays listed, and the next broadcast to it ends the thread of whoever
    // joins next.
    port.expect("the listening line", |l| l.starts_with("listening on "));
    (port, addr)
}

#[test]
fn the_port_keeps_the_originals_design_and_its_extra_frames() {
    let videos = common::temp_dir("port");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240)), ("360p", (640, 360))] {
        common::write_video(&videos, "clip", label, size, 25.0, 31);
    }
    let (_port, addr) = start_port(&videos);
    // 31 frames in 3 files: 31 announced, one more sent (the remainder loop's frame 0 again,
    // and each segment one longer until the last file runs out): 32.
    let report = bench::original::stream(&StreamBench {
        server: addr.clone(),
        clients: 1,
        video: "clip".into(),
    })
    .unwrap();
    assert_eq!((report.announced, report.frames, report.errors), (31, 32, 0), "{report:?}");
    let chat = bench::original::chat(&ChatBench {
        server: addr,
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

/// `chatroom-original-client` joined to `addr` as `name`, headless.
fn port_client(addr: &str, name: &str) -> Proc {
    let args = ["--server", addr, "--headless"];
    let mut client =
        Proc::start_command(env!("CARGO_BIN_EXE_chatroom-original-client"), &args, &[]);
    client.type_line(name);
    client
}

#[test]
fn the_clients_port_chats_in_pkcs1_v15_and_streams_as_the_original_client() {
    let videos = common::temp_dir("port-client");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240))] {
        common::write_video(&videos, "clip", label, size, 25.0, 9);
    }
    let (_port, addr) = start_port(&videos);
    let mut bob = port_client(&addr, "bob");
    bob.expect("bob's menu", |l| l.contains("Home: pick a service."));
    let mut alice = port_client(&addr, "alice");
    alice.expect("alice's menu", |l| l.contains("Home: pick a service."));
    bob.expect("alice in bob's list", |l| l.contains("[users] someone joined"));
    // Chat: the server broadcasts alice's ciphertext to everyone; only bob's key opens it.
    alice.type_line("1");
    alice.expect("the user list", |l| l == "bob");
    alice.type_line("bob");
    alice.type_line("hello from the port");
    bob.expect("the message", |l| l.contains("[message] alice : hello from the port"));
    alice.type_line("QUIT");
    alice.expect("the menu again", |l| l.contains("Home: pick a service."));
    // Stream: the list, a number, then as many frames as announced (9; the port's server
    // sends one more), and the receiving thread ends with the stream, as in the original.
    bob.type_line("2");
    bob.expect("the video list", |l| l.contains("1. clip"));
    bob.type_line("1");
    bob.expect("the end of the stream", |l| l.contains("The stream is over."));
    let frames = bob.seen.iter().filter(|l| l.contains("frame ") && l.contains(" bytes")).count();
    assert_eq!(frames, 9, "{:?}", bob.seen);
    // A message for bob now reaches his socket, but nothing reads it any more.
    alice.type_line("1");
    alice.type_line("bob");
    alice.type_line("after the stream");
    alice.type_line("QUIT");
    alice.expect("the menu again", |l| l.contains("Home: pick a service."));
    std::thread::sleep(Duration::from_millis(300));
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);
    assert!(!bob.rest().iter().any(|l| l.contains("after the stream")));
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
}

#[test]
fn no_file_of_the_product_uses_pkcs1_v15() {
    // The `rsa` crate's `pkcs1v15` feature is on for the port of the original's client alone.
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("bin/chatroom-original-client.rs")
                && std::fs::read_to_string(&path).unwrap().contains("Pkcs1v15")
            {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    assert!(found.is_empty(), "PKCS#1 v1.5 in the product: {found:?}");
    let port = include_str!("../src/bin/chatroom-original-client.rs");
    assert!(port.contains("Pkcs1v15Encrypt"), "the walk looks for the right name");
}
