//! A `chatroom` process driven through its pipes, as a user's script would: lines typed on
//! stdin, lines read from stdout.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_chatroom");

/// A running `chatroom` process whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    /// Everything written to stderr so far.
    errors: Arc<Mutex<String>>,
}

impl Proc {
    pub fn start(args: &[&str]) -> Proc {
        Proc::start_with(args, &[])
    }

    /// Starts `chatroom ARGS` with more environment variables (`XDG_CONFIG_HOME`, say).
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Proc {
        Proc::start_command(BIN, args, env)
    }

    /// Starts `program ARGS` (a wrapper such as `faketime`, or `chatroom` itself).
    pub fn start_command(program: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let errors = Arc::new(Mutex::new(String::new()));
        let kept = errors.clone();
        thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                kept.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Proc { child, stdin, lines, seen: Vec::new(), errors }
    }

    pub fn client(addr: &str, extra: &[&str]) -> Proc {
        let mut args = vec!["client", "--server", addr, "--key-bits", "1024", "--ephemeral"];
        args.extend_from_slice(extra);
        Proc::start(&args)
    }

    /// What the process has written to stderr so far.
    pub fn errors(&self) -> String {
        self.errors.lock().unwrap().clone()
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a line that satisfies `pred`; panics with everything seen if none comes.
    pub fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "never saw {what}; output was:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.errors()
                ),
            }
        }
    }

    pub fn expect_line(&mut self, exact: &str) {
        self.expect(exact, |l| l == exact);
    }

    /// Waits until every one of `lines` has been printed, in any order.
    pub fn expect_all(&mut self, lines: &[String]) {
        let mut left: Vec<&String> = lines.iter().collect();
        while !left.is_empty() {
            let what = format!("{left:?}");
            let line = self.expect(&what, |l| left.iter().any(|want| *want == l));
            left.retain(|want| **want != line);
        }
    }

    /// Everything printed until the process closes stdout.
    pub fn rest(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "process did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `chatroom server` on a free port and returns it with its address.
pub fn server(extra: &[&str]) -> (Proc, String) {
    let mut args =
        vec!["server", "--bind", "127.0.0.1:0", "--db", ":memory:", "--min-key-bits", "1024"];
    args.extend_from_slice(extra);
    let mut server = Proc::start(&args);
    let line = server.expect("the listening line", |l| l.starts_with("Server listening on "));
    let addr = line.trim_start_matches("Server listening on ").to_owned();
    (server, addr)
}

/// `chatroom server` keeping its names and mailboxes in the SQLite file `db`.
pub fn server_at(db: &std::path::Path) -> (Proc, String) {
    let db = db.to_str().unwrap();
    let mut server =
        Proc::start(&["server", "--bind", "127.0.0.1:0", "--db", db, "--min-key-bits", "1024"]);
    let line = server.expect("the listening line", |l| l.starts_with("Server listening on "));
    (server, line.trim_start_matches("Server listening on ").to_owned())
}

/// A client named `name` whose config folder is `config` (keys, pins, sequence numbers).
pub fn client_at(addr: &str, config: &std::path::Path, name: &str) -> Proc {
    let args = ["client", "--server", addr, "--key-bits", "1024", "--name", name];
    Proc::start_with(&args, &[("XDG_CONFIG_HOME", config.to_str().unwrap())])
}

/// Sends `signal` (`STOP`, `CONT`, `KILL`...) to the process.
pub fn signal(p: &Proc, signal: &str) {
    let pid = p.child.id().to_string();
    let ok = Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success();
    assert!(ok, "kill -{signal} {pid}");
}

/// The texts of the `[CHAT] FROM: TEXT` lines among `lines`, in order, a line shown again
/// after the client's word that it may be a repeat (it was killed between printing it and
/// noting it printed: docs/PROTOCOL.md, "The delivery guarantee") counted once.
pub fn chats_once_said(lines: &[String], from: &str) -> Vec<String> {
    let prefix = format!("[CHAT] {from}: ");
    let mut shown: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(text) = line.strip_prefix(&prefix) else { continue };
        let said = i > 0 && lines[i - 1] == chatroom::client::core::CUT_OFF;
        if !(said && shown.iter().any(|s| s == text)) {
            shown.push(text.to_owned());
        }
    }
    shown
}

/// The texts of the `[CHAT] FROM: TEXT` lines among `lines`, in order.
pub fn chats_from(lines: &[String], from: &str) -> Vec<String> {
    let prefix = format!("[CHAT] {from}: ");
    lines.iter().filter_map(|l| l.strip_prefix(&prefix)).map(str::to_owned).collect()
}
