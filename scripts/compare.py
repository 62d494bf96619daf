#!/usr/bin/env python3
"""make compare: the Python original, its design ported to Rust, and this project: the same
workloads, one table (and first, a check that the port's client talks to the original's).

Usage: scripts/compare.py ORIGINAL [--out docs/COMPARISON.md]

ORIGINAL is the original's repository (a clone, or a bare git copy) or a folder holding its
files. Its three files are taken at the pinned commit into a scratch folder under
target/compare/ (nothing of it enters this repository), with a Python venv holding what it
imports (rsa, opencv-python-headless). Both servers serve the same H.264 benchmark video
(chatroom make-videos --bench). Each workload runs against a freshly started server on each
side: the original on 127.0.0.1:1234 (its fixed port), the port (`chatroom-original`, the
original's design in Rust) on 127.0.0.1:4620, this project on 127.0.0.1:4610.

The original binds to its host name's address; a sitecustomize.py in the scratch folder pins
that to loopback and sets SO_REUSEADDR so it can be restarted at once. Nothing else of its
behaviour is touched.
"""
import datetime, json, os, platform, shutil, socket, subprocess, sys, threading, time

PINNED = "de5e0f5"
FILES = ["210030039_server.py", "210030039_client.py", "utils.py"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "compare")
BIN = os.path.join(ROOT, "target", "release", "chatroom")
PORT_BIN = os.path.join(ROOT, "target", "release", "chatroom-original")
PORT_CLIENT_BIN = os.path.join(ROOT, "target", "release", "chatroom-original-client")
OURS = "127.0.0.1:4610"
PORT = "127.0.0.1:4620"
THEIRS = "127.0.0.1:1234"
FRAMES = 301  # not a multiple of 3: the original's remainder loop shows

SHIM = '''# make compare: run the Python original on loopback, restartable at once.
import socket
socket.gethostname = lambda: "localhost"
_bind = socket.socket.bind
def _bind_reusing(self, address):
    self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return _bind(self, address)
socket.socket.bind = _bind_reusing
'''

