//! A client on a real terminal: tmux runs a command in a pane of a known size, keys are typed
//! with `send-keys`, and the screen is read back with `capture-pane`.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{eventually, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_chatroom");

/// One tmux server (its own socket) with one pane running a command.
pub struct Pane {
    pub socket: String,
}

impl Pane {
    /// Runs `command` (a shell line) in a `cols`x`rows` pane.
    pub fn start(command: &str, cols: u16, rows: u16) -> Pane {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pane = Pane { socket: format!("chatroom-test-{}-{n}", std::process::id()) };
        let (cols, rows) = (cols.to_string(), rows.to_string());
        pane.tmux(&["new-session", "-d", "-x", &cols, "-y", &rows, command]);
        pane
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux is installed (make test-deps)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` (tmux key names, like `Enter` or `Tab`, or literal text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// The screen's text, one string a row.
    pub fn text(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p"]).lines().map(str::to_owned).collect()
    }

    /// The screen with its colours (SGR sequences), one string a row.
    pub fn colored(&self) -> Vec<String> {
        self.tmux(&["capture-pane", "-p", "-e"]).lines().map(str::to_owned).collect()
    }

    /// Waits until some row satisfies `pred`; panics with the screen if none does.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) {
        if !eventually(Duration::from_secs(20), || self.text().iter().any(|l| pred(l))) {
            panic!("never saw {what}; the screen:\n{}", self.text().join("\n"));
        }
    }

    /// The last non-empty row (where the prompt is).
    pub fn last_row(&self) -> String {
        self.text().into_iter().rev().find(|l| !l.trim().is_empty()).unwrap_or_default()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

/// The client command line, run with the given environment, then the exit status and the
/// terminal's settings printed, and a pause so the pane stays to be read.
pub fn client_command(addr: &str, env: &str, extra: &str) -> String {
    format!(
        "stty -g > {dir}/before; env -u DISPLAY {env} {BIN} client --server {addr} --key-bits 1024 --ephemeral \
         {extra}; echo EXIT=$?; stty -g > {dir}/after; sleep 60",
        dir = temp_dir("stty").display()
    )
}

/// alice's client in a `cols`x`rows` pane, past the menu, at the recipient prompt.
pub fn alice_at_recipient_prompt(addr: &str, cols: u16, rows: u16) -> Pane {
    let pane = Pane::start(&client_command(addr, "", "--name alice"), cols, rows);
    pane.wait_for("the menu", |l| l.starts_with("1. CHAT  2. STREAM  3. QUIT"));
    pane.keys(&["1", "Enter"]);
    pane.wait_for("the recipient prompt", |l| l.starts_with("Enter recipient"));
    pane
}
