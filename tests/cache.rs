//! The shared frame cache through a real server: real video files, real clients, every frame
//! checked by the picture it shows. The cache's counters say how often each frame was made.

mod common;

use common::*;
use std::thread;

use chatroom::cmd;
use chatroom::config::ServerConfig;
use chatroom::video::{demo::read_demo_index, opencv::decode_jpeg};
use chatroom::wire::{EndReason, PlayMode};
use opencv::prelude::*;

const FRAMES: u32 = 40;

fn clip() -> std::path::PathBuf {
    let dir = temp_dir("cache");
    write_video(&dir, "clip", "144p", (256, 144), 25.0, FRAMES);
    write_video(&dir, "clip", "240p", (426, 240), 25.0, FRAMES);
    dir
}

/// `n` clients stream `clip` at once; each gets back every frame, checked by its picture.
fn stream_together(addr: std::net::SocketAddr, n: usize, tag: &str) {
    let clients: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn({
                let name = format!("{tag}{i}");
                move || {
                    let mut client = TestClient::join(addr, &name, i);
                    client.play("clip", PlayMode::Split);
                    let got = client.receive_stream();
                    assert_eq!(got.end, Some((FRAMES, EndReason::Complete)), "{name}");
                    for (t, (index, _, jpeg)) in got.frames.iter().enumerate() {
                        assert_eq!(*index, t as u32, "{name}");
                        let picture = read_demo_index(&decode_jpeg(jpeg).unwrap()).unwrap();
                        assert_eq!(picture, t as u32, "{name} got the wrong picture for frame {t}");
                    }
                    client.quit();
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn clients_streaming_the_same_video_share_each_encoded_frame() {
    let server =
        start_server(ServerConfig { videos: clip(), pace: false, ..ServerConfig::default() });
    stream_together(server.local_addr(), 4, "first");
    let stats = server.cache_stats();
    // Four streams of 40 frames, each frame decoded and encoded once: one producer a segment.
    assert_eq!(stats.encoded, FRAMES as u64, "{stats:?}");
    assert_eq!(stats.served, 4 * FRAMES as u64, "{stats:?}");
    assert_eq!(stats.producers, 2, "{stats:?}");
    assert_eq!(stats.evicted, 0);

    // Later streams come from the cache alone.
    stream_together(server.local_addr(), 2, "later");
    let after = server.cache_stats();
    assert_eq!((after.encoded, after.producers), (stats.encoded, stats.producers), "{after:?}");
    assert_eq!(after.served, 6 * FRAMES as u64);
    server.shutdown();
}

#[test]
fn with_no_cache_budget_streams_are_still_whole_and_little_is_kept() {
    let server = start_server(ServerConfig {
        videos: clip(),
        pace: false,
        cache_mb: 0,
        ..ServerConfig::default()
    });
    stream_together(server.local_addr(), 3, "tight");
    let stats = server.cache_stats();
    assert!(stats.evicted > 0, "{stats:?}");
    // What stays is the working set of the last producers, never the whole video.
    assert!(stats.frames < FRAMES as usize, "{stats:?}");
    assert_eq!(stats.served, 3 * FRAMES as u64);
    server.shutdown();
}

#[test]
fn a_replaced_file_is_streamed_anew_not_from_the_cache() {
    let dir = temp_dir("replaced");
    write_video(&dir, "clip", "144p", (256, 144), 25.0, FRAMES);
    let server =
        start_server(ServerConfig { videos: dir.clone(), pace: false, ..ServerConfig::default() });
    let addr = server.local_addr();
    let mut alice = TestClient::join(addr, "alice", 0);
    alice.play("clip", PlayMode::Split);
    assert_eq!(alice.receive_stream().frames.len(), FRAMES as usize);

    // Same name, new content: a 240-line picture where the 144-line one was.
    std::fs::remove_file(dir.join("clip_144p.mp4")).unwrap();
    write_video(&dir, "clip", "144p", (426, 240), 25.0, 12);
    alice.writer.send(&cmd::ListVideos).unwrap();
    alice.recv();
    alice.play("clip", PlayMode::Split);
    let got = alice.receive_stream();
    assert_eq!(got.frames.len(), 12);
    assert_eq!(
        decode_jpeg(&got.frames[0].2).unwrap().rows(),
        240,
        "an old frame came from the cache"
    );
    server.shutdown();
}

#[test]
fn a_file_shorter_than_the_catalog_says_ends_the_stream_with_an_error_not_a_hang() {
    let dir = temp_dir("shortened");
    write_video(&dir, "clip", "144p", (256, 144), 25.0, FRAMES);
    let server =
        start_server(ServerConfig { videos: dir.clone(), pace: false, ..ServerConfig::default() });
    // Cut the file to 12 frames behind the server's back: its catalog still says 40.
    std::fs::remove_file(dir.join("clip_144p.mp4")).unwrap();
    write_video(&dir, "clip", "144p", (256, 144), 25.0, 12);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    alice.play("clip", PlayMode::Split);
    let got = alice.receive_stream();
    assert_eq!(got.frames.len(), 12);
    assert_eq!(got.end, Some((12, EndReason::Error)));

    // The server goes on: after a rescan the new length is known and plays whole.
    alice.writer.send(&cmd::ListVideos).unwrap();
    alice.recv();
    alice.play("clip", PlayMode::Split);
    assert_eq!(alice.receive_stream().end, Some((12, EndReason::Complete)));
    server.shutdown();
}
