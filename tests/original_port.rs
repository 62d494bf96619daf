//! `chatroom-original`, the Python original's design in Rust (the middle column of `make
//! compare`), keeps the original's behaviour: driven by the bench's clients that speak the
//! original's protocol, it relays chat to everyone and sends more frames than it announces.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chatroom::bench::{self, ChatBench, ChatMode, StreamBench};

struct Port(Child);

impl Drop for Port {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The port on a free loopback port, serving `videos`.
fn start_port(videos: &std::path::Path) -> (Port, String) {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatroom-original"))
        .args(["--bind", &addr, "--videos", videos.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Not by connecting to it: as in the original, a connection that closes at once stays
    // listed, and the next broadcast to it ends the thread of whoever joins next.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening on "), "{first}");
    // Its log is read on, as a terminal would: a closed stdout would end the thread that
    // prints next (as Python's print raises).
    std::thread::spawn(move || out.lines().map_while(Result::ok).for_each(drop));
    (Port(child), addr)
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
