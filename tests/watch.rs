//! Watch together (issue 35), on a real server with real clients: a room plays one stream for
//! every member who takes part, each frame reaching them together; any member pauses, plays,
//! seeks or stops it for all; a member can leave it alone and come back; outsiders cannot
//! touch it.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use chatroom::client::link::LinkWriter;
use chatroom::cmd::{self, SeekTo, WatchAction};
use chatroom::config::ServerConfig;
use chatroom::wire::{EndReason, ErrorCode, PlayMode, ServerMsg, WatchEvent};
use common::{TestClient, start_server, videos_dir};
use crossbeam_channel::{Receiver, unbounded};

/// A member whose messages a thread of its own reads as they arrive, each with its time.
struct Member {
    name: String,
    writer: LinkWriter,
    heard: Receiver<(Instant, ServerMsg)>,
}

impl Member {
    fn new(mut client: TestClient) -> Member {
        let (tx, heard) = unbounded();
        let (name, writer) = (client.name.clone(), client.writer.clone());
        thread::spawn(move || {
            while let Some(msg) = client.recv_within(Duration::from_secs(30)) {
                if tx.send((Instant::now(), msg)).is_err() {
                    return;
                }
            }
        });
        Member { name, writer, heard }
    }

    fn ask(&self, room: &str, action: WatchAction) {
        self.writer.send(&cmd::Watch { room: room.into(), action }).unwrap();
    }

    /// Waits for the first message `pred` picks (frames and the rest skipped on the way).
    fn wait_for(&self, what: &str, pred: impl Fn(&ServerMsg) -> bool) -> (Instant, ServerMsg) {
        loop {
            match self.heard.recv_timeout(Duration::from_secs(20)) {
                Ok((at, msg)) if pred(&msg) => return (at, msg),
                Ok(_) => {}
                Err(_) => panic!("{} never heard {what}", self.name),
            }
        }
    }

    /// Waits until each of `preds` has picked a message, in any order (the news comes on the
    /// chat lane, the stream on the video lane: either may be first).
    fn wait_for_each(&self, what: &str, preds: &[&dyn Fn(&ServerMsg) -> bool]) {
        let mut left: Vec<_> = preds.iter().collect();
        while !left.is_empty() {
            match self.heard.recv_timeout(Duration::from_secs(20)) {
                Ok((_, msg)) => left.retain(|pred| !pred(&msg)),
                Err(_) => panic!("{} never heard all of {what}", self.name),
            }
        }
    }

    /// The news `event` of the room's watch.
    fn news(&self, event: &str, pred: impl Fn(&WatchEvent, &str) -> bool) -> u32 {
        let (_, msg) = self.wait_for(
            event,
            |m| matches!(m, ServerMsg::Watch { event, by, .. } if pred(event, by)),
        );
        let ServerMsg::Watch { at_ms, .. } = msg else { unreachable!() };
        at_ms
    }

    /// The frames that arrive within `window`, by index, with when each came.
    fn frames_for(&self, window: Duration) -> Vec<(u32, Instant)> {
        let end = Instant::now() + window;
        let mut frames = Vec::new();
        while let Ok((at, msg)) = self.heard.recv_deadline(end) {
            if let ServerMsg::Frame { index, .. } = msg {
                frames.push((index, at));
            }
        }
        frames
    }
}

/// alice, bob and carol, in `#film`, each read by a thread of its own; the server offers
/// `clip` at 20 fps for 30 s.
fn room_of_three() -> (chatroom::server::Server, [Member; 3]) {
    let server =
        start_server(ServerConfig { videos: videos_dir(20.0, 600), ..ServerConfig::default() });
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut bob = TestClient::join(addr, "bob", 1);
    let mut carol = TestClient::join(addr, "carol", 2);
    alice.seat("#film", &mut [&mut bob, &mut carol]);
    (server, [alice, bob, carol].map(Member::new))
}

/// The largest gap between the members' arrivals of one frame, over the frames all got.
fn spread(members: &[Vec<(u32, Instant)>]) -> Duration {
    let mut worst = Duration::ZERO;
    for (index, _) in &members[0] {
        let times: Vec<Instant> = members
            .iter()
            .filter_map(|frames| frames.iter().find(|(i, _)| i == index).map(|(_, t)| *t))
            .collect();
        if times.len() == members.len() {
            let (min, max) = (times.iter().min().unwrap(), times.iter().max().unwrap());
            worst = worst.max(max.duration_since(*min));
        }
    }
    worst
}

