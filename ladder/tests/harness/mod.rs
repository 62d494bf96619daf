//! What the ladder's bug probes drive: real `chatroom-step` processes (a server on a free
//! loopback port, clients fed lines on their standard input, as the original's users type
//! them), a TCP proxy between a client and the server that can count, rewrite or repeat bytes,
//! and videos written for each probe. Nothing here knows a step's protocol.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chatroom-step");

/// Lines a process printed (stdout and stderr), read as they come.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn follow(&self, out: impl Read + Send + 'static) {
        let lines = self.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).split(b'\n') {
                let Ok(line) = line else { break };
                let mut all = lines.0.lock().unwrap();
                // A client that spins prints without end: keep the first lines and a window.
                if all.len() > 20_000 {
                    all.drain(10_000..15_000);
                }
                all.push(String::from_utf8_lossy(&line).into_owned());
            }
        });
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|l| pred(l)).count()
    }

    /// The first line that matches, waiting up to `timeout` for it.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.0.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `chatroom-step` process; killed when dropped.
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: Lines,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chatroom-step starts");
        let lines = Lines::default();
        lines.follow(child.stdout.take().unwrap());
        lines.follow(child.stderr.take().unwrap());
        Proc { stdin: child.stdin.take(), child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn type_line(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes());
            let _ = stdin.flush();
        }
    }

    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.lines.wait_for(timeout, pred)
    }

    /// `kill -STOP` / `-CONT` / `-KILL`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.pid().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal}");
    }

    /// CPU seconds the process has used (user and system), from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.pid().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A step's server on a free loopback port, serving `videos`.
pub struct Server {
    pub proc: Proc,
    pub addr: String,
}

impl Server {
    pub fn start(step: usize, videos: &Path) -> Server {
        let n = step.to_string();
        let args = [&n, "server", "--bind", "127.0.0.1:0", "--videos", videos.to_str().unwrap()];
        let proc = Proc::start(&args);
        let line = proc
            .wait_for(Duration::from_secs(10), |l| l.starts_with("listening on "))
            .unwrap_or_else(|| {
                panic!("step {step}'s server did not start: {:?}", proc.lines.all())
            });
        let addr = line["listening on ".len()..].trim().to_owned();
        Server { proc, addr }
    }

    /// The server's `stream ended for NAME: SENT of ANNOUNCED frames sent` line.
    pub fn stream_end(&self, name: &str, timeout: Duration) -> Option<(u32, u32)> {
        let prefix = format!("stream ended for {name}: ");
        let line = self.proc.wait_for(timeout, |l| l.starts_with(&prefix))?;
        let mut numbers = line[prefix.len()..].split(' ').filter_map(|w| w.parse().ok());
        Some((numbers.next()?, numbers.next()?))
    }
}

/// A step's client, joined to `addr` (directly, or through `proxy`) as `name`.
pub struct Client {
    pub proc: Proc,
    pub name: String,
    pub proxy: Option<Proxy>,
}

/// What a client prints when it is at the home menu, in every step.
pub const MENU: &str = "Home: pick a service.";
/// What every step's chat prints before the user list.
pub const USERS: &str = "-- users --";

impl Client {
    /// Started and given its name; not waited for.
    pub fn start(step: usize, addr: &str, name: &str, proxy: Option<Proxy>) -> Client {
        let n = step.to_string();
        let server = proxy.as_ref().map_or(addr, |p| &p.addr).to_owned();
        let mut proc = Proc::start(&[&n, "client", "--server", &server]);
        proc.type_line(name);
        Client { proc, name: name.into(), proxy }
    }

    /// Started, and at its home menu.
    pub fn join(step: usize, addr: &str, name: &str) -> Client {
        Client::join_via(step, addr, name, None)
    }

    pub fn join_via(step: usize, addr: &str, name: &str, proxy: Option<Proxy>) -> Client {
        let c = Client::start(step, addr, name, proxy);
        c.proc
            .wait_for(Duration::from_secs(10), |l| l.contains(MENU))
            .unwrap_or_else(|| panic!("{name} did not join step {step}: {:?}", c.proc.lines.all()));
        c
    }

    pub fn type_line(&mut self, line: &str) {
        self.proc.type_line(line);
    }

    /// `1` at the menu, then waits for the user list (and a moment more: step 0 has no
    /// framing, and a message typed at once would reach the server glued to the `[CHAT]`).
    pub fn enter_chat(&mut self) {
        let before = self.proc.lines.count(|l| l.contains(USERS));
        self.type_line("1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.proc.lines.count(|l| l.contains(USERS)) == before {
            assert!(Instant::now() < deadline, "{}: no user list", self.name);
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(200));
    }

    /// A recipient line, then a message line.
    pub fn say(&mut self, to: &str, text: &str) {
        self.type_line(to);
        self.type_line(text);
    }

    /// How many lines show `FROM : TEXT`, the original's form of a received chat.
    pub fn shown(&self, from: &str, text: &str) -> usize {
        let wanted = format!("{from} : {text}");
        self.proc.lines.count(|l| l.contains(&wanted))
    }

    pub fn waits_for_chat(&self, from: &str, text: &str, timeout: Duration) -> bool {
        let wanted = format!("{from} : {text}");
        self.proc.wait_for(timeout, |l| l.contains(&wanted)).is_some()
    }

