//! The video half: real video files written with OpenCV into a temp folder, a real server,
//! real clients. Every frame is checked by decoding its JPEG and reading the frame index drawn
//! into it, so "the right frame" means the right picture, not just the right number.

mod common;

use common::*;
use std::time::{Duration, Instant};

use chatroom::cmd;
use chatroom::config::ServerConfig;
use chatroom::video::{self, demo::read_demo_index, opencv::decode_jpeg};
use chatroom::wire::{EndReason, ErrorCode, PlayMode, Segment, ServerMsg};
use opencv::prelude::*;

/// Three resolutions of a 31-frame video (31 is not divisible by 3).
fn three_resolutions(fps: f64, frames: u32) -> std::path::PathBuf {
    let dir = temp_dir("three");
    write_video(&dir, "clip", "144p", (256, 144), fps, frames);
    write_video(&dir, "clip", "240p", (426, 240), fps, frames);
    write_video(&dir, "clip", "360p", (640, 360), fps, frames);
    dir
}

fn server_for(dir: &std::path::Path, pace: bool) -> chatroom::server::Server {
    start_server(ServerConfig { videos: dir.to_owned(), pace, ..ServerConfig::default() })
}

fn height_of(label: &str) -> i32 {
    label.trim_end_matches('p').parse().unwrap()
}

#[test]
fn the_split_plays_every_frame_once_in_order_from_the_planned_resolution() {
    let dir = three_resolutions(25.0, 31);
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Split);
    let got = alice.receive_stream();

    let plan = vec![
        Segment { label: "144p".into(), start: 0, frames: 11 },
        Segment { label: "240p".into(), start: 11, frames: 10 },
        Segment { label: "360p".into(), start: 21, frames: 10 },
    ];
    assert_eq!(
        got.start,
        Some(ServerMsg::StreamStart { video: "clip".into(), frames: 31, fps: 25.0, plan })
    );
    assert_eq!(got.end, Some((31, EndReason::Complete)));
    assert_eq!(got.frames.len(), 31);
    for (t, (index, label, jpeg)) in got.frames.iter().enumerate() {
        assert_eq!(*index, t as u32);
        let expected = if t < 11 {
            "144p"
        } else if t < 21 {
            "240p"
        } else {
            "360p"
        };
        assert_eq!(label, expected, "frame {t}");
        let image = decode_jpeg(jpeg).unwrap();
        assert_eq!(image.rows(), height_of(label), "frame {t}");
        // The picture is the file's frame at position t, even right after a resolution switch.
        assert_eq!(read_demo_index(&image).unwrap(), t as u32, "frame {t} shows the wrong picture");
    }
    server.shutdown();
}

#[test]
fn fixed_mode_plays_one_resolution_throughout() {
    let dir = three_resolutions(25.0, 31);
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Fixed("240p".into()));
    let got = alice.receive_stream();
    assert_eq!(got.end, Some((31, EndReason::Complete)));
    for (t, (index, label, jpeg)) in got.frames.iter().enumerate() {
        assert_eq!((*index, label.as_str()), (t as u32, "240p"));
        let image = decode_jpeg(jpeg).unwrap();
        assert_eq!((image.cols(), image.rows()), (426, 240));
        assert_eq!(read_demo_index(&image).unwrap(), t as u32);
    }
    // A label the video does not have is refused.
    alice.play("clip", PlayMode::Fixed("1080p".into()));
    match alice.recv() {
        ServerMsg::Error { code: ErrorCode::UnknownVideo, text } => {
            assert!(text.contains("1080p"), "{text}")
        }
        other => panic!("expected UnknownVideo, got {other:?}"),
    }
    server.shutdown();
}

