//! The real binaries: a `chatroom server` process and `chatroom client` processes driven
//! through piped stdin, exactly as a user's script would (README, "Using it").

mod common;

use common::proc::{BIN, Proc, server};

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chatroom::wire::ServerMsg;

#[test]
fn two_client_processes_exchange_a_message_through_a_server_process() {
    let (mut server, addr) = server(&[]);
    let mut bob = Proc::client(&addr, &[]);
    bob.expect_line("Enter your username : ");
    bob.type_line("bob");
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");

    // Alice's whole session is piped in at once, as the README's example does.
    let mut alice = Proc::client(&addr, &[]);
    alice.type_line("alice\n1\nbob\nhello\nQUIT\n3");
    drop(alice.stdin.take());
    assert_eq!(alice.wait(), 0);
    let out = alice.rest();
    assert_eq!(out.first().map(String::as_str), Some("Enter your username : "));
    assert!(out.iter().any(|l| l == "1. CHAT  2. STREAM  3. QUIT"), "{out:?}");
    assert!(
        out.iter().any(|l| l.starts_with("  bob  [") && l.len() == "  bob  [".len() + 17),
        "{out:?}"
    );

    bob.expect_line("[JOINED] alice");
    bob.expect_line("[CHAT] alice: hello");
    bob.expect_line("[LEFT] alice");

    // End of input is QUIT: exit 0.
    drop(bob.stdin.take());
    assert_eq!(bob.wait(), 0);

    // Ctrl-C stops the server cleanly.
    server.interrupt();
    assert_eq!(server.wait(), 0);
}

#[test]
fn a_taken_name_ends_a_piped_client_and_an_unknown_recipient_is_explained() {
    let (_server, addr) = server(&[]);
    let mut first = Proc::client(&addr, &["--name", "Alice"]);
    first.expect_line("1. CHAT  2. STREAM  3. QUIT");

    // Piped, a refused name ends the client (status 2, why on stderr): the lines after it,
    // meant for the menu, are never read as names. (On a terminal it asks again: tty.rs.)
    let mut taken = Proc::client(&addr, &["--name", "alice"]);
    taken.type_line("alice2");
    assert_eq!(taken.wait(), 2);
    assert!(taken.errors().contains("the name \"alice\" was refused: the name alice is taken"));
    assert!(!taken.rest().iter().any(|l| l.starts_with("Welcome")));
    let mut reserved = Proc::client(&addr, &[]);
    reserved.type_line("QUIT");
    assert_eq!(reserved.wait(), 2);
    assert!(reserved.errors().contains("the name QUIT is reserved"), "{}", reserved.errors());

    let mut second = Proc::client(&addr, &[]);
    second.type_line("alice2");
    second.expect_line("1. CHAT  2. STREAM  3. QUIT");
    second.type_line("7");
    second.expect("a hint", |l| l.contains("enter 1, 2 or 3"));
    second.type_line("1");
    second.expect_line("Enter recipient (QUIT to go back) : ");
    second.type_line("nobody");
    second.expect("the unknown-user message", |l| l.contains("No user named \"nobody\" is online"));
    second.type_line("alice");
    second.expect_line("Enter message : ");
    second.type_line("hi, case-insensitively");
    first.expect_line("[CHAT] alice2: hi, case-insensitively");
    // QUIT goes back from the prompt, and at the menu it leaves.
    second.type_line("QUIT");
    second.expect_line("1. CHAT  2. STREAM  3. QUIT");
    second.type_line("quit");
    assert_eq!(second.wait(), 0);
    first.expect_line("[LEFT] alice2");
}

