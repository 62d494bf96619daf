//! The benchmarks report correct counts (their speed is measured, not asserted: see
//! docs/BENCHMARKS.md).

mod common;

use chatroom::bench::{self, ChatBench, ChatMode, StreamBench};
use chatroom::config::ServerConfig;

#[test]
fn bench_chat_counts_every_message_in_both_modes() {
    let server = common::start_server(ServerConfig::default().with_chat_rate(0));
    // Flooding and paced (5000 a second: the pacing sleeps only every few messages).
    for (mode, rate) in [(ChatMode::Relay, 0), (ChatMode::EndToEnd, 0), (ChatMode::Relay, 5000)] {
        let report = bench::chat::run(&ChatBench {
            server: server.local_addr().to_string(),
            clients: 6,
            messages: 40,
            senders: 3,
            mode,
            rate,
            key_bits: 1024,
            wait: std::time::Duration::from_secs(1),
            hold: std::time::Duration::ZERO,
        })
        .unwrap();
        assert_eq!(
            (report.sent, report.delivered, report.lost, report.corrupted, report.errors),
            (120, 120, 0, 0, 0),
            "{mode:?}"
        );
        assert!(report.p50_ms <= report.p99_ms);
        assert!(report.json().contains("\"delivered\":120"));
    }
    server.shutdown();
}

#[test]
fn a_flood_past_every_mailbox_share_is_delivered_whole_none_refused() {
    // Four clients each send 600 messages to the three others, 200 each: twice what a mailbox
    // holds from one sender. The senders wait for room (flow control), nobody is refused.
    // (With no patience, refusals: checked when this test was written.)
    let server = common::start_server(ServerConfig::default().with_chat_rate(0));
    let report = bench::chat::run(&ChatBench {
        server: server.local_addr().to_string(),
        clients: 4,
        messages: 600,
        senders: 4,
        mode: ChatMode::Relay,
        rate: 0,
        key_bits: 1024,
        wait: std::time::Duration::from_secs(5),
        hold: std::time::Duration::ZERO,
    })
    .unwrap();
    assert_eq!(
        (report.sent, report.delivered, report.refused, report.lost, report.duplicated),
        (2400, 2400, 0, 0, 0),
        "{report:?}"
    );
    server.shutdown();
}

#[test]
fn bench_chat_reports_what_was_lost() {
    // With the server's rate limit on, a flood loses messages, and the bench says so.
    let server = common::start_server(ServerConfig {
        chat_rate: 10,
        chat_burst: 10,
        ..ServerConfig::default()
    });
    let report = bench::chat::run(&ChatBench {
        server: server.local_addr().to_string(),
        clients: 2,
        messages: 15,
        senders: 1,
        mode: ChatMode::Relay,
        rate: 0,
        key_bits: 1024,
        wait: std::time::Duration::from_secs(1),
        hold: std::time::Duration::ZERO,
    })
    .unwrap();
    assert_eq!(report.sent, 15);
    assert!(report.lost >= 1 && report.delivered + report.lost == 15, "{report:?}");
    server.shutdown();
}

#[test]
fn bench_stream_counts_every_frame() {
    let dir = common::temp_dir("bench");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240))] {
        common::write_video(&dir, "clip", label, size, 25.0, 21);
    }
    let server =
        common::start_server(ServerConfig { videos: dir, pace: false, ..ServerConfig::default() });
    let report = bench::stream::run(&StreamBench {
        server: server.local_addr().to_string(),
        clients: 3,
        video: "clip".into(),
    })
    .unwrap();
    assert_eq!((report.frames, report.missing, report.errors), (63, 0, 0), "{report:?}");
    assert_eq!(report.per_client_fps.len(), 3);
    assert!(report.bytes > 63 * 1000);
    let report = bench::stream::run(&StreamBench {
        server: server.local_addr().to_string(),
        clients: 1,
        video: "nope".into(),
    })
    .unwrap();
    assert_eq!((report.frames, report.errors), (0, 1));
    server.shutdown();
}

#[test]
fn bench_watch_counts_every_members_frames_and_the_spread() {
    let dir = common::temp_dir("bench-watch");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240))] {
        common::write_video(&dir, "clip", label, size, 25.0, 40);
    }
    let server = common::start_server(ServerConfig { videos: dir, ..ServerConfig::default() });
    let cfg = bench::WatchBench {
        server: server.local_addr().to_string(),
        members: 3,
        video: "clip".into(),
    };
    let report = bench::watch::run(&cfg).unwrap();
    // Paced at 25 fps, nobody misses a frame; the first member attached first, so every
    // member has every frame after the last one attached.
    assert_eq!((report.members, report.frames, report.errors), (3, 40, 0), "{report:?}");
    assert_eq!(report.missed.len(), 3);
    assert_eq!(report.missed[0], 0, "{report:?}");
    assert!(report.frames_all_got >= 30, "{report:?}");
    assert!(report.spread_p50_ms <= report.spread_p99_ms);
    // The pause halfway reached every member (each one's time from the ask is counted).
    assert!(report.control_max_ms > 0.0 && report.control_p50_ms <= report.control_max_ms);
    assert!(report.text().contains("missed, by member: 0 "), "{}", report.text());
    server.shutdown();
}

#[test]
fn bench_decode_decodes_exactly_the_frames_a_split_stream_sends() {
    // 23 frames in two files: 12 from the first (the remainder goes to it), 11 from the
    // second, starting at its frame 12 (a seek), each run.
    let dir = common::temp_dir("bench-decode");
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240))] {
        common::write_video(&dir, "clip", label, size, 25.0, 23);
    }
    let cfg = bench::DecodeBench { videos: dir.clone(), video: "clip".into(), runs: 2 };
    let report = bench::decode::run(&cfg).unwrap();
    assert_eq!((report.frames, report.runs_fps.len()), (23, 2), "{report:?}");
    let unknown = bench::DecodeBench { video: "nope".into(), ..cfg };
    assert!(bench::decode::run(&unknown).unwrap_err().to_string().contains("no video nope"));
}

#[test]
fn bench_room_counts_every_envelope_and_what_the_budget_refused() {
    let cfg = |server: &chatroom::server::Server| ChatBench {
        server: server.local_addr().to_string(),
        clients: 0,
        messages: 30,
        senders: 1,
        mode: ChatMode::EndToEnd,
        rate: 0,
        key_bits: 1024,
        wait: std::time::Duration::from_secs(1),
        hold: std::time::Duration::ZERO,
    };
    let server = common::start_server(ServerConfig::default().with_chat_rate(0));
    let report = bench::room::run(&cfg(&server), 5).unwrap();
    assert_eq!(
        (report.members, report.expected, report.delivered, report.lost, report.corrupted),
        (5, 120, 120, 0, 0),
        "{report:?}"
    );
    assert!(report.seal_ms_per_member_p50 > 0.0);
    assert!(report.json().contains("\"delivered\":120"));
    server.shutdown();
    // A room message costs one message of budget a member: 100 a second and a burst of 100
    // let about 100 / 4 messages of a room of 5 through at once; the rest are refused.
    let server = common::start_server(ServerConfig::default().with_chat_rate(100));
    let report = bench::room::run(&cfg(&server), 5).unwrap();
    assert!(report.errors > 0 && report.delivered < 120, "{report:?}");
    assert_eq!(report.delivered % 4, 0, "whole messages only: {report:?}");
    server.shutdown();
}
