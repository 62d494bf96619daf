//! What got in a new user's way (issue 34), each through the real binary: the server tried
//! before a name is asked for, addresses as `host[:port]`, a missing videos folder said at
//! the start, and a port probe kept out of the warnings.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use chatroom::config::ServerConfig;
use common::proc::{BIN, Proc};
use common::start_server;

/// `chatroom ARGS` with stdin `input`, run to its end: exit status, stdout, stderr.
fn run_with_input(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn with_no_server_the_client_says_so_before_asking_a_name() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, stdout, stderr) =
        run_with_input(&["client", "--server", &addr.to_string(), "--ephemeral"], "alice\n");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!stdout.contains("Enter your username"), "asked first: {stdout}");
    assert!(
        stderr.starts_with(&format!("chatroom: error: cannot connect to {addr}: ")),
        "{stderr}"
    );
}

#[test]
fn a_name_typed_after_the_servers_handshake_deadline_still_joins() {
    let server = start_server(ServerConfig {
        handshake_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    });
    let addr = server.local_addr().to_string();
    let mut alice =
        Proc::start(&["client", "--server", &addr, "--key-bits", "1024", "--ephemeral"]);
    // The connection made at the start is cut by the server meanwhile.
    std::thread::sleep(Duration::from_millis(2500));
    alice.type_line("alice");
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
}

