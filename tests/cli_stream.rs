//! Streams through the real binary: a headless client saving frames, `q` and `4` to stop, a
//! stream cut by a lost server, videos asked for by any spelling, the README's transcript.

mod common;

use common::proc::{Proc, server};

use std::time::{Duration, Instant};

#[test]
fn a_headless_client_streams_and_saves_every_frame_by_index_and_label() {
    use chatroom::video::{demo::read_demo_index, opencv::decode_jpeg};
    use opencv::prelude::*;
    let videos = common::videos_dir(25.0, 31);
    let (_server, addr) = server(&["--videos", videos.to_str().unwrap(), "--no-pace"]);
    let frames = common::temp_dir("saved");
    let mut alice = Proc::client(&addr, &["--headless", "--save-frames", frames.to_str().unwrap()]);
    // Stream the video twice (the second at one resolution), then quit. A stream plays in the
    // background with the menu back at once, so the script waits for each to end.
    alice.type_line("alice\n2\n1");
    alice.expect("the first summary", |l| l.starts_with("Stream ended: "));
    alice.type_line("2\nclip 360p");
    alice.expect("the second summary", |l| l.starts_with("Stream ended: "));
    alice.type_line("3");
    drop(alice.stdin.take());
    assert_eq!(alice.wait(), 0);
    let out = alice.rest();
    assert!(
        out.iter().any(|l| l == "  1. clip  [144p, 240p, 360p]  31 frames, 1.2 s at 25 fps"),
        "{out:?}"
    );
    let summaries: Vec<&String> = out.iter().filter(|l| l.starts_with("Stream ended: ")).collect();
    assert_eq!(
        summaries,
        [
            "Stream ended: 31 frames (144p: 11, 240p: 10, 360p: 10)",
            "Stream ended: 31 frames (360p: 31)"
        ]
    );
    // The second stream's frames are not mixed with the first's: those were moved aside.
    let aside = std::path::PathBuf::from(format!("{}.1", frames.canonicalize().unwrap().display()));
    let moved = format!(
        "Moved 31 frames of an earlier stream from {} to {}.",
        frames.display(),
        aside.display()
    );
    assert!(out.contains(&moved), "{out:?}");

    let names = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let split = |i: u32| match i {
        0..11 => "144p",
        11..21 => "240p",
        _ => "360p",
    };
    let first: Vec<String> = (0..31u32).map(|i| format!("{i:06}_{}.jpg", split(i))).collect();
    let second: Vec<String> = (0..31u32).map(|i| format!("{i:06}_360p.jpg")).collect();
    assert_eq!(names(&aside), first);
    assert_eq!(names(&frames), second);
    for (dir, name) in first.iter().map(|n| (&aside, n)).chain(second.iter().map(|n| (&frames, n)))
    {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let image = decode_jpeg(&bytes).unwrap();
        let index: u32 = name[..6].parse().unwrap();
        let height: i32 = name[7..name.len() - 5].parse().unwrap();
        assert_eq!(image.rows(), height, "{name}");
        assert_eq!(read_demo_index(&image).unwrap(), index, "{name}");
    }
}

