//! The client on a real terminal: tmux runs it in a pane of a known size, keys are typed with
//! `send-keys`, and the screen is read back with `capture-pane` (`-e` keeps the colours).
//! What a person sees: the line editor's prompt, lines arriving above it, Tab completion,
//! video drawn with half blocks, and the terminal given back as it was.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chatroom::config::ServerConfig;
use common::pane::{Pane, alice_at_recipient_prompt, client_command};
use common::{TestClient, eventually, start_server, temp_dir};
use opencv::core::{CV_8UC3, Mat, Scalar, Size, Vec3b};
use opencv::prelude::*;
use opencv::videoio;

const BIN: &str = env!("CARGO_BIN_EXE_chatroom");

#[test]
fn lines_arrive_above_the_prompt_and_what_is_typed_stays() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr().to_string();
    let mut bob = TestClient::join(server.local_addr(), "bob", 1);
    let pane = alice_at_recipient_prompt(&addr, 80, 24);
    // Tab completes a user name.
    pane.keys(&["b", "Tab"]);
    assert!(
        eventually(Duration::from_secs(5), || pane.last_row().ends_with(": bob")),
        "Tab did not complete bob: {:?}",
        pane.last_row()
    );
    pane.keys(&["BSpace", "BSpace"]);
    // A message arrives while "b" is typed: it prints on a line of its own, and the prompt
    // comes back below it with the "b" still there.
    bob.wait_joined("alice");
    bob.send_text("alice", "message one");
    pane.wait_for("bob's message", |l| l == "[CHAT] bob: message one");
    assert!(
        eventually(Duration::from_secs(5), || pane.last_row()
            == "Enter recipient (QUIT to go back) : b"),
        "the prompt was not redrawn with what was typed: {:?}",
        pane.text()
    );
    pane.keys(&["ob", "Enter"]);
    pane.wait_for("the message prompt", |l| l.starts_with("Enter message :"));
    pane.keys(&["hello from a terminal", "Enter"]);
    let (from, text) = bob.next_chat();
    assert_eq!((from.as_str(), text.unwrap().as_str()), ("alice", "hello from a terminal"));
    // History: the up arrow brings back the last line typed at this prompt (a recipient:
    // messages have their own).
    pane.keys(&["Up"]);
    assert!(
        eventually(Duration::from_secs(5), || pane.last_row().ends_with(": bob")),
        "Up did not recall the last recipient: {:?}",
        pane.last_row()
    );
    pane.keys(&["C-u", "QUIT", "Enter"]);
    pane.wait_for("the menu again", |l| l.starts_with("1. CHAT"));
    // Ctrl-D quits, and the terminal's settings are as they were.
    pane.keys(&["C-d"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
    assert_settings_restored(&pane);
}

/// The pane's command saved `stty -g` before and after the client; they must match (a
/// client that ended in raw mode would leave the shell without echo).
fn assert_settings_restored(pane: &Pane) {
    let dir = pane_dir(pane);
    let before = std::fs::read_to_string(dir.join("before")).unwrap();
    assert!(eventually(Duration::from_secs(5), || dir.join("after").exists()));
    let after = std::fs::read_to_string(dir.join("after")).unwrap();
    assert_eq!(before, after, "the terminal was not given back as it was");
}

/// The folder the pane's command writes its `stty` settings in (read from its command line).
fn pane_dir(pane: &Pane) -> std::path::PathBuf {
    let command = pane.tmux(&["display-message", "-p", "#{pane_start_command}"]);
    let start = command.find("stty -g > ").unwrap() + "stty -g > ".len();
    let path = &command[start..];
    Path::new(&path[..path.find("/before").unwrap()]).to_path_buf()
}

// --- Video in the terminal --------------------------------------------------------------

/// Left half red over blue, right half green over white, alternating every `band` rows: each
/// terminal cell (two pixels tall, a pixel being `band` rows of the video) then has a top and
/// a bottom colour that differ.
const TOP: [[u8; 3]; 2] = [[255, 0, 0], [0, 200, 0]];
const BOTTOM: [[u8; 3]; 2] = [[0, 0, 255], [255, 255, 255]];

/// Writes `stripes_240p.mp4`: 320x240, 150 identical frames at 10 fps (longer than the test
/// waits for the picture: it is still on screen when a wrong one is reported).
fn write_stripes(dir: &Path, band: i32) {
    let mut frame = Mat::new_rows_cols_with_default(240, 320, CV_8UC3, Scalar::all(0.0)).unwrap();
    for y in 0..240 {
        for x in 0..320 {
            let side = usize::from(x >= 160);
            let [r, g, b] = if (y / band) % 2 == 0 { TOP[side] } else { BOTTOM[side] };
            *frame.at_2d_mut::<Vec3b>(y, x).unwrap() = Vec3b::from([b, g, r]);
        }
    }
    let fourcc = videoio::VideoWriter::fourcc('m', 'p', '4', 'v').unwrap();
    let path = dir.join("stripes_240p.mp4");
    let mut writer =
        videoio::VideoWriter::new(path.to_str().unwrap(), fourcc, 10.0, Size::new(320, 240), true)
            .unwrap();
    for _ in 0..150 {
        writer.write(&frame).unwrap();
    }
}

/// One cell read back from the screen: its character and colours.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shown {
    ch: char,
    fg: Option<[u8; 3]>,
    bg: Option<[u8; 3]>,
}

