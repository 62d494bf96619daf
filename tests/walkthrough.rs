//! The walkthrough's `--trace` lines are made here again, from the code, and must match the
//! doc: a change to a frame's layout fails this test until docs/WALKTHROUGH.md shows it.
//! The keys are 2048 bits (the default), the sequence number and message id fixed; the
//! envelope's random parts (the wrapped key, the nonce, the signature) fall past the 16 bytes
//! a trace line shows, and their lengths are fixed by the key size.

use chatroom::client::link::trace_line;
use chatroom::cmd;
use chatroom::keys::{Identity, parse_public_key};
use chatroom::wire::{Encode, PlayMode, Segment, ServerMsg, Tag};

fn walkthrough() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/WALKTHROUGH.md")).unwrap()
}

/// A frame's trace line, from its encoding (header off).
fn line(direction: &str, frame: &[u8]) -> String {
    let tag = Tag(frame[..4].try_into().unwrap());
    trace_line(direction, tag, &frame[8..])
}

#[test]
fn the_walkthrough_shows_the_frames_the_code_makes() {
    let (alice, bob) = (Identity::generate(2048).unwrap(), Identity::generate(2048).unwrap());
    let bob_key = parse_public_key(bob.public_der()).unwrap();
    let envelope = alice.seal("alice", "bob", &bob_key, 7, "hi bob").unwrap();
    let sent = cmd::Chat { to: "bob".into(), envelope: envelope.clone() }.encode();
    let got = ServerMsg::Chat { id: 7, from: "alice".into(), envelope }.encode();
    let play = cmd::Play { video: "demo".into(), mode: PlayMode::Fixed("144p".into()) };
    let plan = vec![Segment { label: "144p".into(), start: 0, frames: 100 }];
    let start = ServerMsg::StreamStart { video: "demo".into(), frames: 100, fps: 25.0, plan };
    let made = [
        line("->", &sent),
        line("<-", &got),
        line("->", &play.encode()),
        line("<-", &start.encode()),
    ];
    let text = walkthrough();
    let doc: Vec<&str> = text.lines().filter(|l| l.starts_with("[trace] ")).collect();
    assert_eq!(doc.len(), made.len(), "the walkthrough's trace lines: {doc:?}");
    let wrong: Vec<String> = made
        .iter()
        .zip(&doc)
        .filter(|(want, have)| want != *have)
        .map(|(want, have)| format!("the doc: {have}\nthe code: {want}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "WALKTHROUGH.md shows frames the code does not make:\n{}",
        wrong.join("\n")
    );

    // A video frame's layout, shown without a trace line (`--trace` counts frames instead):
    // its length is its JPEG's, its first bytes are the code's.
    let jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a];
    let frame = ServerMsg::Frame { index: 0, label: "144p".into(), jpeg }.encode();
    let head = line("<-", &frame);
    let head = head.split("bytes  ").nth(1).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("frame 0, ") && l.ends_with(&format!("{head} ..."))),
        "no `frame 0, ...` line ending with {head} ..."
    );
}