/// A server process with a 10 s paced video; bob at the menu; alice, headless, starting it.
fn bob_and_alice_streaming() -> (Proc, Proc, Proc) {
    let videos = common::videos_dir(10.0, 100);
    let (server, addr) = server(&["--videos", videos.to_str().unwrap()]);
    let mut bob = Proc::client(&addr, &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut alice = Proc::client(&addr, &["--name", "alice", "--headless"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("2");
    alice.expect("the video list", |l| l.starts_with("  1. clip"));
    alice.type_line("1");
    (server, bob, alice)
}

#[test]
fn q_and_enter_stops_a_headless_stream_and_chat_prints_meanwhile() {
    let (_server, mut bob, mut alice) = bob_and_alice_streaming();
    alice.expect_line("Type q and Enter to stop.");
    alice.expect("a progress line", |l| l.starts_with("Streaming clip: "));
    bob.type_line("1\nalice\nwhile you watch");
    alice.expect_line("[CHAT] bob: while you watch");
    let before = alice.seen.len();
    alice.type_line("q");
    alice.expect_line("Stream stopped.");
    // No menu offering to stop what is being stopped.
    let between = &alice.seen[before..];
    assert!(!between.iter().any(|l| l.ends_with("4. STOP")), "{between:?}");
    let summary = alice.expect("the summary", |l| l.starts_with("Stream ended: "));
    let total: u32 = summary["Stream ended: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(total > 0 && total < 100, "{summary}");
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // A second stream in the same session.
    alice.type_line("2\n1 144p");
    alice.expect_line("Type q and Enter to stop.");
    alice.type_line("q");
    alice
        .expect("the second summary", |l| l.starts_with("Stream ended: ") && l.contains("(144p: "));
}

#[test]
fn losing_the_server_mid_stream_prints_disconnected_last_and_exits_1_at_once() {
    // A paced stream of 20 s, then the server dies (SIGKILL: no goodbye).
    let videos = common::videos_dir(10.0, 200);
    let (mut server, addr) = server(&["--videos", videos.to_str().unwrap()]);
    let mut bob = Proc::client(&addr, &["--name", "bob", "--headless"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    bob.type_line("2");
    bob.type_line("1");
    bob.expect("a progress line", |l| l.starts_with("Streaming clip: "));
    server.child.kill().unwrap();
    let killed = Instant::now();
    bob.expect_line("Disconnected from server");
    assert_eq!(bob.wait(), 1);
    assert!(killed.elapsed() < Duration::from_secs(2), "exit took {:?}", killed.elapsed());
    // Nothing after it: no summary, no menu.
    let out = bob.rest();
    let last = out.iter().rposition(|l| l == "Disconnected from server").unwrap();
    assert_eq!(&out[last + 1..], &[] as &[String], "{out:?}");
}

#[test]
fn the_end_of_input_while_a_stream_plays_stops_it_and_quits() {
    // A paced stream of 20 s; stdin closes (Ctrl-D, or a script's end) a moment in.
    let videos = common::videos_dir(10.0, 200);
    let (_server, addr) = server(&["--videos", videos.to_str().unwrap()]);
    let mut bob = Proc::client(&addr, &["--name", "bob", "--headless"]);
    bob.type_line("2\n1");
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT  4. STOP");
    bob.expect("a progress line", |l| l.starts_with("Streaming clip: "));
    let closed = Instant::now();
    drop(bob.stdin.take());
    bob.expect_line("Stream stopped.");
    bob.expect("the summary", |l| l.starts_with("Stream ended: "));
    assert_eq!(bob.wait(), 0);
    assert!(closed.elapsed() < Duration::from_secs(5), "quit took {:?}", closed.elapsed());
}

#[test]
fn a_stream_cut_by_a_lost_connection_ends_and_is_forgotten_when_the_client_reconnects() {
    // A paced stream of 20 s; the server dies a second in, and comes back on the same address.
    let videos = common::videos_dir(10.0, 200);
    let videos = videos.to_str().unwrap();
    let (mut server, addr) = server(&["--videos", videos]);
    let mut bob = Proc::client(&addr, &["--name", "bob", "--headless", "--reconnect"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    bob.type_line("2");
    bob.type_line("1");
    bob.expect("a progress line", |l| l.starts_with("Streaming clip: "));
    server.child.kill().unwrap();
    server.wait();
    // The stream is over: said, summed up, and the plain menu is back. (It used to stay
    // "playing": `4. STOP` on offer, and `4` asked the new server to stop nothing.)
    bob.expect_line("The connection to the server was lost: the stream ended.");
    bob.expect("the summary", |l| l.starts_with("Stream ended: ") && l.contains("(144p: "));
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut server = Proc::start(&[
        "server",
        "--bind",
        &addr,
        "--videos",
        videos,
        "--db",
        ":memory:",
        "--min-key-bits",
        "1024",
    ]);
    server.expect("the listening line", |l| l.starts_with("Server listening on "));
    bob.expect_line("[RECONNECTED]");
    bob.type_line("4");
    bob.expect_line("No stream is playing.");
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);
}

#[test]
fn a_stream_plays_in_the_background_while_the_user_chats_and_4_stops_it() {
    let (_server, mut bob, mut alice) = bob_and_alice_streaming();
    // Back at the menu at once, with STOP on offer; alice chats while her stream plays.
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT  4. STOP");
    alice.type_line("1\nbob\nwatching now\nQUIT");
    bob.expect_line("[CHAT] alice: watching now");
    alice.expect("a progress line", |l| l.starts_with("Streaming clip: "));
    // 2 replaces the stream: the first ends as stopped, the second starts.
    alice.type_line("2\n1 144p");
    alice.expect_line("Stream stopped.");
    alice.expect("the first summary", |l| l.starts_with("Stream ended: "));
    alice.expect("the second stream", |l| {
        l.starts_with("Playing clip: ") && l.contains("(144p: 100)")
    });
    // 4 stops it, and the plain menu comes back.
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT  4. STOP");
    alice.type_line("4");
    alice.expect_line("Stream stopped.");
    alice
        .expect("the second summary", |l| l.starts_with("Stream ended: ") && l.contains("(144p: "));
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
}

#[test]
fn a_video_is_asked_for_in_any_case_with_or_without_its_p_or_auto_and_a_misnamed_file_is_logged() {
    let videos = common::videos_dir(25.0, 31);
    std::fs::copy(videos.join("clip_144p.mp4"), videos.join("noresolution.mp4")).unwrap();
    let (server, addr) = server(&["--videos", videos.to_str().unwrap(), "--no-pace"]);
    let mut alice = Proc::client(&addr, &["--name", "alice", "--headless"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("2");
    alice.expect("the video list", |l| l.starts_with("  1. clip"));
    alice.type_line("CLIP 240");
    alice.expect_line("Stream ended: 31 frames (240p: 31)");
    // `auto`: every resolution offered, the summary says how many frames each played.
    alice.type_line("2");
    alice.type_line("clip auto");
    alice.expect_line("Playing clip: 31 frames at 25.0 fps (auto: 144p, 240p, 360p)");
    let summary = alice.expect("the summary", |l| l.starts_with("Stream ended: 31 frames (144p: "));
    assert!(summary.contains(", 240p: ") && summary.contains(", 360p: "), "{summary}");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
    // The server said why it does not list `noresolution.mp4`.
    let log = server.errors();
    assert!(
        log.contains("noresolution.mp4: not named NAME_RESOLUTION.mp4 (like demo_360p.mp4)"),
        "{log}"
    );
}

/// The README's stream transcript ("Videos", the block after "Playing") is what a client
/// prints for the videos shipped in `videos/`, line for line; only the stop hint differs,
/// since this client is headless and the README's shows a window.
#[test]
fn the_readmes_stream_transcript_is_what_a_client_prints_for_the_shipped_videos() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block: Vec<&str> = readme
        .split("```text\n")
        .find(|b| b.contains("\nVideos:\n"))
        .and_then(|b| b.split("```").next())
        .expect("the README's stream transcript")
        .lines()
        .collect();
    let videos = concat!(env!("CARGO_MANIFEST_DIR"), "/videos");
    let (_server, addr) = server(&["--videos", videos, "--no-pace"]);
    let mut alice = Proc::client(&addr, &["--headless"]);
    alice.type_line("alice\n2\n1");
    alice.expect("the summary", |l| l.starts_with("Stream ended: "));
    alice.type_line("3");
    drop(alice.stdin.take());
    assert_eq!(alice.wait(), 0);
    let out = alice.rest();
    // The README's lines, less what the user typed (a piped client does not echo it).
    let shown: Vec<String> = block
        .iter()
        .filter(|l| !matches!(**l, "1" | "2"))
        .map(|l| l.replace("Press q in the video window to stop.", "Type q and Enter to stop."))
        .collect();
    let start = out.iter().position(|l| l.ends_with("Videos:")).expect("the list");
    let printed: Vec<&str> = out[start - 1..].iter().map(|l| l.as_str()).collect();
    assert_eq!(printed[..shown.len()], shown, "README.md's stream transcript");
}