#[test]
fn a_room_plays_one_timeline_in_step_and_any_member_controls_it_for_all() {
    let (_server, members) = room_of_three();
    let [alice, bob, carol] = &members;
    let start = WatchAction::Start { video: "clip".into(), mode: PlayMode::Fixed("144p".into()) };
    alice.ask("#film", start);
    let started = |m: &ServerMsg| {
        let clip = WatchEvent::Started { video: "clip".into() };
        matches!(m, ServerMsg::Watch { event, by, .. } if *event == clip && by == "alice")
    };
    let streaming = |m: &ServerMsg| matches!(m, ServerMsg::StreamStart { .. });
    // alice takes part as she starts it; told, bob and carol do (their clients do it).
    alice.wait_for_each("the start and the stream", &[&started, &streaming]);
    for m in [bob, carol] {
        m.wait_for("the start", started);
        m.ask("#film", WatchAction::Attach);
        m.wait_for("the stream's start", streaming);
    }
    let seen: Vec<Vec<(u32, Instant)>> = thread::scope(|s| {
        let readers: Vec<_> =
            members.iter().map(|m| s.spawn(|| m.frames_for(Duration::from_secs(2)))).collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(
        seen.iter().all(|f| f.len() >= 20),
        "{:?}",
        seen.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let worst = spread(&seen);
    assert!(worst < Duration::from_millis(100), "a frame reached the members {worst:?} apart");

    // bob pauses: everyone is told, and the frames stop for everyone.
    bob.ask("#film", WatchAction::Pause);
    for m in &members {
        m.news("the pause", |e, by| *e == WatchEvent::Paused && by == "bob");
    }
    thread::sleep(Duration::from_millis(300));
    for m in &members {
        let during = m.frames_for(Duration::from_millis(700));
        assert!(during.is_empty(), "{} got {} frames while paused", m.name, during.len());
    }
    // carol plays it on, from where it paused.
    carol.ask("#film", WatchAction::Play);
    let at = alice.news("the play", |e, by| *e == WatchEvent::Playing && by == "carol");
    let next = alice.frames_for(Duration::from_millis(500));
    let resumed = next.first().expect("frames again").0;
    assert!(
        (resumed as i64 - (at as i64 * 20 / 1000)).abs() <= 2,
        "resumed at {resumed}, paused at {at} ms"
    );
    // alice seeks to 20 s: the frames jump there, for everyone.
    alice.ask("#film", WatchAction::Seek(SeekTo::Millis(20_000)));
    for m in &members {
        assert_eq!(m.news("the seek", |e, by| *e == WatchEvent::Seeked && by == "alice"), 20_000);
        let after = m.frames_for(Duration::from_millis(500));
        assert!(after.last().is_some_and(|(i, _)| *i >= 400), "{}: {after:?}", m.name);
    }
    // bob stops it: everyone's stream ends, stopped.
    bob.ask("#film", WatchAction::Stop);
    for m in &members {
        m.news("the stop", |e, by| *e == WatchEvent::Stopped && by == "bob");
        m.wait_for("the end", |msg| {
            matches!(msg, ServerMsg::StreamEnd { reason: EndReason::Stopped, .. })
        });
    }
}

#[test]
fn a_member_leaves_the_watch_alone_and_comes_back_and_outsiders_cannot_touch_it() {
    let (server, members) = room_of_three();
    let [alice, bob, carol] = &members;
    alice.ask("#film", WatchAction::Start { video: "clip".into(), mode: PlayMode::Split });
    bob.news("the start", |e, _| matches!(e, WatchEvent::Started { .. }));
    bob.ask("#film", WatchAction::Attach);
    bob.wait_for("the stream's start", |msg| matches!(msg, ServerMsg::StreamStart { .. }));
    // A second watch in the room is refused while one plays.
    carol.ask("#film", WatchAction::Start { video: "clip".into(), mode: PlayMode::Split });
    carol.wait_for("the refusal", |m| matches!(m, ServerMsg::Error { code: ErrorCode::Unexpected, text } if text.contains("watching already")));
    // bob leaves it alone: his stream ends; alice's goes on.
    bob.ask("#film", WatchAction::Detach);
    bob.wait_for("his end", |msg| {
        matches!(msg, ServerMsg::StreamEnd { reason: EndReason::Stopped, .. })
    });
    assert!(bob.frames_for(Duration::from_millis(600)).is_empty());
    let going = alice.frames_for(Duration::from_millis(600));
    assert!(going.len() >= 5, "alice's frames stopped with bob's");
    // He comes back: from the room's current frame, not the start.
    bob.ask("#film", WatchAction::Attach);
    bob.wait_for("a new start", |msg| matches!(msg, ServerMsg::StreamStart { .. }));
    let first = bob.frames_for(Duration::from_millis(500)).first().expect("frames").0;
    assert!(first >= going.last().unwrap().0, "bob came back at frame {first}");
    // A member coming online hears what plays, and where, to take part.
    let again = Member::new(TestClient::join(server.local_addr(), "carol", 2));
    let at_ms = again.news("the watch going on", |e, by| {
        matches!(e, WatchEvent::Started { video } if video == "clip") && by == "alice"
    });
    assert!(at_ms > 0, "the news says where the video is");
    // Someone outside the room can neither control nor watch it.
    let eve = Member::new(TestClient::join(server.local_addr(), "eve", 3));
    for action in [WatchAction::Pause, WatchAction::Attach, WatchAction::Stop] {
        eve.ask("#film", action);
        eve.wait_for("a refusal", |m| {
            matches!(m, ServerMsg::Error { code: ErrorCode::NotInRoom, .. })
        });
    }
    assert!(alice.frames_for(Duration::from_millis(300)).len() >= 2, "eve stopped it");
}

/// Two terminal clients (piped) watch together: the commands, and what each prints.
#[test]
fn two_clients_watch_together_and_each_prints_what_the_others_do() {
    use common::proc::Proc;
    let server =
        start_server(ServerConfig { videos: videos_dir(20.0, 400), ..ServerConfig::default() });
    let addr = server.local_addr().to_string();
    let mut alice = Proc::client(&addr, &["--name", "alice", "--headless"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut bob = Proc::client(&addr, &["--name", "bob", "--headless"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("/join #film");
    alice.expect_line("Joined #film (members: alice)");
    alice.type_line("/invite #film bob");
    bob.expect_line("alice invited you to #film: /join #film to accept");
    bob.type_line("/join #film");
    bob.expect_line("Joined #film (members: alice, bob)");
    alice.type_line("/watch #film clip 144p");
    // The news and the player's lines come from two threads: in either order.
    let started = |l: &str| l == "[#film] alice started clip";
    let playing = |l: &str| l.starts_with("Playing clip: 400 frames at 20.0 fps");
    for p in [&mut alice, &mut bob] {
        expect_both(p, &started, &playing);
    }
    bob.type_line("/pause #film");
    for p in [&mut alice, &mut bob] {
        p.expect("the pause", |l| l.starts_with("[#film] bob paused at 0:0"));
    }
    alice.type_line("/play #film");
    for p in [&mut alice, &mut bob] {
        p.expect("the play", |l| l.starts_with("[#film] alice resumed at 0:0"));
    }
    alice.type_line("/seek #film 0:15");
    for p in [&mut alice, &mut bob] {
        p.expect_line("[#film] alice moved to 0:15");
    }
    // Chat goes on as it plays.
    bob.type_line("/msg #film popcorn?");
    alice.expect_line("[#film] bob: popcorn?");
    // bob leaves it alone (4 at the menu, as for a stream of his own): alice's plays on.
    bob.type_line("4");
    bob.expect_line("Stream stopped.");
    bob.expect("bob's summary", |l| l.starts_with("Stream ended: "));
    alice.type_line("/watch #film stop");
    let stopped = |l: &str| l.starts_with("[#film] alice stopped the video at 0:1");
    expect_both(&mut alice, &stopped, &|l: &str| l == "Stream stopped.");
    bob.expect("the stop", stopped);
    for p in [&mut alice, &mut bob] {
        p.type_line("3");
        assert_eq!(p.wait(), 0);
    }
}

/// alice (read by a thread of her own) and bob (not read), in `room`; `clip` at 20 fps.
fn alice_and_bob(room: &str) -> (chatroom::server::Server, Member, TestClient) {
    let server =
        start_server(ServerConfig { videos: videos_dir(20.0, 600), ..ServerConfig::default() });
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut bob = TestClient::join(addr, "bob", 1);
    alice.seat(room, &mut [&mut bob]);
    (server, Member::new(alice), bob)
}

/// A member who stops reading misses frames, and is told; the others are not held back.
#[test]
fn a_member_that_stops_reading_holds_nobody_back() {
    let (server, alice, bob) = alice_and_bob("#film");
    let addr = server.local_addr();
    bob.quit();
    alice.ask(
        "#film",
        WatchAction::Start { video: "clip".into(), mode: PlayMode::Fixed("360p".into()) },
    );
    alice.wait_for("the stream's start", |msg| matches!(msg, ServerMsg::StreamStart { .. }));
    // bob takes part, then reads nothing for a while.
    let mut bob = common::RawClient::connect(addr);
    bob.hello();
    bob.send_msg(&bob.join_msg("bob", &common::identity(1)));
    bob.send_msg(&cmd::Watch { room: "#film".into(), action: WatchAction::Attach });
    // 20 frames a second for alice all the same.
    let frames = alice.frames_for(Duration::from_secs(3));
    assert!(frames.len() >= 50, "alice got {} frames in 3 s", frames.len());
    // bob, reading again, hears that he fell behind.
    let deadline = Instant::now() + Duration::from_secs(10);
    let behind = loop {
        assert!(Instant::now() < deadline, "bob was never told he fell behind");
        if let Some(ServerMsg::Watch { event: WatchEvent::Behind { missed }, .. }) = bob.recv() {
            break missed;
        }
    };
    assert!(behind > 0);
}

/// Waits until `a` and `b` have each picked a line, in either order.
fn expect_both(p: &mut common::proc::Proc, a: &dyn Fn(&str) -> bool, b: &dyn Fn(&str) -> bool) {
    let (mut saw_a, mut saw_b) = (false, false);
    while !(saw_a && saw_b) {
        let line = p.expect("both lines", |l| (!saw_a && a(l)) || (!saw_b && b(l)));
        if !saw_a && a(&line) {
            saw_a = true;
        } else {
            saw_b = true;
        }
    }
}

/// `auto`: each member's resolution follows its own link. alice reads everything and steps
/// up; bob, who reads nothing, stays at the lowest and does not hold her back.
#[test]
fn an_auto_watch_follows_each_members_link() {
    let (_server, alice, bob) = alice_and_bob("#film");
    alice.ask("#film", WatchAction::Start { video: "clip".into(), mode: PlayMode::Auto });
    let (_, start) =
        alice.wait_for("the stream's start", |m| matches!(m, ServerMsg::StreamStart { .. }));
    let ServerMsg::StreamStart { plan, .. } = start else { unreachable!() };
    let labels: Vec<&str> = plan.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["144p", "240p", "360p"]);
    bob.writer.send(&cmd::Watch { room: "#film".into(), action: WatchAction::Attach }).unwrap();
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(4);
    while let Ok((_, msg)) = alice.heard.recv_deadline(end) {
        if let ServerMsg::Frame { label, .. } = msg {
            seen.push(label);
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("144p"), "starts at the lowest");
    assert!(seen.iter().any(|l| l != "144p"), "alice never stepped up: {seen:?}");
    assert!(seen.len() >= 60, "alice got {} frames in 4 s", seen.len());
    drop(bob);
}

/// A server stopping ends its watches and waits for their threads, without waiting for the
/// video to end. (The members are told the server is shutting down, and cut, first.)
#[test]
fn a_stopping_server_ends_its_watches() {
    let (server, alice, bob) = alice_and_bob("#closing");
    alice.ask("#closing", WatchAction::Start { video: "clip".into(), mode: PlayMode::Split });
    alice.wait_for("the stream's start", |m| matches!(m, ServerMsg::StreamStart { .. }));
    assert!(!alice.frames_for(Duration::from_millis(500)).is_empty());
    let began = Instant::now();
    server.shutdown();
    assert!(began.elapsed() < Duration::from_secs(5), "the shutdown waited {:?}", began.elapsed());
    // Its thread is gone when the shutdown returns (the video had 29 s to go). (A room name
    // of its own: the tests run in one process, each thread listed.)
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .collect();
    assert!(!threads.iter().any(|t| t.trim() == "watch-#closing"), "{threads:?}");
    alice.wait_for("the server's word", |m| {
        matches!(m, ServerMsg::Error { code: ErrorCode::ShuttingDown, .. })
    });
    drop(bob);
}