#[test]
fn a_stop_ends_the_stream_within_one_frame_interval_plus_100_ms() {
    // 4 fps: one frame every 250 ms, so the bound is 350 ms.
    let dir = three_resolutions(4.0, 40);
    let server = server_for(&dir, true);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Split);
    let mut frames = 0;
    while frames < 3 {
        if let ServerMsg::Frame { .. } = alice.recv() {
            frames += 1;
        }
    }
    let stop_sent = Instant::now();
    alice.writer.send(&cmd::Stop).unwrap();
    loop {
        match alice.recv() {
            ServerMsg::Frame { .. } => frames += 1,
            ServerMsg::StreamEnd { sent, reason } => {
                assert_eq!(reason, EndReason::Stopped);
                assert_eq!(sent, frames);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let took = stop_sent.elapsed();
    assert!(took <= Duration::from_millis(350), "stop took {took:?}");
    assert!(frames < 40);
    // The session goes on: another stream plays.
    alice.play("clip", PlayMode::Fixed("144p".into()));
    assert!(matches!(alice.recv(), ServerMsg::StreamStart { .. }));
    server.shutdown();
}

#[test]
fn a_chat_arrives_while_the_frames_of_a_paced_stream_flow() {
    let dir = three_resolutions(10.0, 30);
    let server = server_for(&dir, true);
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    let mut bob = TestClient::join(addr, "bob", 1);
    bob.wait_joined("alice");
    alice.wait_joined("bob");
    alice.play("clip", PlayMode::Split);
    // Wait for the stream to be under way, then chat.
    let start = alice.recv();
    assert!(matches!(start, ServerMsg::StreamStart { .. }), "{start:?}");
    std::thread::sleep(Duration::from_millis(500));
    bob.send_text("alice", "during the stream");
    let got = alice.receive_stream();
    assert_eq!(got.end, Some((30, EndReason::Complete)));
    assert_eq!(got.frames.len(), 30);
    assert_eq!(got.chats.len(), 1);
    let (from, text, frames_before) = &got.chats[0];
    assert_eq!((from.as_str(), text.as_str()), ("bob", "during the stream"));
    assert!(
        *frames_before > 0 && *frames_before < 30,
        "the chat waited for the stream: {frames_before}"
    );
    server.shutdown();
}

#[test]
fn two_clients_stream_at_once_and_a_second_and_third_stream_work() {
    let dir = three_resolutions(25.0, 31);
    let server = server_for(&dir, false);
    let addr = server.local_addr();
    let handles: Vec<_> = ["alice", "bob"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            std::thread::spawn(move || {
                let mut c = TestClient::join(addr, name, i);
                for mode in [PlayMode::Split, PlayMode::Fixed("360p".into()), PlayMode::Split] {
                    c.play("clip", mode);
                    let got = c.receive_stream();
                    assert_eq!(got.end, Some((31, EndReason::Complete)), "{name}");
                    let indices: Vec<u32> = got.frames.iter().map(|f| f.0).collect();
                    assert_eq!(indices, (0..31).collect::<Vec<_>>(), "{name}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    server.shutdown();
}

#[test]
fn a_new_request_replaces_the_running_stream() {
    let dir = three_resolutions(5.0, 30);
    let server = server_for(&dir, true);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Split);
    assert!(matches!(alice.recv(), ServerMsg::StreamStart { .. }));
    alice.play("clip", PlayMode::Fixed("144p".into()));
    // The first stream ends (stopped) before the second starts: never two at once.
    loop {
        match alice.recv() {
            ServerMsg::Frame { .. } => {}
            ServerMsg::StreamEnd { reason, .. } => {
                assert_eq!(reason, EndReason::Stopped);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    match alice.recv() {
        ServerMsg::StreamStart { plan, .. } => assert_eq!(plan[0].label, "144p"),
        other => panic!("expected the second stream, got {other:?}"),
    }
    server.shutdown();
}

#[test]
fn a_client_killed_mid_stream_leaves_the_server_serving_others() {
    let dir = three_resolutions(25.0, 31);
    let server = server_for(&dir, true);
    let addr = server.local_addr();
    let mut bob = TestClient::join(addr, "bob", 1);
    let mut victim = TestClient::join(addr, "victim", 0);
    victim.play("clip", PlayMode::Split);
    for _ in 0..3 {
        let _ = victim.recv();
    }
    victim.writer.shutdown();
    drop(victim);
    loop {
        match bob.recv() {
            ServerMsg::Left { name } if name == "victim" => break,
            _ => {}
        }
    }
    bob.play("clip", PlayMode::Fixed("144p".into()));
    let got = bob.receive_stream();
    assert_eq!(got.end, Some((31, EndReason::Complete)));
    assert!(eventually(Duration::from_secs(5), || server.registry().connection_count() == 1));
    server.shutdown();
}

#[test]
fn unknown_and_path_like_names_get_errors_and_open_nothing() {
    let dir = three_resolutions(25.0, 5);
    // A real video outside the videos folder, at the path a traversal would reach.
    write_video(dir.parent().unwrap(), "outside", "144p", (256, 144), 25.0, 5);
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    for name in [
        "nope",
        "../outside",
        "../outside_144p.mp4",
        "/etc/passwd",
        "clip/../clip",
        "clip\0",
        "",
        "clip_144p.mp4",
        "CLIP",
    ] {
        alice.play(name, PlayMode::Split);
        match alice.recv() {
            ServerMsg::Error { code: ErrorCode::UnknownVideo, .. } => {}
            other => panic!("{name:?}: expected UnknownVideo, got {other:?}"),
        }
    }
    // The session is fine.
    alice.play("clip", PlayMode::Split);
    assert_eq!(alice.receive_stream().end, Some((5, EndReason::Complete)));
    let _ = std::fs::remove_file(dir.parent().unwrap().join("outside_144p.mp4"));
    server.shutdown();
}

#[test]
fn the_list_skips_broken_files_sorts_heights_as_numbers_and_shows_real_sizes() {
    let dir = temp_dir("catalog");
    write_video(&dir, "my_trip", "72p", (128, 72), 10.0, 12);
    write_video(&dir, "my_trip", "108p", (192, 108), 10.0, 12);
    // Labelled 1080p, really 160x90: listed with its real size, and warned about.
    write_video(&dir, "my_trip", "1080p", (160, 90), 10.0, 12);
    write_video(&dir, "alpha", "144p", (256, 144), 10.0, 8);
    std::fs::write(dir.join("broken_144p.mp4"), b"this is not a video").unwrap();
    std::fs::write(dir.join("empty_144p.mp4"), b"").unwrap();
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    std::fs::write(dir.join("demo.mp4"), b"no label").unwrap();

    let (catalog, warnings) = video::catalog::scan(&dir, common::engine()).unwrap();
    let names: Vec<&str> = catalog.videos.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["alpha", "my_trip"]);
    let labels: Vec<&str> = catalog.videos[1].files.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(labels, ["72p", "108p", "1080p"]);
    assert!(warnings.iter().any(|w| w.contains("broken_144p.mp4")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("empty_144p.mp4")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("1080p") && w.contains("160x90")), "{warnings:?}");
    assert!(!warnings.iter().any(|w| w.contains("notes.txt")));
    assert!(
        warnings.iter().any(|w| w.contains("demo.mp4: not named NAME_RESOLUTION.mp4")),
        "{warnings:?}"
    );

    // The same, through the server: STLI.
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.writer.send(&cmd::ListVideos).unwrap();
    let ServerMsg::VideoList(list) = alice.recv() else { panic!("expected STLI") };
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].name, "my_trip");
    assert_eq!(list[1].frames, 12);
    let real: Vec<(String, u16, u16)> =
        list[1].resolutions.iter().map(|r| (r.label.clone(), r.width, r.height)).collect();
    assert_eq!(
        real,
        [("72p".into(), 128, 72), ("108p".into(), 192, 108), ("1080p".into(), 160, 90)]
    );
    let lines = chatroom::client::menu::video_lines(&list);
    assert_eq!(
        lines[1],
        "  2. my_trip  [72p, 108p, 1080p (really 160x90)]  12 frames, 1.2 s at 10 fps"
    );

    // A video added while the server runs appears in the next list.
    write_video(&dir, "zeta", "144p", (256, 144), 10.0, 4);
    alice.writer.send(&cmd::ListVideos).unwrap();
    let ServerMsg::VideoList(list) = alice.recv() else { panic!("expected STLI") };
    assert_eq!(
        list.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        ["alpha", "my_trip", "zeta"]
    );
    server.shutdown();
}

#[test]
fn resolutions_of_different_lengths_play_the_shortest_timeline() {
    let dir = temp_dir("lengths");
    write_video(&dir, "uneven", "144p", (256, 144), 10.0, 20);
    write_video(&dir, "uneven", "240p", (426, 240), 10.0, 14);
    let (catalog, warnings) = video::catalog::scan(&dir, common::engine()).unwrap();
    assert_eq!(catalog.videos[0].frames, 14);
    assert!(warnings.iter().any(|w| w.contains("different lengths")), "{warnings:?}");
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("uneven", PlayMode::Split);
    let got = alice.receive_stream();
    // Exactly the announced count: the original announced one file's count and sent more.
    assert_eq!(got.end, Some((14, EndReason::Complete)));
    let ServerMsg::StreamStart { frames, .. } = got.start.unwrap() else { unreachable!() };
    assert_eq!(frames, 14);
    for (t, (_, _, jpeg)) in got.frames.iter().enumerate() {
        assert_eq!(read_demo_index(&decode_jpeg(jpeg).unwrap()).unwrap(), t as u32);
    }
    server.shutdown();
}

#[test]
fn parse_video_choice_takes_an_index_or_a_name_and_an_optional_label() {
    use chatroom::client::menu::{VideoChoice, parse_video_choice};
    let dir = three_resolutions(25.0, 3);
    let (catalog, _) = video::catalog::scan(&dir, common::engine()).unwrap();
    let list = catalog.infos();
    let play = |mode| VideoChoice::Play { video: "clip".into(), mode };
    assert_eq!(parse_video_choice("1", &list), play(PlayMode::Split));
    assert_eq!(parse_video_choice(" clip ", &list), play(PlayMode::Split));
    assert_eq!(parse_video_choice("1 360p", &list), play(PlayMode::Fixed("360p".into())));
    assert_eq!(parse_video_choice("quit", &list), VideoChoice::Back);
    // Names ignoring case; a resolution with or without its `p`.
    assert_eq!(parse_video_choice("CLIP 360", &list), play(PlayMode::Fixed("360p".into())));
    assert_eq!(parse_video_choice("Clip 240P", &list), play(PlayMode::Fixed("240p".into())));
    assert_eq!(parse_video_choice("1 auto", &list), play(PlayMode::Auto));
    // A name with spaces in it, alone or with a resolution.
    write_video(&dir, "my clip", "144p", (256, 144), 25.0, 3);
    let (catalog, _) = video::catalog::scan(&dir, common::engine()).unwrap();
    let both = catalog.infos();
    let mine = |mode| VideoChoice::Play { video: "my clip".into(), mode };
    assert_eq!(parse_video_choice("my clip", &both), mine(PlayMode::Split));
    assert_eq!(parse_video_choice("my clip 144p", &both), mine(PlayMode::Fixed("144p".into())));
    assert_eq!(parse_video_choice("2", &both), mine(PlayMode::Split));
    for bad in ["0", "2", "nope", "1 720p", "1 2 3"] {
        assert!(
            matches!(parse_video_choice(bad, &list), VideoChoice::Invalid(why) if !why.is_empty()),
            "{bad}"
        );
    }
}

#[test]
fn a_video_is_matched_by_its_whole_name_not_a_prefix() {
    // The original played every file whose name starts with the request: `clip` would also
    // have taken `clipper`'s files into its plan.
    let dir = three_resolutions(25.0, 6);
    write_video(&dir, "clipper", "720p", (1280, 720), 25.0, 6);
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Split);
    let got = alice.receive_stream();
    let labels: Vec<&str> = got.frames.iter().map(|(_, label, _)| label.as_str()).collect();
    assert_eq!(labels.len(), 6);
    assert!(labels.iter().all(|l| ["144p", "240p", "360p"].contains(l)), "{labels:?}");
    // A prefix of a name is no name.
    alice.play("cli", PlayMode::Split);
    match alice.recv() {
        ServerMsg::Error { code: ErrorCode::UnknownVideo, .. } => {}
        other => panic!("expected UnknownVideo, got {other:?}"),
    }
    server.shutdown();
}

#[test]
fn both_decoders_give_the_same_frames() {
    // The same frames from FFmpeg + libjpeg-turbo (YUV planes, range expanded) and from
    // OpenCV's read + imencode (BGR): same index, same picture give or take JPEG's losses.
    let dir = three_resolutions(25.0, 12);
    let mut frames = Vec::new();
    use chatroom::video::source::Engine;
    for engine in [Engine::Ffmpeg, Engine::Plugged(&chatroom::video::opencv::OpenCv)] {
        let config = ServerConfig {
            videos: dir.clone(),
            pace: false,
            engine,
            min_key_bits: chatroom::keys::MIN_KEY_BITS,
            ..ServerConfig::default()
        };
        let server = chatroom::server::Server::spawn(
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            config,
        )
        .unwrap();
        let mut alice = TestClient::join(server.local_addr(), "alice", 0);
        alice.play("clip", PlayMode::Fixed("360p".into()));
        frames.push(alice.receive_stream().frames);
        server.shutdown();
    }
    assert_eq!(frames[0].len(), 12);
    assert_eq!(frames[0].len(), frames[1].len());
    for ((index, _, ff_jpeg), (_, _, cv_jpeg)) in frames[0].iter().zip(&frames[1]) {
        let (ff, cv) = (decode_jpeg(ff_jpeg).unwrap(), decode_jpeg(cv_jpeg).unwrap());
        assert_eq!(read_demo_index(&ff).unwrap(), *index);
        assert_eq!(read_demo_index(&cv).unwrap(), *index);
        assert_eq!((ff.cols(), ff.rows()), (cv.cols(), cv.rows()));
        let mut diff = opencv::core::Mat::default();
        opencv::core::absdiff(&ff, &cv, &mut diff).unwrap();
        let mean = opencv::core::mean(&diff, &opencv::core::no_array()).unwrap();
        let worst = mean.0[..3].iter().cloned().fold(0.0, f64::max);
        assert!(
            worst < 4.0,
            "frame {index}: the decoders' pictures differ by {worst:.2} on average"
        );
    }
}

#[test]
fn a_file_corrupted_in_the_middle_streams_to_an_end_and_the_server_goes_on() {
    // Garbage over a stretch in the middle of the 360p file: the decoder meets packets it
    // cannot decode. The stream must still end (complete or with an error), with no hang and
    // no panic, and the server must go on serving.
    let dir = three_resolutions(25.0, 60);
    let path = dir.join("clip_360p.mp4");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 4096] {
        *b = 0x5a;
    }
    std::fs::write(&path, bytes).unwrap();
    let server = server_for(&dir, false);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Fixed("360p".into()));
    let got = alice.receive_stream();
    let (sent, reason) = got.end.expect("an end frame");
    assert_eq!(sent as usize, got.frames.len());
    assert!(matches!(reason, EndReason::Complete | EndReason::Error), "{reason:?}");
    // The other resolutions still play whole.
    alice.play("clip", PlayMode::Fixed("144p".into()));
    assert_eq!(alice.receive_stream().end, Some((60, EndReason::Complete)));
    server.shutdown();
}

/// The frames of an `auto` stream read by `alice`, `pause` after each frame: its label.
fn auto_labels(alice: &mut TestClient, pause: impl Fn(usize) -> Duration) -> Vec<String> {
    alice.play("clip", PlayMode::Auto);
    let mut labels = Vec::new();
    loop {
        match alice.recv() {
            ServerMsg::StreamStart { plan, .. } => {
                let offered: Vec<&str> = plan.iter().map(|s| s.label.as_str()).collect();
                assert_eq!(offered, ["144p", "240p", "360p"]);
            }
            ServerMsg::Frame { label, jpeg, .. } => {
                labels.push(label);
                std::thread::sleep(pause(jpeg.len()));
            }
            ServerMsg::StreamEnd { .. } => return labels,
            _ => {}
        }
    }
}

#[test]
fn auto_quality_settles_low_for_a_slow_reader_and_high_for_a_fast_one() {
    // 100 frames at 25 fps (4 s), paced, in three resolutions.
    let dir = three_resolutions(25.0, 100);
    let server = server_for(&dir, true);
    let count = |labels: &[String], label: &str| labels.iter().filter(|l| *l == label).count();

    // A fast reader takes everything as it comes: up a step each steady second, to the top.
    let mut fast = TestClient::join(server.local_addr(), "fast", 0);
    let labels = auto_labels(&mut fast, |_| Duration::ZERO);
    assert_eq!(labels.len(), 100);
    assert!(labels[75..].iter().all(|l| l == "360p"), "{labels:?}");

    // A reader of 250 KB a second (its receive buffer kept small): 360p at 25 fps is more
    // than that.
    let mut slow = TestClient::join(server.local_addr(), "slow", 1);
    socket2::SockRef::from(slow.reader.stream()).set_recv_buffer_size(8 * 1024).unwrap();
    let labels = auto_labels(&mut slow, |bytes| Duration::from_secs_f64(bytes as f64 / 250_000.0));
    // It starts as the fast one does (its socket's buffers take the first second), then the
    // lane fills and it steps down, and stays down: the last fifth of the stream is not 360p,
    // and is mostly 144p.
    assert_eq!(labels.len(), 100);
    let end = &labels[80..];
    assert!(count(end, "360p") == 0 && count(end, "144p") >= 10, "{labels:?}");
    server.shutdown();
}