#[test]
fn a_message_to_someone_who_just_left_is_held_and_said_so_before_the_next_prompt() {
    let server = common::default_server();
    let addr = server.local_addr().to_string();
    let bob = common::TestClient::join(server.local_addr(), "bob", 1);
    let mut alice = Proc::client(&addr, &["--name", "alice"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("1");
    alice.type_line("bob");
    alice.expect_line("Enter message : ");
    // bob leaves while alice types.
    bob.quit();
    alice.expect_line("[LEFT] bob");
    alice.type_line("are you there?");
    // What became of the message comes first, then the next prompt: never the other way round.
    let next = alice.expect("the outcome or the next prompt", |l| {
        l.starts_with("[QUEUED]") || l.starts_with("Enter recipient")
    });
    assert_eq!(next, "[QUEUED] bob is offline; delivered when they return");
    alice.expect_line("Enter recipient (QUIT to go back) : ");
    // Someone who was never here: said at once, nothing sent.
    alice.type_line("nobody");
    alice.expect_line("No user named \"nobody\" is online or registered.");
    // bob is back: the message is waiting for him.
    let mut bob = common::TestClient::join(server.local_addr(), "bob", 1);
    assert_eq!(bob.next_chat(), ("alice".into(), Ok("are you there?".into())));
}

#[test]
fn losing_the_server_prints_disconnected_and_exits_1() {
    let (mut server, addr) = server(&[]);
    let mut bob = Proc::client(&addr, &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    server.interrupt();
    bob.expect_line("Server is shutting down");
    bob.expect_line("Disconnected from server");
    assert_eq!(bob.wait(), 1);
    assert_eq!(server.wait(), 0);

    // And with no server at all: a clear error, exit 1.
    let mut nobody = Proc::client(&addr, &["--name", "bob"]);
    assert_eq!(nobody.wait(), 1);
}

/// Runs `chatroom ARGS` to its end; returns its exit code and stderr.
fn run_to_end(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_error_prints_once_on_one_line_with_its_cause() {
    // Nothing listens on a port we just freed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, stderr) = run_to_end(&["client", "--server", &addr.to_string(), "--name", "x"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let expected = format!("chatroom: error: cannot connect to {addr}: ");
    assert!(lines[0].starts_with(&expected), "{stderr}");
    assert!(lines[0].contains("refused"), "{stderr}");

    // A server on a busy address says which address, then why.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let (code, stderr) = run_to_end(&["server", "--bind", &busy_addr]);
    assert_eq!(code, 1);
    let expected = format!("chatroom: error: cannot listen on {busy_addr}: ");
    assert!(stderr.lines().any(|l| l.starts_with(&expected) && l.contains("in use")), "{stderr}");
}

#[test]
fn a_replayed_message_is_dropped_with_a_printed_warning() {
    let server = common::default_server();
    let via = common::proxy(server.local_addr(), |msg| match msg {
        ServerMsg::Chat { .. } => vec![msg.clone(), msg],
        other => vec![other],
    });
    let mut bob = Proc::client(&via.to_string(), &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut alice = common::TestClient::join(server.local_addr(), "alice", 0);
    alice.wait_joined("bob");
    alice.send_text("bob", "only once");
    bob.expect_line("[CHAT] alice: only once");
    let warning = bob.expect("a warning", |l| l.starts_with("Warning:"));
    assert!(warning.contains("replayed"), "{warning}");
    // Control characters cannot reach bob's terminal.
    alice.send_text("bob", "\x1b[2Jcleared?\nfake line");
    bob.expect_line("[CHAT] alice: \\u{1b}[2Jcleared?\\u{a}fake line");
    server.shutdown();
}

#[test]
fn make_videos_bench_writes_the_h264_benchmark_video() {
    let dir = common::temp_dir("benchvid");
    let status = Command::new(BIN)
        .args(["make-videos", dir.to_str().unwrap(), "--bench", "--frames", "12"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    use chatroom::video::catalog::scan;
    use chatroom::video::opencv::OpenCv;
    use chatroom::video::source::{Engine, JpegEncoder, Reader};
    let (catalog, warnings) = scan(&dir, Engine::Ffmpeg).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    // Both engines read the same sizes, lengths and rates from the files' headers.
    let (by_opencv, _) = scan(&dir, Engine::Plugged(&OpenCv)).unwrap();
    assert_eq!(format!("{:?}", catalog.videos), format!("{:?}", by_opencv.videos));
    let bench = catalog.find("bench").expect("a video named bench");
    let sizes: Vec<(&str, u32, u32, u32)> =
        bench.files.iter().map(|f| (f.label.as_str(), f.width, f.height, f.frames)).collect();
    assert_eq!(sizes, [("240p", 320, 240, 12), ("480p", 640, 480, 12), ("720p", 1280, 720, 12)]);
    let hd = catalog.find("hd").expect("a video named hd");
    assert_eq!((hd.files.len(), hd.files[0].width, hd.files[0].height), (1, 1920, 1080));
    for file in bench.files.iter().chain(&hd.files) {
        // H.264 in MP4: the sample entry is `avc1` (MPEG-4 part 2 would be `mp4v`).
        let bytes = std::fs::read(&file.path).unwrap();
        assert!(bytes.windows(4).any(|w| w == b"avc1"), "{} is not H.264", file.path.display());
        // The texture leaves the frame index readable; both decoders seek to the exact frame
        // (H.264 reorders frames: the FFmpeg reader places them by their timestamps).
        for engine in [Engine::Plugged(&OpenCv), Engine::Ffmpeg] {
            let mut reader = Reader::open(&file.path, 7, engine).unwrap();
            let mut jpeg = JpegEncoder::new(90);
            for expected in [7, 8] {
                let image = chatroom::video::opencv::decode_jpeg(
                    jpeg.encode(&reader.read().unwrap()).unwrap(),
                )
                .unwrap();
                let index = chatroom::video::demo::read_demo_index(&image).unwrap();
                assert_eq!(index, expected, "{} with {engine:?}", file.path.display());
            }
        }
    }
}

#[test]
fn help_names_every_flag_and_the_defaults_users_script_against() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&["--help"]);
    assert_eq!(
        top.lines().next(),
        Some(
            "A terminal chat room with end-to-end encrypted direct messages and video \
             streaming over TCP."
        )
    );
    let server = help(&["server", "--help"]);
    for flag in [
        "--bind <BIND>",
        "[default: 127.0.0.1:1234]",
        "--videos <VIDEOS>",
        "[default: videos]",
        "--jpeg-quality <JPEG_QUALITY>",
        "[default: 90]",
        "--no-pace",
        "--max-clients <MAX_CLIENTS>",
        "[default: 1024]",
        "--cache-mb <CACHE_MB>",
        "[default: 256]",
        "--chat-rate <CHAT_RATE>",
        "--join-rate <JOIN_RATE>",
        "[default: 10]",
        // SPEC §3 spells the original's engine `opencv`.
        "- ffmpeg: ",
        "- opencv: ",
    ] {
        assert!(server.contains(flag), "server --help lacks {flag}:\n{server}");
    }
    let client = help(&["client", "--help"]);
    for flag in [
        "--server <SERVER>",
        "--name <NAME>",
        "--headless",
        "--save-frames <DIR>",
        "--key-bits <KEY_BITS>",
        "[default: 2048]",
        "--trace",
    ] {
        assert!(client.contains(flag), "client --help lacks {flag}:\n{client}");
    }
    assert!(help(&["--version"]).starts_with("chatroom "));
}

/// What a hostile server (or anyone between it and bob) sends bob, on top of the real traffic:
/// a user whose name would clear the screen, an error that would write the clipboard (OSC 52),
/// a frame of a resolution not in the plan, one labelled like a path, and one far past the
/// announced timeline.
fn hostile(msg: ServerMsg) -> Vec<ServerMsg> {
    use chatroom::wire::{ErrorCode, User};
    match msg {
        ServerMsg::Joined(user) => {
            let evil = User { name: "ev\x1b[2Jil".into(), key: user.key.clone() };
            let clipboard = "\x1b]52;c;aGk=\x07gotcha\u{202e}txt.exe".to_string();
            vec![
                ServerMsg::Joined(user),
                ServerMsg::Joined(evil),
                ServerMsg::Error { code: ErrorCode::UnknownUser, text: clipboard },
            ]
        }
        ServerMsg::Frame { index: 3, jpeg, .. } => {
            vec![ServerMsg::Frame { index: 3, label: "999p".into(), jpeg }]
        }
        ServerMsg::Frame { index: 4, jpeg, .. } => {
            vec![ServerMsg::Frame { index: 4, label: "/../../escape".into(), jpeg }]
        }
        ServerMsg::Frame { index: 5, label, jpeg } => {
            vec![ServerMsg::Frame { index: 50_000, label, jpeg }]
        }
        other => vec![other],
    }
}

#[test]
fn hostile_text_never_reaches_the_terminal_and_frames_stay_in_their_folder() {
    let videos = common::videos_dir(25.0, 9);
    let server = common::start_server(chatroom::config::ServerConfig {
        videos,
        pace: false,
        ..Default::default()
    });
    let via = common::proxy(server.local_addr(), hostile);
    let frames = common::temp_dir("hostile-frames");
    let mut bob = Proc::client(
        &via.to_string(),
        &["--name", "bob", "--headless", "--save-frames", frames.to_str().unwrap()],
    );
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let alice = common::TestClient::join(server.local_addr(), "alice", 0);
    bob.expect_line("[JOINED] alice");
    bob.expect("the injected error, escaped", |l| {
        l == "Error: \\u{1b}]52;c;aGk=\\u{7}gotcha\\u{202e}txt.exe"
    });
    bob.type_line("2");
    bob.type_line("1 144p");
    bob.expect("the end of the stream", |l| l.starts_with("Stream ended: "));
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);
    let out = bob.rest();
    // Not one raw escape or bidi override reached bob's terminal; the user with a bad name was
    // not added to his directory.
    assert!(out.iter().all(|l| !l.contains(['\x1b', '\x07', '\u{202e}'])), "{out:?}");
    assert!(out.iter().any(|l| l.starts_with("Warning: ignored a user")), "{out:?}");
    assert!(!out.iter().any(|l| l.starts_with("[JOINED] ev")), "{out:?}");
    // Only planned labels and indexes on the timeline were written, inside the folder.
    let mut names: Vec<String> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let expected: Vec<String> =
        [0, 1, 2, 6, 7, 8].iter().map(|i| format!("{i:06}_144p.jpg")).collect();
    assert_eq!(names, expected);
    assert!(!frames.parent().unwrap().join("escape.jpg").exists());
    alice.quit();
    server.shutdown();
}

#[test]
fn a_closed_stdout_ends_the_client_quietly() {
    // `chatroom client | head -1`: the reader goes away; the client's next line finds the pipe
    // closed. It must end, quietly, with status 0: no panic message, no hang.
    let server = common::default_server();
    let mut child = Command::new(BIN)
        .args(["client", "--server", &server.local_addr().to_string(), "--name", "bob"])
        .args(["--key-bits", "1024", "--ephemeral"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("Welcome, bob!"), "{first}");
    drop(stdout);
    let mut stdin = child.stdin.take().unwrap();
    // The user list and the prompts now go to a closed pipe.
    let _ = writeln!(stdin, "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the client hangs on a closed stdout");
        thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    server.shutdown();
}

#[test]
fn trace_explains_its_tags_once_and_counts_frames_and_the_server_logs_each_relay() {
    let videos = common::videos_dir(25.0, 31);
    let logs = common::temp_dir("trace-logs");
    let server_log = std::fs::File::create(logs.join("server.log")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mut server = Command::new(BIN)
        .args(["server", "--bind", &addr, "--videos", videos.to_str().unwrap(), "--no-pace"])
        .args(["--db", ":memory:", "--min-key-bits", "1024"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(server_log)
        .spawn()
        .unwrap();
    assert!(
        common::eventually(Duration::from_secs(10), || std::net::TcpStream::connect(&addr).is_ok())
    );
    let mut bob = Proc::client(&addr, &["--name", "bob"]);
    // bob is in before alice looks for him.
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut alice = Command::new(BIN)
        .args(["client", "--server", &addr, "--name", "alice", "--key-bits", "1024", "--ephemeral"])
        .args(["--headless", "--trace"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(alice.stdin.as_mut().unwrap(), "2\n1").unwrap();
    // The stream plays in the background: wait for its end before chatting and quitting.
    let mut stdout = BufReader::new(alice.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.starts_with("Stream ended: ") {
        line.clear();
    }
    writeln!(alice.stdin.as_mut().unwrap(), "1\nbob\nsecret words\nQUIT\n3").unwrap();
    thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let out = alice.wait_with_output().unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert_eq!(trace.lines().filter(|l| l.contains("FRAM video frames")).count(), 1, "{trace}");
    // 31 frames, counted in summary lines, never one line each.
    let counted: u32 = trace
        .lines()
        .filter_map(|l| l.strip_prefix("[trace] <- FRAM x"))
        .map(|rest| rest.split(',').next().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(counted, 31, "{trace}");
    assert!(!trace.lines().any(|l| l.starts_with("[trace] <- FRAM ") && l.contains("bytes")));
    drop(bob);
    let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
    let _ = server.wait();
    let log = std::fs::read_to_string(logs.join("server.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("relay alice -> bob: ") && l.ends_with(" bytes")),
        "{log}"
    );
    assert!(!log.contains("secret words"));
}

#[test]
fn a_slow_typist_is_not_thrown_out_before_a_name() {
    // A server whose handshake deadline is 1 s: typing a name takes longer than that.
    let server = common::start_server(chatroom::config::ServerConfig {
        handshake_timeout: Duration::from_secs(1),
        ..Default::default()
    });
    let addr = server.local_addr().to_string();
    let mut first = Proc::client(&addr, &[]);
    first.expect_line("Enter your username : ");
    thread::sleep(Duration::from_millis(1500));
    first.type_line("bob");
    first.expect("the welcome", |l| l.starts_with("Welcome, bob!"));
    // (A slow second try after a refused name, on a terminal: tty.rs.) A name against the
    // rules is refused before anything is sent, with the rules.
    let mut third = Proc::client(&addr, &[]);
    third.expect_line("Enter your username : ");
    third.type_line(&"z".repeat(40));
    assert_eq!(third.wait(), 2);
    let said = third.errors();
    assert!(said.contains("was refused: invalid name"), "{said}");
    assert!(said.contains("1-32 letters, digits, _ . -"), "{said}");
    server.shutdown();
}

#[test]
fn the_server_raises_its_file_limit_and_fits_max_clients_to_it() {
    // Soft limit 200, hard 300: the server takes all 300 and says how many clients fit.
    let script = format!(
        "ulimit -Sn 200 && ulimit -Hn 300 && exec {BIN} server --bind 127.0.0.1:0 --db :memory:"
    );
    let mut server = Command::new("sh")
        .args(["-c", &script])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(server.stderr.take().unwrap());
    let warning = std::io::BufRead::lines(stderr)
        .map_while(Result::ok)
        .find(|l| l.contains("open files"))
        .unwrap_or_default();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.id())).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(warning.contains("may open 300 (ulimit -n): serving at most 236 clients"), "{warning}");
    let files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert_eq!(files.split_whitespace().nth(3), Some("300"), "{files}");
}

#[test]
fn an_idle_client_answers_the_servers_pings_and_stays() {
    let config = chatroom::config::ServerConfig {
        ping_after: Duration::from_millis(200),
        ping_grace: Duration::from_millis(300),
        ..Default::default()
    };
    let server = common::start_server(config);
    let addr = server.local_addr().to_string();
    let mut bob = Proc::client(&addr, &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // Ten times the time a silent client is given.
    thread::sleep(Duration::from_secs(5));
    let mut alice = common::TestClient::join(server.local_addr(), "alice", 0);
    alice.wait_joined("bob");
    alice.send_text("bob", "still with us?");
    bob.expect_line("[CHAT] alice: still with us?");
}

/// What a confused server sends bob: its video list replaced by a refusal, and each `SENT`
/// twice.
fn confused(msg: ServerMsg) -> Vec<ServerMsg> {
    use chatroom::wire::ErrorCode;
    match msg {
        ServerMsg::VideoList(_) => {
            vec![ServerMsg::Error { code: ErrorCode::RateLimited, text: "slow down".into() }]
        }
        sent @ ServerMsg::Sent { .. } => vec![sent.clone(), sent],
        other => vec![other],
    }
}

#[test]
fn an_error_answering_a_request_ends_its_wait_and_an_unasked_reply_is_shown_not_eaten() {
    let server = common::default_server();
    let via = common::proxy(server.local_addr(), confused);
    let mut bob = Proc::client(&via.to_string(), &["--name", "bob", "--headless"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut alice = common::TestClient::join(server.local_addr(), "alice", 0);
    bob.expect_line("[JOINED] alice");
    // The refusal answers the list request: said, and the menu is back (the client used to
    // wait out its 10 s, then say the list never came).
    bob.type_line("2");
    bob.expect_line("Error: slow down");
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // The first SENT answers the message; the second answers nothing and is said all the same.
    for line in ["1", "alice", "hello twice"] {
        bob.type_line(line);
    }
    assert_eq!(alice.next_chat(), ("bob".to_string(), Ok("hello twice".to_string())));
    bob.expect_line("The server took your earlier message to alice after all.");
    for line in ["QUIT", "3"] {
        bob.type_line(line);
    }
    assert_eq!(bob.wait(), 0);
    let out = bob.rest();
    assert!(!out.iter().any(|l| l.contains("did not send its video list")), "{out:?}");
    alice.quit();
    server.shutdown();
}

#[test]
fn the_default_server_runs_without_opencv_and_opencv_is_loaded_only_when_asked() {
    // What a process has mapped: its libraries (and its program) by file name.
    let mapped = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let videos = common::videos_dir(30.0, 6);
    let videos = videos.to_str().unwrap();
    let (mut lean, addr) = server(&["--videos", videos]);
    let maps = mapped(lean.child.id());
    // `chatroom server` became `chatroom-server` (same process), which maps no OpenCV module
    // that reads or writes video or images, nor what those load (GDAL, Qt).
    assert!(maps.contains("/chatroom-server"), "not the lean server:\n{maps}");
    for heavy in ["libopencv_videoio", "libopencv_imgcodecs", "libopencv_highgui", "libgdal"] {
        assert!(!maps.contains(heavy), "{heavy} is loaded");
    }
    // It serves video all the same.
    let mut viewer = Proc::client(&addr, &["--name", "viewer", "--headless"]);
    viewer.type_line("2\nclip");
    viewer.expect("the end of the stream", |l| l.starts_with("Stream ended: 6 frames"));
    viewer.type_line("3");
    assert_eq!(viewer.wait(), 0);
    lean.interrupt();
    assert_eq!(lean.wait(), 0);
    // The original's engine is OpenCV: that server loads it.
    let (mut full, _) = server(&["--videos", videos, "--decoder", "opencv"]);
    let maps = mapped(full.child.id());
    assert!(!maps.contains("/chatroom-server") && maps.contains("libopencv_videoio"), "{maps}");
    full.interrupt();
    assert_eq!(full.wait(), 0);
}