    /// `2` at the menu, then the names of the video list that shows (lines `N. NAME...`),
    /// once an entry whose name matches `until` has come (and a moment for the rest); `None`
    /// if none came.
    pub fn list_videos(&mut self, until: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let before = self.proc.lines.all().len();
        self.type_line("2");
        let listed = |l: &str| video_entry(l).is_some_and(|(_, name)| until(name));
        self.proc.wait_for(Duration::from_secs(5), |l| listed(l))?;
        thread::sleep(Duration::from_millis(200));
        let lines = self.proc.lines.all();
        Some(lines[before..].iter().filter_map(|l| Some(video_entry(l)?.1.to_owned())).collect())
    }

    /// `2` at the menu, then the number the video list gives `video` (a line `N. video`,
    /// perhaps with more after the name). `None` when no such line came.
    pub fn stream(&mut self, video: &str) -> Option<Vec<String>> {
        let list = self.list_videos(|name| name == video)?;
        let n = list.iter().position(|name| name == video)? + 1;
        self.type_line(&n.to_string());
        Some(list)
    }

    /// The frame lines shown: `(width, height)` of each, in order.
    pub fn frames(&self) -> Vec<(u32, u32)> {
        let size = |l: &str| {
            let (_, size) = l.split_once("frame ")?.1.split_once(": ")?;
            let (w, h) = size.split_whitespace().last()?.split_once('x')?;
            Some((w.parse().ok()?, h.parse().ok()?))
        };
        self.proc.lines.all().iter().filter_map(|l| size(l)).collect()
    }
}

/// `N. NAME...` of a video list: its number and the name. The entry may follow a prompt on
/// the same line (prompts end without a newline).
pub fn video_entry(line: &str) -> Option<(usize, &str)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.windows(2).find_map(|w| Some((w[0].strip_suffix('.')?.parse().ok()?, w[1])))
}

/// What a proxy does to the bytes it carries, beyond carrying them.
#[derive(Default, Clone)]
pub struct Tamper {
    /// In the client's first bytes, this string replaced by another of the same length.
    pub rename: Option<(&'static str, &'static str)>,
    /// Every read from the client of more than 64 bytes holding `CHAT` is sent twice.
    pub repeat_chats: bool,
    /// The connection to the server gets a 64 KiB receive buffer (no autotuning), so that a
    /// pause (`Proxy::pause`) fills the server's side within a few frames.
    pub small_buffer: bool,
}

/// A TCP proxy in front of the server for one client: it counts the bytes the server sends
/// that client, and may tamper with what the client sends (`Tamper`). A read from the server
/// that starts with `STLI` and holds more is passed on in two writes, the 8-byte header first:
/// step 0 reads its video list's header and the list with two `recv`s, and without framing
/// the two often arrive as one read, which that client cannot parse (a bug of its own, the
/// first row of the table): the probes that need the list would otherwise see that bug.
pub struct Proxy {
    pub addr: String,
    pub down: Arc<AtomicUsize>,
    paused: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(server: &str, tamper: Tamper) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (down, paused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (server, counted, stop) = (server.to_owned(), down.clone(), paused.clone());
        thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else { return };
            let Ok(upstream) = connect(&server, tamper.small_buffer) else { return };
            let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            thread::spawn(move || pump_down(u2, c2, &counted, &stop));
            pump_up(client, upstream, &tamper);
        });
        Proxy { addr, down, paused }
    }

    /// Stops reading from the server (as a client that stops reading), or reads again.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    pub fn bytes_down(&self) -> usize {
        self.down.load(Ordering::SeqCst)
    }
}

fn connect(server: &str, small_buffer: bool) -> std::io::Result<TcpStream> {
    let addr: std::net::SocketAddr = server.parse().expect("an address");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if small_buffer {
        socket.set_recv_buffer_size(64 * 1024)?;
    }
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

fn pump_down(mut from: TcpStream, mut to: TcpStream, counted: &AtomicUsize, paused: &AtomicBool) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        while paused.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
        let Ok(n @ 1..) = from.read(&mut buf) else { break };
        counted.fetch_add(n, Ordering::SeqCst);
        let chunk = &buf[..n];
        let sent = if chunk.starts_with(b"STLI") && n > 8 {
            to.write_all(&chunk[..8]).is_ok() && {
                thread::sleep(Duration::from_millis(50));
                to.write_all(&chunk[8..]).is_ok()
            }
        } else {
            to.write_all(chunk).is_ok()
        };
        if !sent {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

fn pump_up(mut from: TcpStream, mut to: TcpStream, tamper: &Tamper) {
    let mut buf = vec![0; 64 * 1024];
    let mut first = true;
    while let Ok(n @ 1..) = from.read(&mut buf) {
        let mut chunk = buf[..n].to_vec();
        if let Some((old, new)) = tamper.rename.filter(|_| first)
            && let Some(at) = chunk.windows(old.len()).position(|w| w == old.as_bytes())
        {
            chunk[at..at + old.len()].copy_from_slice(new.as_bytes());
            first = false;
        }
        if to.write_all(&chunk).is_err() {
            break;
        }
        if tamper.repeat_chats && n > 64 && chunk.windows(4).any(|w| w == b"CHAT") {
            thread::sleep(Duration::from_millis(50));
            let _ = to.write_all(&chunk);
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A fresh folder for one probe's videos (probes run at once: each has its own).
pub fn video_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("ladder-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `NAME_LABEL.mp4` in `dir`: `frames` frames of `size` at `fps`, the frame number and label
/// drawn in; `textured` adds detail, so each frame's JPEG is large.
pub fn video(dir: &Path, name: &str, label: &str, size: (i32, i32), frames: u32, textured: bool) {
    let path = dir.join(format!("{name}_{label}.mp4"));
    let codec = chatroom::video::demo::Codec::Mpeg4;
    chatroom::video::demo::write_demo_video(
        &path, name, label, size, 50.0, frames, codec, textured,
    )
    .unwrap();
}
