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