#[test]
fn addresses_are_host_and_port_with_a_default_port() {
    // A name and no port: the default port (1234) is the one tried.
    let (code, _, stderr) = run_with_input(&["client", "--server", "127.0.0.1", "--name", "x"], "");
    if code == 1 {
        let expected = "chatroom: error: cannot connect to 127.0.0.1:1234: ";
        assert!(stderr.starts_with(expected), "{stderr}");
    }
    // The server takes a host name, as the client does.
    let args = ["server", "--bind", "localhost:0", "--db", ":memory:", "--min-key-bits", "1024"];
    let mut server = Proc::start(&args);
    let line = server.expect("the listening line", |l| l.starts_with("Server listening on "));
    let addr = line.trim_start_matches("Server listening on ");
    assert!(addr.starts_with("127.0.0.1:") || addr.starts_with("[::1]:"), "{addr}");
    let port = addr.rsplit_once(':').unwrap().1;
    let mut alice = Proc::client(&format!("localhost:{port}"), &["--name", "alice"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("3");
    assert_eq!(alice.wait(), 0);
    server.interrupt();
    // A port that is not one is a usage error, said at once.
    let (code, _, stderr) = run_with_input(&["client", "--server", "host:99999"], "");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not host[:port]"), "{stderr}");
}

#[test]
fn a_missing_videos_folder_is_refused_at_the_start() {
    let db = common::temp_dir("no-videos").join("chatroom.db");
    let db = db.to_str().unwrap();
    let args = ["server", "--bind", "127.0.0.1:0", "--videos", "/nonexistent", "--db", db];
    let (code, stdout, stderr) = run_with_input(&args, "");
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        stderr.trim(),
        "chatroom: error: no videos folder at /nonexistent: pass --videos DIR, or make one with \
         `chatroom make-videos /nonexistent`"
    );
    assert!(!std::path::Path::new(db).exists(), "a database was made");
}

#[test]
fn a_port_probe_is_logged_at_debug_only() {
    let mut server = Command::new(BIN)
        .args(["server", "--bind", "127.0.0.1:0", "--db", ":memory:", "--min-key-bits", "1024"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let addr: std::net::SocketAddr =
        line.trim().trim_start_matches("Server listening on ").parse().unwrap();
    // A probe that closes, and one that resets (as port scanners do), each once the server
    // has taken it.
    let closed = std::net::TcpStream::connect(addr).unwrap();
    let reset = socket2::Socket::from(std::net::TcpStream::connect(addr).unwrap());
    let ports = [
        closed.local_addr().unwrap().port(),
        reset.local_addr().unwrap().as_socket().unwrap().port(),
    ];
    std::thread::sleep(Duration::from_millis(300));
    drop(closed);
    reset.set_linger(Some(Duration::ZERO)).unwrap();
    drop(reset);
    // A client joins after them, and is logged.
    let mut alice = Proc::client(&addr.to_string(), &["--name", "alice"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    alice.type_line("3");
    alice.wait();
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill").args(["-INT", &server.id().to_string()]).status();
    let out = server.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("alice"), "the log: {log}");
    for port in ports {
        assert!(!log.contains(&format!(":{port} ")), "the probe from port {port} logged: {log}");
    }
}

#[test]
fn a_key_one_bit_short_of_the_servers_minimum_is_refused() {
    // The server's default minimum: 2048 bits.
    let mut server = Proc::start(&["server", "--bind", "127.0.0.1:0", "--db", ":memory:"]);
    let line = server.expect("the listening line", |l| l.starts_with("Server listening on "));
    let addr = line.trim_start_matches("Server listening on ");
    let args = ["client", "--server", addr, "--key-bits", "2047", "--ephemeral", "--name", "x"];
    let (code, _, stderr) = run_with_input(&args, "");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("2047-bit key; this server wants at least 2048 bits"), "{stderr}");
}

#[test]
fn a_throwaway_join_says_so_and_its_name_taken_later_warns_only_who_wrote_to_it() {
    let (server, addr) = common::proc::server(&[]);
    let mut alice = Proc::client(&addr, &["--name", "alice"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut carol = Proc::client(&addr, &["--name", "carol"]);
    carol.expect_line("1. CHAT  2. STREAM  3. QUIT");
    let mut tess = Proc::client(&addr, &["--name", "tess"]);
    tess.expect_line(
        "Your key is a throwaway (--ephemeral): the name tess is yours for this session only, \
         and nothing is kept on this machine.",
    );
    // carol writes to tess; alice only sees her in the list.
    for line in ["1", "tess", "hi tess", "QUIT"] {
        carol.type_line(line);
    }
    tess.expect_line("[CHAT] carol: hi tess");
    tess.type_line("3");
    tess.wait();
    // Someone else takes the name, with another key.
    let mut other =
        Proc::start(&["client", "--server", &addr, "--key-bits", "1024", "--ephemeral"]);
    other.type_line("tess");
    other.expect_line("1. CHAT  2. STREAM  3. QUIT");
    carol.expect("the warning", |l| l.starts_with("WARNING: tess's key has CHANGED"));
    alice.expect("one line", |l| l.starts_with("[KEY] tess has a new key "));
    for p in [&mut alice, &mut carol, &mut other] {
        p.type_line("3");
        p.wait();
    }
    let said = alice.rest();
    assert!(!said.iter().any(|l| l.starts_with("WARNING")), "{said:?}");
    server.interrupt();
}

#[test]
fn msg_sends_from_any_prompt_and_query_stays_in_a_conversation() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut bob = common::TestClient::join(addr, "bob", 1);
    let mut alice = Proc::client(&addr.to_string(), &["--name", "alice"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    bob.wait_joined("alice");
    // At the menu, at once, its spaces kept; then the menu again.
    alice.type_line("/msg bob hello  there");
    assert_eq!(bob.next_chat(), ("alice".into(), Ok("hello  there".into())));
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // A conversation: each line a message, until /query alone.
    alice.type_line("/query bob");
    alice.expect_line("Talking with bob: each line is a message; /query alone ends it.");
    for text in ["one", "two", "/join #a b"] {
        alice.type_line(text);
    }
    alice.expect_line("Usage: /join #ROOM");
    alice.type_line("three");
    for text in ["one", "two", "three"] {
        assert_eq!(bob.next_chat(), ("alice".into(), Ok(text.into())));
    }
    alice.type_line("/query");
    alice.expect_line("No longer talking with bob.");
    // At the recipient prompt: /msg, then still at the recipient prompt.
    for line in ["1", "/msg bob from the recipient prompt", "QUIT", "3"] {
        alice.type_line(line);
    }
    assert_eq!(bob.next_chat(), ("alice".into(), Ok("from the recipient prompt".into())));
    assert_eq!(alice.wait(), 0);
    let said = alice.rest();
    let asked = said.iter().filter(|l| l.starts_with("Enter recipient")).count();
    assert_eq!(asked, 2, "the recipient prompt, then again after the /msg: {said:?}");
}

/// A piped script stays in step with room commands: each is answered before the next line
/// is read, and after a command at the message prompt that prompt is asked again.
#[test]
fn piped_room_commands_are_answered_in_order() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut bob = common::TestClient::join(addr, "bob", 1);
    let mut frank = Proc::client(&addr.to_string(), &["--name", "frank"]);
    for line in ["/join #a", "/rooms", "1", "bob", "/rooms", "hello", "QUIT", "3"] {
        frank.type_line(line);
    }
    assert_eq!(bob.next_chat(), ("frank".into(), Ok("hello".into())));
    assert_eq!(frank.wait(), 0);
    let said: Vec<String> = frank.rest().into_iter().skip(2).collect();
    let rooms = ["Your rooms (* online):", "  #a: frank (you)"];
    let menu = "1. CHAT  2. STREAM  3. QUIT";
    let expected: Vec<&str> = [menu, "Joined #a (members: frank)", menu]
        .into_iter()
        .chain(rooms)
        .chain([menu, "Online users:"])
        .collect();
    assert_eq!(said[..expected.len()], expected[..], "{said:?}");
    let at = said.iter().position(|l| l == "Enter message : ").unwrap();
    assert_eq!(said[at + 1..at + 4], [rooms[0], rooms[1], "Enter message : "], "{said:?}");
}

/// Someone joining and leaving over and over is said eight times, then once that they churn,
/// then not for a while: they cannot scroll everyone's screen.
#[test]
fn a_name_that_joins_and_leaves_over_and_over_is_said_a_few_times() {
    let server = start_server(ServerConfig::default());
    let addr = server.local_addr();
    let mut alice = Proc::client(&addr.to_string(), &["--name", "alice"]);
    alice.expect_line("1. CHAT  2. STREAM  3. QUIT");
    for _ in 0..8 {
        common::TestClient::join(addr, "eve", 1).quit();
    }
    // Someone else afterwards is said as usual, and alice has seen all of eve's by then.
    let _bob = common::TestClient::join(addr, "bob", 2);
    alice.expect_line("[JOINED] bob");
    alice.type_line("3");
    alice.wait();
    let about_eve: Vec<String> = alice.seen.iter().filter(|l| l.contains("eve")).cloned().collect();
    // (A join may come before the last session's leave is seen: which lines, not their order.)
    let quiet = chatroom::client::notices::quieten_line("eve");
    assert_eq!(about_eve.len(), 9, "{about_eve:?}");
    assert!(about_eve[..8].iter().all(|l| l == "[JOINED] eve" || l == "[LEFT] eve"));
    assert_eq!(about_eve[8], quiet, "{about_eve:?}");
}

/// A server that lets a look-alike in (here a man in the middle renames eve to `aIice` for
/// bob): bob's client marks the name on its join and on its messages.
#[test]
fn a_look_alike_from_a_lying_server_is_marked() {
    use chatroom::wire::{ServerMsg, User};
    let server = start_server(ServerConfig::default());
    let _alice = common::TestClient::join(server.local_addr(), "alice", 0);
    let rename = |name: String| if name == "eve" { "aIice".to_owned() } else { name };
    let lying = common::proxy(server.local_addr(), move |msg| {
        vec![match msg {
            ServerMsg::Joined(User { name, key }) => {
                ServerMsg::Joined(User { name: rename(name), key })
            }
            ServerMsg::Chat { id, from, envelope } => {
                ServerMsg::Chat { id, from: rename(from), envelope }
            }
            other => other,
        }]
    });
    let mut bob = Proc::client(&lying.to_string(), &["--name", "bob"]);
    bob.expect_line("1. CHAT  2. STREAM  3. QUIT");
    // eve signs as the name bob will be shown, as a server in on it would have her do.
    let eve = common::TestClient::join(server.local_addr(), "eve", 2);
    bob.expect_line("[JOINED] aIice (looks like alice)");
    let to_bob = eve.directory.get("bob").unwrap().clone();
    let mut sealer = chatroom::client::peers::Sealer::new(common::identity(2), "aIice");
    eve.writer.send(&sealer.seal(&to_bob, "it's me, alice").unwrap()).unwrap();
    bob.expect_line("[CHAT] aIice (looks like alice): it's me, alice");
    bob.type_line("3");
    assert_eq!(bob.wait(), 0);
}
