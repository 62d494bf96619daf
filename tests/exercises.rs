//! The checks of the walkthrough's exercises that add something (docs/WALKTHROUGH.md,
//! "Exercises"). Each fails on the untouched code, for the reason its exercise states, and
//! passes once the exercise is done. They are `#[ignore]`d, so `cargo test` stays green;
//! `scripts/exercise.sh N` runs exercise N's check, and `scripts/exercise.sh --all-undone`
//! (part of `make test`) proves that every check still fails on the code as it is: an
//! exercise cannot rot into one that is done before it is started.

mod common;

use std::time::Duration;

use chatroom::config::ServerConfig;
use chatroom::wire::{ErrorCode, PlayMode, ServerMsg};
use common::proc::Proc;
use common::{TestClient, start_server};

/// Exercise 1: `WHOQ` (client, empty) is answered with the directory (`URIF`).
#[test]
#[ignore = "exercise 1: scripts/exercise.sh 1"]
fn exercise_1_whoq_is_answered_with_the_directory() {
    let server = start_server(ServerConfig::default());
    let _bob = TestClient::join(server.local_addr(), "bob", 1);
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    let mut frame = b"WHOQ".to_vec();
    frame.extend_from_slice(&0u32.to_be_bytes());
    alice.writer.send_frame(&frame).unwrap();
    loop {
        match alice.recv_any_within(Duration::from_secs(5)) {
            Some(ServerMsg::Directory(users)) => {
                let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
                assert_eq!(names, ["bob", "alice"]);
                break;
            }
            Some(ServerMsg::Error { code, text }) => panic!("not done yet: {code:?} {text}"),
            Some(_) => continue,
            None => panic!("not done yet: no answer to WHOQ"),
        }
    }
    server.shutdown();
}

/// Exercise 2: a message that starts with `/me ` prints as an action.
#[test]
#[ignore = "exercise 2: scripts/exercise.sh 2"]
fn exercise_2_me_prints_an_action() {
    let (_server, addr) = common::proc::server(&[]);
    let mut bob = Proc::client(&addr, &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut alice = Proc::client(&addr, &["--name", "alice"]);
    for line in ["1", "bob", "/me waves"] {
        alice.type_line(line);
    }
    let got = bob.expect("alice's message", |l| l.contains("waves"));
    assert_eq!(got, "* alice waves", "not done yet");
}

/// Exercise 3: the remainder goes to the last segment.
#[test]
#[ignore = "exercise 3: scripts/exercise.sh 3"]
fn exercise_3_the_remainder_goes_to_the_last_segment() {
    let labels: Vec<String> = ["144p", "240p", "360p"].map(String::from).to_vec();
    let plan = chatroom::video::catalog::split_plan(101, &labels);
    let frames: Vec<u32> = plan.iter().map(|s| s.frames).collect();
    assert_eq!(frames, [33, 33, 35], "not done yet");
    assert_eq!(plan[2].start, 66);
}

/// Exercise 4: at most 10 play requests a minute per user; the 11th is refused.
#[test]
#[ignore = "exercise 4: scripts/exercise.sh 4"]
fn exercise_4_the_eleventh_play_in_a_minute_is_refused() {
    let server = start_server(ServerConfig::default());
    let mut alice = TestClient::join(server.local_addr(), "alice", 0);
    // Plays of a video that does not exist: each is a request all the same.
    for i in 1..=11 {
        alice.play("nosuch", PlayMode::Split);
        let answer = loop {
            match alice.recv_any_within(Duration::from_secs(5)) {
                Some(ServerMsg::Error { code, .. }) => break code,
                Some(_) => continue,
                None => panic!("no answer to play {i}"),
            }
        };
        let expected = if i <= 10 { ErrorCode::UnknownVideo } else { ErrorCode::RateLimited };
        assert_eq!(answer, expected, "play {i}: not done yet");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.shutdown();
}