/// Reads the rows of `capture-pane -e` output into cells, following the SGR colour commands
/// (24-bit `38;2;R;G;B`, palette `38;5;N`, resets). tmux sets a colour once and keeps it over
/// the next rows until it changes, so the colours carry from one row to the next.
fn parse_screen(rows: &[String]) -> Vec<Vec<Shown>> {
    let (mut fg, mut bg) = (None, None);
    let mut screen = Vec::new();
    for row in rows {
        let mut cells = Vec::new();
        let mut chars = row.chars();
        while let Some(c) = chars.next() {
            if c != '\x1b' {
                cells.push(Shown { ch: c, fg, bg });
                continue;
            }
            if chars.next() != Some('[') {
                continue;
            }
            let mut params = String::new();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    if c == 'm' {
                        apply_sgr(&params, &mut fg, &mut bg);
                    }
                    break;
                }
                params.push(c);
            }
        }
        screen.push(cells);
    }
    screen
}

fn apply_sgr(params: &str, fg: &mut Option<[u8; 3]>, bg: &mut Option<[u8; 3]>) {
    let nums: Vec<u32> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
    let mut i = 0;
    while i < nums.len() {
        let color = |at: usize| -> (Option<[u8; 3]>, usize) {
            match nums.get(at) {
                Some(2) if at + 3 < nums.len() + 1 && nums.len() >= at + 4 => {
                    (Some([nums[at + 1] as u8, nums[at + 2] as u8, nums[at + 3] as u8]), 4)
                }
                Some(5) => {
                    let n = nums.get(at + 1).copied().unwrap_or(0) as u8;
                    (Some(chatroom::client::blocks::palette_rgb(n)), 2)
                }
                _ => (None, 1),
            }
        };
        match nums[i] {
            0 => (*fg, *bg) = (None, None),
            39 => *fg = None,
            49 => *bg = None,
            38 => {
                let (c, used) = color(i + 1);
                *fg = c;
                i += used;
            }
            48 => {
                let (c, used) = color(i + 1);
                *bg = c;
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
}

fn near(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    (0..3).all(|i| a[i].abs_diff(b[i]) <= tolerance)
}

/// Plays the stripes video in an 80x40 pane with `env`, and checks the picture on screen:
/// 80 cells wide (the width limits), every cell a half block whose top colour is the
/// video's top band and bottom colour its bottom band, on each side.
fn check_drawn_stripes(env: &str, tolerance: u8) {
    let videos = temp_dir("stripes");
    // The picture is 80 columns for 320 pixels: a terminal pixel is 4 video rows.
    write_stripes(&videos, 4);
    let server = start_server(ServerConfig { videos: videos.clone(), ..ServerConfig::default() });
    let addr = server.local_addr().to_string();
    let pane = Pane::start(&client_command(&addr, env, "--name alice --render terminal"), 80, 40);
    pane.wait_for("the menu", |l| l.starts_with("1. CHAT  2. STREAM  3. QUIT"));
    pane.keys(&["2", "Enter"]);
    pane.wait_for("the video list", |l| l.contains("1. stripes"));
    pane.keys(&["1", "Enter"]);
    pane.wait_for("the stream menu", |l| l.contains("4. STOP"));
    let picture = || -> Vec<Vec<Shown>> {
        parse_screen(&pane.colored())
            .into_iter()
            .take_while(|cells| cells.first().is_some_and(|c| c.ch == '▀'))
            .collect()
    };
    // The screen may be read in the middle of a frame being drawn (or of the first frames,
    // which the encoder makes rougher): wait for the whole picture, right to the last cell.
    let mut last = String::new();
    let drawn =
        eventually(Duration::from_secs(10), || match stripes_shown(&picture(), tolerance) {
            Ok(checked) => {
                assert_eq!(checked, 30 * 76);
                true
            }
            Err(why) => {
                last = why;
                false
            }
        });
    assert!(drawn, "{last}; the screen:\n{}", pane.text().join("\n"));
    // Chat goes on below the picture: the prompt is on the last row.
    assert_eq!(pane.last_row(), ">");
    pane.keys(&["3", "Enter"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
    assert_settings_restored(&pane);
}

/// Whether `rows` show the stripes video fitted to 80 columns (320x240: 60 pixels, 30 rows):
/// every cell a half block whose top colour is the video's top band and bottom colour its
/// bottom band, on each side. The cells checked, or the first that is wrong.
fn stripes_shown(rows: &[Vec<Shown>], tolerance: u8) -> Result<usize, String> {
    if rows.len() != 30 {
        return Err(format!("{} rows of picture, not 30", rows.len()));
    }
    let mut checked = 0;
    for (y, row) in rows.iter().enumerate() {
        if row.len() != 80 {
            return Err(format!("row {y} is {} cells wide, not 80", row.len()));
        }
        for (x, cell) in row.iter().enumerate() {
            // Cells on the seam between the halves are a mix of both.
            if (38..42).contains(&x) {
                continue;
            }
            let side = usize::from(x >= 40);
            let (fg, bg) = (cell.fg.unwrap_or_default(), cell.bg.unwrap_or_default());
            if !(near(fg, TOP[side], tolerance) && near(bg, BOTTOM[side], tolerance)) {
                return Err(format!(
                    "cell ({x},{y}): top {fg:?} bottom {bg:?}, expected {:?} over {:?}",
                    TOP[side], BOTTOM[side]
                ));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

#[test]
fn video_is_drawn_in_the_terminal_in_24_bit_colour() {
    check_drawn_stripes("COLORTERM=truecolor", 48);
}

#[test]
fn without_truecolor_the_256_colour_palette_draws_the_video() {
    // The palette's nearest colours are up to 20 away from the true ones (0, 95, 135...).
    check_drawn_stripes("-u COLORTERM", 60);
}

#[test]
fn losing_the_server_mid_prompt_gives_the_terminal_back() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr().to_string();
    let pane = Pane::start(&client_command(&addr, "", "--name alice"), 80, 24);
    pane.wait_for("the menu", |l| l.starts_with("1. CHAT  2. STREAM  3. QUIT"));
    // Half a line typed, in the editor's raw mode, when the server goes away.
    pane.keys(&["1"]);
    server.shutdown();
    pane.wait_for("the exit status", |l| l == "EXIT=1");
    // Nothing after "Disconnected from server": the next line is the shell's.
    let text: Vec<String> = pane.text().into_iter().filter(|l| !l.trim().is_empty()).collect();
    let at = text.iter().position(|l| l == "Disconnected from server");
    assert!(at.is_some_and(|i| text[i + 1] == "EXIT=1"), "{}", text.join("\n"));
    assert_settings_restored(&pane);
}

#[test]
fn a_refused_message_is_kept_and_offered_again() {
    // One message a second: the second, sent at once, is refused.
    let config = ServerConfig { chat_rate: 1, chat_burst: 1, ..ServerConfig::default() };
    let server = start_server(config);
    let addr = server.local_addr().to_string();
    let _bob = TestClient::join(server.local_addr(), "bob", 1);
    let pane = alice_at_recipient_prompt(&addr, 80, 24);
    // Typed ahead in one go (as a paste would be): every line reaches its prompt.
    let long = "a long message I would hate to type twice";
    pane.keys(&["bob", "Enter", "first", "Enter", "bob", "Enter", long, "Enter"]);
    pane.wait_for("the refusal", |l| l.starts_with("Error: too many messages"));
    pane.wait_for("the note", |l| l.starts_with("Your message is kept"));
    pane.keys(&["bob", "Enter"]);
    assert!(
        eventually(Duration::from_secs(5), || pane.last_row()
            == "Enter message : a long message I would hate to type twice"),
        "the message was not offered again: {}",
        pane.text().join("\n")
    );
}

#[test]
fn lines_keep_arriving_after_tab_completes() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr().to_string();
    let mut bob = TestClient::join(server.local_addr(), "bob", 1);
    let _bea = TestClient::join(server.local_addr(), "bea", 2);
    let pane = alice_at_recipient_prompt(&addr, 80, 24);
    bob.wait_joined("alice");
    // Two matches: both are listed at once, and the editor does not sit waiting for a key
    // while lines arrive (it used to, and the client stopped answering the server).
    pane.keys(&["b", "Tab"]);
    pane.wait_for("the matches", |l| l.contains("bea") && l.contains("bob") && !l.contains(':'));
    for i in 1..=3 {
        bob.send_text("alice", &format!("after an ambiguous Tab {i}"));
    }
    for i in 1..=3 {
        pane.wait_for("a message, no key pressed", |l| {
            l == format!("[CHAT] bob: after an ambiguous Tab {i}")
        });
    }
    // One match: completed, and lines still arrive above it with no key pressed.
    pane.keys(&["o", "Tab"]);
    assert!(
        eventually(Duration::from_secs(5), || pane.last_row().ends_with(": bob")),
        "Tab did not complete bob: {}",
        pane.text().join("\n")
    );
    for i in 1..=3 {
        bob.send_text("alice", &format!("after a completion {i}"));
    }
    for i in 1..=3 {
        pane.wait_for("a message, no key pressed", |l| {
            l == format!("[CHAT] bob: after a completion {i}")
        });
    }
    assert!(pane.last_row().ends_with(": bob"), "{}", pane.text().join("\n"));
    // Ctrl-C clears the line; on an empty one it quits, with the status of an interrupted
    // program, the terminal as it was.
    pane.keys(&["C-c"]);
    pane.wait_for("a cleared line", |l| l == "Enter recipient (QUIT to go back) :");
    pane.keys(&["C-c"]);
    pane.wait_for("the exit status", |l| l == "EXIT=130");
    assert_settings_restored(&pane);
}

#[test]
fn on_a_terminal_a_refused_name_is_asked_again_with_the_way_out_and_leaves_no_key() {
    // A handshake deadline of 1 s: the second name is typed after it.
    let config =
        ServerConfig { handshake_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let server = start_server(config);
    let addr = server.local_addr().to_string();
    let _bob = TestClient::join(server.local_addr(), "bob", 1);
    let home = temp_dir("tty-home");
    let command = format!(
        "env -u DISPLAY XDG_CONFIG_HOME={home} {BIN} client --server {addr} --key-bits 1024; \
         echo EXIT=$?; sleep 60",
        home = home.display()
    );
    let pane = Pane::start(&command, 200, 24);
    pane.wait_for("the name prompt", |l| l.starts_with("Enter your username :"));
    pane.keys(&["bob", "Enter"]);
    pane.wait_for("the refusal", |l| {
        l.starts_with("Name rejected: the name bob is registered to another key. If the name is")
    });
    // The way out, whatever the lines it wraps to.
    let screen = pane.text().concat();
    assert!(
        screen.contains("its key is not on this machine: put the key file back as "),
        "{screen}"
    );
    assert!(screen.contains("(chatroom server --forget NAME). Or choose another name"), "{screen}");
    assert!(
        eventually(Duration::from_secs(5), || pane.last_row().starts_with("Enter your username :")),
        "not asked again: {}",
        pane.text().join("\n")
    );
    assert!(!home.join("chatroom/identities/bob.pem").exists(), "no key for a refused name");
    std::thread::sleep(Duration::from_millis(1500));
    pane.keys(&["bob2", "Enter"]);
    pane.wait_for("the welcome", |l| l.starts_with("Welcome, bob2!"));
    pane.wait_for("the menu", |l| l.starts_with("1. CHAT  2. STREAM  3. QUIT"));
    assert!(home.join("chatroom/identities/bob2.pem").exists());
    assert!(!home.join("chatroom/identities/bob.pem").exists());
    pane.keys(&["3", "Enter"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
}

#[test]
fn an_overlong_message_is_typed_again_to_be_shortened() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr().to_string();
    let mut bob = TestClient::join(server.local_addr(), "bob", 1);
    let pane = alice_at_recipient_prompt(&addr, 200, 50);
    pane.keys(&["bob", "Enter"]);
    pane.wait_for("the message prompt", |l| l.starts_with("Enter message :"));
    // 4100 bytes, 4 over the limit: refused, and typed again, to be cut.
    // Typed a thousand keys at a time: the terminal's input queue holds 4096 bytes.
    let text = format!("{}{}", "x".repeat(4096), "tail");
    for chunk in text.as_bytes().chunks(1000) {
        pane.tmux(&["send-keys", "-l", std::str::from_utf8(chunk).unwrap()]);
        std::thread::sleep(Duration::from_millis(300));
    }
    pane.keys(&["Enter"]);
    pane.wait_for("the refusal", |l| {
        l.starts_with("Message not sent: message is 4100 bytes long; the limit is 4096 bytes.")
    });
    pane.wait_for("the note", |l| l.contains("It is typed for you again: shorten it."));
    pane.tmux(&["send-keys", "-N", "4", "BSpace"]);
    pane.keys(&["Enter"]);
    let (from, got) = bob.next_chat();
    assert_eq!((from.as_str(), got.unwrap()), ("alice", "x".repeat(4096)));
}

/// A server offering the stripes video, bob joined to it, and alice's client in a
/// `rows`-tall pane drawing streams in the terminal, at her menu.
fn alice_with_stripes(tag: &str, rows: u16) -> (chatroom::server::Server, TestClient, Pane) {
    let videos = temp_dir(tag);
    write_stripes(&videos, 4);
    let server = start_server(ServerConfig { videos: videos.clone(), ..ServerConfig::default() });
    let addr = server.local_addr().to_string();
    let bob = TestClient::join(server.local_addr(), "bob", 1);
    let pane = Pane::start(&client_command(&addr, "", "--name alice --render terminal"), 80, rows);
    pane.wait_for("the menu", |l| l.starts_with("1. CHAT  2. STREAM  3. QUIT"));
    (server, bob, pane)
}

/// alice, at her menu, starts the stripes video.
fn play_stripes(pane: &Pane) {
    pane.keys(&["2", "Enter"]);
    pane.wait_for("the video list", |l| l.contains("1. stripes"));
    pane.keys(&["1", "Enter"]);
    pane.wait_for("the stream menu", |l| l.contains("4. STOP"));
}

#[test]
fn the_terminal_view_keeps_the_chat_on_a_resize_and_clears_the_picture_at_the_end() {
    let (_server, mut bob, pane) = alice_with_stripes("resize", 40);
    play_stripes(&pane);
    let picture_rows = || pane.text().iter().filter(|l| l.starts_with('▀')).count();
    assert!(eventually(Duration::from_secs(10), || picture_rows() > 20), "no picture");
    bob.wait_joined("alice");
    bob.send_text("alice", "seen below the picture");
    pane.wait_for("bob's message", |l| l == "[CHAT] bob: seen below the picture");
    // Wider and shorter: the picture is laid out again; the chat rows stay.
    pane.tmux(&["resize-window", "-x", "100", "-y", "36"]);
    assert!(
        eventually(Duration::from_secs(10), || pane.text().len() == 36
            && pane.text().iter().any(|l| l.starts_with(&"▀".repeat(60)))),
        "the picture was not laid out again: {}",
        pane.text().join("\n")
    );
    let text = pane.text();
    assert!(text.iter().any(|l| l == "[CHAT] bob: seen below the picture"), "{}", text.join("\n"));
    assert_eq!(pane.last_row(), ">");
    // Stopped: the last frame does not stay painted.
    pane.keys(&["4", "Enter"]);
    pane.wait_for("the end", |l| l.starts_with("Stream ended: "));
    assert!(
        eventually(Duration::from_secs(5), || picture_rows() == 0),
        "the picture stayed: {}",
        pane.text().join("\n")
    );
    pane.keys(&["3", "Enter"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
}

/// A terminal that stops drawing (its emulator frozen, as a hung SSH session is) and a
/// client killed while it is stopped: every message accepted for it is shown once, by that
/// client or the next; twice only with the word that it may be a repeat.
#[test]
fn a_stalled_terminal_then_a_kill_loses_nothing_and_shows_nothing_twice_unsaid() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr().to_string();
    let home = temp_dir("stalled");
    let client = format!(
        "env -u DISPLAY XDG_CONFIG_HOME={home} {BIN} client --server {addr} --key-bits 1024 --name alice",
        home = home.display()
    );
    // Two lives of alice in one pane: the second starts when the first is killed.
    let pane = Pane::start(&format!("{client}; {client}; echo EXIT=$?; sleep 60"), 150, 40);
    pane.wait_for("the menu", |l| l.starts_with("1. CHAT  2. STREAM  3. QUIT"));
    pane.keys(&["1", "Enter"]);
    pane.wait_for("the recipient prompt", |l| l.starts_with("Enter recipient"));
    // Asked before tmux is stopped: it answers nothing while it is.
    let shell = pane.tmux(&["display", "-p", "#{pane_pid}"]).trim().to_owned();
    let pgrep = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let first = String::from_utf8_lossy(&pgrep.stdout).trim().to_owned();
    assert!(!first.is_empty(), "alice's client is not the shell's child");
    let tmux = pane.tmux(&["display", "-p", "#{pid}"]).trim().to_owned();
    let signal = |sig: &str, pid: &str| Command::new("kill").args([sig, pid]).status().unwrap();
    let mut bob = TestClient::join(server.local_addr(), "bob", 1);
    // The terminal stops drawing; bob writes until the server holds his messages back (alice
    // acknowledges nothing her terminal has not taken: it refuses once she has taken none
    // for a while) or 600 are sent.
    signal("-STOP", &tmux);
    let mut accepted = Vec::new();
    for i in 1..=600 {
        let text = format!("m{i}");
        if bob.send_confirmed("alice", &text).is_err() {
            break;
        }
        accepted.push(text);
        // Under the server's limit of 100 messages a second to one recipient.
        std::thread::sleep(Duration::from_millis(12));
    }
    assert!(accepted.len() > 100, "only {} accepted", accepted.len());
    signal("-KILL", &first);
    signal("-CONT", &tmux);
    // The second life gets again what the first did not write out.
    let history = || pane.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
    let last = format!("[CHAT] bob: {}", accepted.last().unwrap());
    if !eventually(Duration::from_secs(30), || history().lines().any(|l| l == last)) {
        panic!("never saw {last}:\n{}", history());
    }
    let lines: Vec<String> = history().lines().map(str::to_owned).collect();
    let (mut plain, mut marked) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        if let Some(text) = line.strip_prefix("[CHAT] bob: ") {
            let said = i > 0 && lines[i - 1] == chatroom::client::core::CUT_OFF;
            if said { &mut marked } else { &mut plain }.push(text.to_owned());
        }
    }
    let lost: Vec<&String> =
        accepted.iter().filter(|m| !plain.contains(m) && !marked.contains(m)).collect();
    assert!(lost.is_empty(), "lost {lost:?} of {}", accepted.len());
    // Said to be perhaps a repeat: the few lines the editor held when the terminal stopped
    // (one written in part, one waiting to be).
    assert!(marked.len() <= 3, "{marked:?}");
    let mut once = plain.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), plain.len(), "shown twice unsaid: {plain:?}");
    pane.keys(&["3", "Enter"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
}

/// A screen full of chat, then a stream drawn in the terminal with chat going on below it:
/// afterwards every line is in the scrollback, once and in order, and no picture is.
#[test]
fn the_terminal_view_scrolls_no_chat_away_and_says_again_what_came_during_it() {
    let (_server, mut bob, pane) = alice_with_stripes("scrollback", 30);
    bob.wait_joined("alice");
    let before: Vec<String> = (1..=45).map(|i| format!("[CHAT] bob: before {i}")).collect();
    for line in &before {
        bob.send_text("alice", line.strip_prefix("[CHAT] bob: ").unwrap());
    }
    pane.wait_for("bob's last line", |l| l == before[44]);
    play_stripes(&pane);
    let picture_rows = || pane.text().iter().filter(|l| l.starts_with('▀')).count();
    assert!(eventually(Duration::from_secs(10), || picture_rows() > 10), "no picture");
    let during: Vec<String> = (1..=20).map(|i| format!("[CHAT] bob: during {i}")).collect();
    for line in &during {
        bob.send_text("alice", line.strip_prefix("[CHAT] bob: ").unwrap());
    }
    pane.wait_for("bob's line below the picture", |l| l == during[19]);
    assert!(picture_rows() > 10, "the picture went: {}", pane.text().join("\n"));
    pane.keys(&["4", "Enter"]);
    pane.wait_for("the end", |l| l.starts_with("Stream ended: "));
    let history = pane.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
    let chat: Vec<&str> = history.lines().filter(|l| l.starts_with("[CHAT] bob: ")).collect();
    let expected: Vec<&str> = before.iter().chain(&during).map(String::as_str).collect();
    assert_eq!(chat, expected, "the scrollback:\n{history}");
    assert!(!history.contains('▀'), "a picture in the scrollback:\n{history}");
    pane.keys(&["3", "Enter"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
}

/// Quitting while a stream is drawn gives the main screen back, with the lines said during
/// the stream on it.
#[test]
fn quitting_during_a_terminal_stream_gives_the_main_screen_back() {
    let (_server, mut bob, pane) = alice_with_stripes("quit-view", 30);
    play_stripes(&pane);
    let alternate = || pane.tmux(&["display", "-p", "#{alternate_on}"]).trim() == "1";
    assert!(eventually(Duration::from_secs(10), alternate), "no alternate screen");
    bob.wait_joined("alice");
    bob.send_text("alice", "said during the stream");
    pane.wait_for("bob's line", |l| l == "[CHAT] bob: said during the stream");
    pane.keys(&["3", "Enter"]);
    pane.wait_for("the exit status", |l| l == "EXIT=0");
    assert!(!alternate(), "still on the alternate screen");
    let history = pane.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
    assert!(history.lines().any(|l| l == "[CHAT] bob: said during the stream"), "{history}");
    assert!(!history.contains('▀'), "a picture on the main screen:\n{history}");
}

/// A stream started in a terminal too small for a picture shows one once it is larger, gives
/// the screen back when it is made small again, and takes it again after.
#[test]
fn the_terminal_view_follows_the_terminals_size_both_ways() {
    let (_server, _bob, pane) = alice_with_stripes("small", 8);
    pane.tmux(&["resize-window", "-x", "20", "-y", "8"]);
    play_stripes(&pane);
    let history = || pane.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
    let word = "The terminal is too small for the picture: it shows once it is larger.";
    assert!(eventually(Duration::from_secs(10), || history().contains(word)), "{}", history());
    let alternate = || pane.tmux(&["display", "-p", "#{alternate_on}"]).trim() == "1";
    let picture = || pane.text().iter().any(|l| l.starts_with('▀'));
    assert!(!alternate() && !picture(), "{}", pane.text().join("\n"));
    pane.tmux(&["resize-window", "-x", "80", "-y", "30"]);
    assert!(eventually(Duration::from_secs(10), || alternate() && picture()), "no picture");
    pane.tmux(&["resize-window", "-x", "20", "-y", "6"]);
    assert!(
        eventually(Duration::from_secs(10), || !alternate() && !picture()),
        "the picture stayed: {}",
        pane.text().join("\n")
    );
    pane.tmux(&["resize-window", "-x", "80", "-y", "30"]);
    assert!(eventually(Duration::from_secs(10), || alternate() && picture()), "no picture again");
    pane.keys(&["4", "Enter"]);
    pane.wait_for("the end", |l| l.starts_with("Stream ended: "));
    assert!(!history().contains('▀'), "a picture in the scrollback:\n{}", history());
}
