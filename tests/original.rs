//! The bench's original-protocol clients against the real Python original, when there is one:
//! `ORIGINAL_DIR` names its repository (or a folder of its files), and `ORIGINAL_PYTHON` a Python
//! with `rsa` and `opencv-python-headless` (default: the venv `make compare` makes, else
//! `python3`). Without `ORIGINAL_DIR` the test says it was skipped, and passes.
//!
//! It checks what the original's source predicts: a stream of a 31-frame video in three
//! resolutions is announced as 31 frames and sent as 32 (the remainder loop resends frame 0), and
//! paced chat arrives whole.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chatroom::bench::{ChatBench, ChatMode, StreamBench, original};

const ADDR: &str = "127.0.0.1:1234";

struct Original(Child);

impl Drop for Original {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3
            && fields[3] == "0A"
            && fields[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok())
                == Some(port)
    })
}

/// Starts the original in `dir`, on loopback (a sitecustomize pins its host name's address).
fn start(dir: &Path, python: &str) -> Original {
    let shim = dir.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(
        shim.join("sitecustomize.py"),
        "import socket\nsocket.gethostname = lambda: 'localhost'\n\
         _bind = socket.socket.bind\n\
         def _b(self, a):\n    self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n    \
         return _bind(self, a)\nsocket.socket.bind = _b\n",
    )
    .unwrap();
    let child = Command::new(python)
        .args(["-u", "210030039_server.py"])
        .current_dir(dir)
        .env("PYTHONPATH", &shim)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let server = Original(child);
    assert!(common::eventually(Duration::from_secs(10), || listening(1234)), "it never listened");
    server
}

/// The original's three files, from its repository at the pinned commit or from a folder.
fn unpack(original: &str, dir: &Path) {
    for name in ["210030039_server.py", "210030039_client.py", "utils.py"] {
        let from_git = Command::new("git")
            .args(["-C", original, "show", &format!("de5e0f5:{name}")])
            .output()
            .ok()
            .filter(|o| o.status.success());
        match from_git {
            Some(out) => std::fs::write(dir.join(name), out.stdout).unwrap(),
            None => {
                std::fs::copy(Path::new(original).join(name), dir.join(name)).unwrap();
            }
        }
    }
}

#[test]
fn the_bench_speaks_the_real_original_and_sees_what_its_source_predicts() {
    let Ok(original_dir) = std::env::var("ORIGINAL_DIR") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the test against the Python original: set ORIGINAL_DIR to its repository \
             (scripts/fetch-original.sh clones it) to run it."
        );
        return;
    };
    let default_python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/compare/venv/bin/python");
    let python = std::env::var("ORIGINAL_PYTHON").unwrap_or_else(|_| {
        if default_python.exists() {
            default_python.display().to_string()
        } else {
            "python3".into()
        }
    });
    assert!(!listening(1234), "{ADDR} is in use: the original's port must be free");
    let dir = common::temp_dir("original");
    unpack(&original_dir, &dir);
    for (label, size) in [("144p", (256, 144)), ("240p", (426, 240)), ("360p", (640, 360))] {
        common::write_video(&dir, "clip", label, size, 25.0, 31);
    }

    let server = start(&dir, &python);
    let stream =
        original::stream(&StreamBench { server: ADDR.into(), clients: 1, video: "clip".into() })
            .expect("a stream from the original");
    assert_eq!(stream.announced, 31);
    // 31 frames over 3 files: 1 frame 0 resent, then 11 + 11 frames, then the last file runs
    // out after 9 (server 114-154).
    assert_eq!(stream.frames, 32);
    drop(server);

    let server = start(&dir, &python);
    let chat = original::chat(&ChatBench {
        server: ADDR.into(),
        clients: 3,
        messages: 20,
        senders: 3,
        mode: ChatMode::Relay,
        rate: 20,
        key_bits: 1024,
        wait: Duration::from_secs(5),
        hold: Duration::ZERO,
    })
    .expect("chat through the original");
    assert_eq!((chat.sent, chat.delivered, chat.corrupted), (60, 60, 0));
    drop(server);
}