WORKLOADS = [
    ("stream, 1 client, cold", ["stream", "--clients", "1", "--video", "bench"]),
    ("stream, 8 clients, cold", ["stream", "--clients", "8", "--video", "bench"]),
    ("chat, 10 clients, paced 200/s", ["chat", "--clients", "10", "--senders", "10",
                                       "--messages", "200", "--rate", "20", "--key-bits", "1024"]),
    ("chat, 10 clients, flooding", ["chat", "--clients", "10", "--senders", "10",
                                    "--messages", "2000", "--key-bits", "1024"]),
]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def is_its_repository(original):
    """Whether ORIGINAL is itself a git repository (a bare copy, or a clone's top), not a plain
    folder that happens to sit inside another repository (this one, say), where `git -C` would
    find that repository instead."""
    def git(*args):
        out = subprocess.run(["git", "-C", original, *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None
    if git("rev-parse", "--is-bare-repository") == "true":
        return True
    top = git("rev-parse", "--show-toplevel")
    return top is not None and os.path.realpath(top) == os.path.realpath(original)


def unpack(original, dest):
    """The original's three files at the pinned commit, into dest."""
    os.makedirs(dest, exist_ok=True)
    if is_its_repository(original):
        for name in FILES:
            blob = run(["git", "-C", original, "show", f"{PINNED}:{name}"],
                       capture_output=True).stdout
            with open(os.path.join(dest, name), "wb") as f:
                f.write(blob)
    else:
        for name in FILES:
            shutil.copy(os.path.join(original, name), dest)


def prepare(original):
    scratch = os.path.join(WORK, "original")
    shutil.rmtree(scratch, ignore_errors=True)
    unpack(original, scratch)
    videos = os.path.join(WORK, f"videos-{FRAMES}")
    if not os.path.exists(os.path.join(videos, "bench_720p.mp4")):
        run([BIN, "make-videos", videos, "--bench", "--frames", str(FRAMES)],
            stdout=subprocess.DEVNULL)
    for name in os.listdir(videos):
        shutil.copy(os.path.join(videos, name), scratch)
    shim = os.path.join(WORK, "shim")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "sitecustomize.py"), "w") as f:
        f.write(SHIM)
    venv = os.path.join(WORK, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        run([sys.executable, "-m", "venv", venv])
        run([python, "-m", "pip", "install", "-q", "rsa", "opencv-python-headless"])
    return scratch, videos, shim, python


def port_free(addr):
    host, port = addr.rsplit(":", 1)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
            return True
        except OSError:
            return False


def listening(port):
    """Is a socket listening on `port`? Read from /proc, not by connecting: a connection that
    closes at once stays registered in the original and breaks every later join."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in list(f)[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_listening(addr, proc, what):
    port = int(addr.rsplit(":", 1)[1])
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit(f"compare: the {what} server exited at start")
        if listening(port):
            return
        time.sleep(0.1)
    sys.exit(f"compare: the {what} server does not listen on {addr}")


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_original(scratch, shim, python):
    env = dict(os.environ, PYTHONPATH=shim)
    proc = subprocess.Popen([python, "-u", FILES[0]], cwd=scratch, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(THEIRS, proc, "original")
    return proc


def start_ours(videos):
    # A database file, as a user runs it (each start a new one: the bench's names are new).
    db_dir = os.path.join(WORK, "db")
    shutil.rmtree(db_dir, ignore_errors=True)
    os.makedirs(db_dir)
    proc = subprocess.Popen([BIN, "server", "--bind", OURS, "--videos", videos, "--no-pace",
                             "--chat-rate", "0", "--join-rate", "0", "--jpeg-quality", "90",
                             # The bench's keys are 1024 bits, as the original's.
                             "--min-key-bits", "1024",
                             "--db", os.path.join(db_dir, "chatroom.db")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, RUST_LOG="warn"))
    wait_listening(OURS, proc, "chatroom")
    return proc


def start_port(scratch):
    """The original's design in Rust, serving the same files as the original (its folder)."""
    proc = subprocess.Popen([PORT_BIN, "--bind", PORT, "--videos", scratch],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(PORT, proc, "chatroom-original")
    return proc


class Typed:
    """A client process typed into line by line, its output read as it comes (prompts end
    without a newline), so a line is typed once the prompt that asks for it has shown."""

    def __init__(self, name, cmd, **kw):
        # `out` only grows (the reader thread appends); `seen` is how far the waits have read.
        self.name, self.out, self.seen = name, "", 0
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, **kw)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while chunk := os.read(self.proc.stdout.fileno(), 4096):
            self.out += chunk.decode(errors="replace")

    def wait_for(self, text, timeout=30):
        """Waits until TEXT has been printed since the last wait; fails naming who did not."""
        deadline = time.time() + timeout
        while (at := self.out.find(text, self.seen)) < 0:
            if time.time() > deadline or self.proc.poll() is not None:
                sys.exit(f"compare: the port's client and the original's did not understand each "
                         f"other: {self.name} did not print {text!r} within {timeout} s; it "
                         f"printed: {self.out[self.seen:][-600:]!r}")
            time.sleep(0.05)
        self.seen = at + len(text)

    def type(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()


def check_port_client(scratch, shim, python):
    """The port's client speaks the original's protocol byte for byte: it and the original's
    own client, joined to the port's server (on the original's fixed port), each read the
    other's message. Each line is typed once its prompt has shown (the Python client makes its
    key in pure Python first, which takes from a few hundred ms to seconds), and a moment after
    the prompt that follows `1` (without framing, a message typed at once reaches the server
    glued to `[CHAT]`); the port's client connects once the Python one has joined."""
    server = subprocess.Popen([PORT_BIN, "--bind", THEIRS, "--videos", scratch],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(THEIRS, server, "chatroom-original")
    theirs = Typed("the original's client", [python, "-u", FILES[1]], cwd=scratch,
                   env=dict(os.environ, PYTHONPATH=shim))
    ours = None
    try:
        theirs.wait_for("Enter your username")
        theirs.type("py")
        theirs.wait_for("[HOME PAGE]")
        # Only now: the server sends every join's user list to every connection, joined or not
        # (the original's bug), and a client connected before py joined reads that list where
        # it waits for its OK, then sends its key glued to its name.
        ours = Typed("the port's client", [PORT_CLIENT_BIN, "--server", THEIRS, "--headless"])
        ours.wait_for("Your name:")
        ours.type("rs")
        ours.wait_for("Home: pick a service.")
        theirs.wait_for("[NEW USER]")  # the list with rs in it
        theirs.type("1")
        theirs.wait_for("Enter the username you want to send message to")
        time.sleep(0.3)
        theirs.type("rs")
        theirs.wait_for("Enter the message")
        theirs.type("from the Python client")
        ours.wait_for("py : from the Python client")
        ours.type("1")
        ours.wait_for("to: ")
        time.sleep(0.3)
        ours.type("py")
        ours.wait_for("message: ")
        ours.type("from the Rust port")
        theirs.wait_for("rs : from the Rust port")
    finally:
        for proc in (theirs.proc, ours and ours.proc, server):
            if proc:
                proc.kill()
                proc.wait()


def measure(proc, addr, args, original):
    cmd = [BIN, "bench", *args, "--server", addr, "--json"] + (["--original"] if original else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    rss = peak_rss_mb(proc.pid)
    proc.terminate()
    proc.wait(timeout=10)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    report = json.loads(out.stdout)
    report["peak_rss_mb"] = rss
    return report


RUNS = 3


def measure_runs(start, addr, args, original):
    """RUNS runs of one workload, each on a freshly started server: the reports, or the first
    error (which fails the command)."""
    reports = []
    for _ in range(RUNS):
        report = measure(start(), addr, args, original)
        if "error" in report:
            return report
        reports.append(report)
    return {"runs": reports}


def spread(report, key, fmt):
    """A measure over the runs: the median, and the range when the runs differ."""
    values = sorted(r[key] for r in report["runs"] if r.get(key) is not None)
    if not values:
        return "—"
    median = values[len(values) // 2]
    if fmt.format(values[0]) == fmt.format(values[-1]):
        return fmt.format(median)
    return f"{fmt.format(median)} ({fmt.format(values[0])}–{fmt.format(values[-1])})"


def decode_only(videos):
    """The machine's own limit for these streams: FFmpeg decoding the frames a split stream
    of `bench` sends, nothing else (`chatroom bench decode`), best of RUNS runs."""
    cmd = [BIN, "bench", "decode", "--videos", videos, "--video", "bench",
           "--runs", str(RUNS), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"compare: bench decode failed: {out.stderr.strip()}")
    return json.loads(out.stdout)["frames_per_second"]


def median(report, key):
    values = sorted(r[key] for r in report.get("runs", []))
    return values[len(values) // 2] if values else None


def ratio_rows(name, theirs, port, ours, decode_fps):
    """A stream's frames/s as a share of FFmpeg's decode-only rate, and as a multiple of the
    original's: the two yardsticks issue #23 sets its goals in."""
    fps = [median(r, "frames_per_second") for r in (theirs, port, ours)]
    share = [f"{f / decode_fps:.2f}" if f else "—" for f in fps]
    times = ["1"] + [f"{f / fps[0]:.2f}x" if f and fps[0] else "—" for f in fps[1:]]
    return [(name, f"frames/s as a share of decoding alone ({decode_fps:.0f}/s)", *share),
            (name, "frames/s, times the original's", *times)]


def rows(name, theirs, port, ours):
    def cell(report, key, fmt):
        if "error" in report:
            return "error: " + report["error"][:60]
        return spread(report, key, fmt)

    if name.startswith("stream"):
        metrics = [("frames/s", "frames_per_second", "{:.0f}"),
                   ("time to first frame, p50 ms", "first_frame_p50_ms", "{:.1f}"),
                   ("frames announced", "announced", "{}"),
                   ("frames received", "frames", "{}"),
                   ("server peak RSS, MB", "peak_rss_mb", "{:.0f}")]
    else:
        metrics = [("messages/s delivered", "messages_per_second", "{:.0f}"),
                   ("latency p50 / p99, ms", None, None),
                   ("refused (told to the sender)", "refused", "{}"),
                   ("lost", "lost", "{}"),
                   ("corrupted", "corrupted", "{}"),
                   ("server peak RSS, MB", "peak_rss_mb", "{:.0f}")]
    out = []
    for label, key, fmt in metrics:
        if key is None:
            def lat(r):
                if "error" in r:
                    return cell(r, None, None)
                return f'{cell(r, "latency_p50_ms", "{:.2f}")} / {cell(r, "latency_p99_ms", "{:.2f}")}'
            out.append((name, label, lat(theirs), lat(port), lat(ours)))
        else:
            out.append((name, label, *(cell(r, key, fmt) for r in (theirs, port, ours))))
    return out


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    original = sys.argv[1]
    out_path = os.path.join(ROOT, "docs", "COMPARISON.md")
    if "--out" in sys.argv:
        out_path = sys.argv[sys.argv.index("--out") + 1]
    for addr in (THEIRS, PORT, OURS):
        if not port_free(addr):
            sys.exit(f"compare: {addr} is in use; stop what listens there first")
    scratch, videos, shim, python = prepare(original)
    print("compare: the port's client and the original's chat through the port's server ...",
          file=sys.stderr)
    check_port_client(scratch, shim, python)
    print(f"compare: FFmpeg decoding the stream's frames alone ({RUNS} runs) ...", file=sys.stderr)
    decode_fps = decode_only(videos)
    table, failed = [], []
    for name, args in WORKLOADS:
        print(f"compare: {name} ({RUNS} runs each) ...", file=sys.stderr)
        theirs = measure_runs(lambda: start_original(scratch, shim, python), THEIRS, args, True)
        port = measure_runs(lambda: start_port(scratch), PORT, args, True)
        ours = measure_runs(lambda: start_ours(videos), OURS, args, False)
        sides = (("the original", theirs), ("the port", port), ("this project", ours))
        failed += [f"{name}, {side}: {r['error']}" for side, r in sides if "error" in r]
        table.extend(rows(name, theirs, port, ours))
        if name.startswith("stream"):
            table.extend(ratio_rows(name, theirs, port, ours, decode_fps))
    lines = ["| workload | measure | Python original | its design in Rust (`chatroom-original`) "
             "| this project |", "|---|---|---|---|---|"]
    lines += [f"| {w} | {m} | {a} | {p} | {b} |" for w, m, a, p, b in table]
    text = "\n".join(lines)
    print(text)
    stamp = datetime.date.today().isoformat()
    with open(out_path, "w") as f:
        f.write(COMPARISON.format(date=stamp, machine=machine(), table=text, frames=FRAMES))
    print(f"compare: written to {out_path}", file=sys.stderr)
    if failed:
        sys.exit("compare: failed:\n  " + "\n  ".join(failed))


COMPARISON = """# The Python original and this project, side by side

Measured {date} on {machine}, by `make compare ORIGINAL=DIR` (`scripts/compare.py`): the
original at commit de5e0f5 (its three files, run in a scratch folder under `target/compare/`,
never copied into this repository); `chatroom-original` (`ladder/step0/server.rs`), the
original's server with its design kept (no framing, shared globals, `send`, its bugs) written
in Rust, which tells how much of a difference is the language and how much the design; and
this project's release build, each started afresh for
every workload, on the same H.264 benchmark video (`chatroom make-videos --bench --frames
{frames}`: 320x240, 640x480, 1280x720, JPEG quality 90 on both sides). The bench clients are
this project's `chatroom bench`; with `--original` they speak the original's protocol
(`src/bench/original.rs`). Server and clients share the machine's cores; its speed drifts, so
compare the columns of one run, not figures of different days. Each workload runs 3 times on
each side, each time on a fresh server: a cell is the median, with the range when the runs
differ. A workload that fails on either side fails the command, with the reason.

{table}

How to read it:

- **The port speaks the original's protocol.** Before the workloads, the original's client and
  the port of it (`chatroom-original-client`) chat through `chatroom-original`, and the command
  fails unless each reads the other's message: the port is byte for byte, PKCS#1 v1.5 and all.
- **Three columns, two questions.** The original against its port is Python against Rust, the
  design held still. The port against this project is the design: framing, per-client writer
  threads and bounded queues, the frame cache, the store, the encryption.

- **Streams.** The original sends frames as fast as it can read and encode them; this
  project's server runs with `--no-pace` to do the same. "Frames announced" is what `STRM` said;
  "received" what arrived. The original announces the first (string-sorted) file's count and may
  send more (`docs/PYTHON_TO_RUST.md`, bugs); here the two always agree. Time to first frame is
  from the request to the first frame, on a cold server.
- **Chat.** Paced: each of 10 senders sends 20 messages a second, each to one other client
  (200 a second in all). Flooding: as fast as they can, 2000 each. The original broadcasts every
  message to every client; a message counts as delivered when its intended recipient got it
  whole, and as corrupted when that recipient got it cut or mixed with another. Its payload is
  128 numbered, checksummed bytes where the original puts an RSA ciphertext (the server relays
  them unread). This project's server runs with `--chat-rate 0`, so its rate limit is not what
  is measured; its messages are sealed envelopes of about 600 bytes, relayed to the recipient
  only.
- **Chat, flooding: flow control, not refusals.** This project writes every message to its
  database file before it answers `SENT`, and a recipient's mailbox holds at most 100
  unacknowledged messages from any one sender. A sender that outruns its recipients waits:
  the server answers late, and the bench keeps at most the window `WLCM` announces (128)
  unanswered, so nothing is refused or lost (issue #32). The original, which keeps nothing,
  relays as fast as memory allows and loses what its unframed reads glue together; durable
  storage alone (SQLite inserting and deleting each message, one core) runs at about a third of
  its rate on this machine: docs/BENCHMARKS.md ("Flow control and group commit") has the
  figures and the profile.
- **Latency.** The original sends without `TCP_NODELAY`, so its small broadcasts meet Nagle's
  algorithm and delayed acknowledgements: about 40 ms at a paced rate.
- **Decoding alone.** `chatroom bench decode` decodes exactly the frames a split stream of the
  video sends, with FFmpeg on the server's two decoder threads, and nothing else: no JPEG, no
  socket. A stream's share of it says how much of the machine the server leaves unused; every
  column must also JPEG-encode each frame, which costs about as much again.
- **Peak RSS** is the server process's `VmHWM` at the end of the workload. `chatroom server`
  runs as `chatroom-server` (the same server, without OpenCV's libraries) unless
  `--decoder opencv`; the original and the port load OpenCV, which they read video with.
"""

if __name__ == "__main__":
    main()
