#!/usr/bin/env python3
"""The recipes of docs/PYTHON_TO_RUST.md ("Seeing them in the running original"), run against
the running Python original: each starts its server afresh, joins its own clients, types what
a person would type, a moment apart, and says whether the bug shows. Exit status 1 if one does
not.

Usage: scripts/original-bugs.py          (after `make compare`, which prepares target/compare/)

The two recipes that need the original's window (OpenCV's imshow) are left to a person; the
stream's other bugs are read from the frames with a socket of the script's own.
"""
import contextlib, json, os, signal, socket, struct, subprocess, sys, threading, time

from compare import FILES, THEIRS, WORK, wait_listening  # this folder's make compare

SCRATCH = os.path.join(WORK, "original")
PYTHON = os.path.join(WORK, "venv", "bin", "python")
ENV = dict(os.environ, PYTHONPATH=os.path.join(WORK, "shim"))
PAUSE = 0.4
LIVE = []  # the processes of the recipe running, killed after it


class Proc:
    """A process of the original, its output gathered as it comes."""

    def __init__(self, script):
        self.p = subprocess.Popen([PYTHON, "-u", script], cwd=SCRATCH, env=ENV, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.out = ""
        LIVE.append(self)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for chunk in iter(lambda: self.p.stdout.read(1), ""):
            self.out += chunk

    def type(self, *lines):
        for line in lines:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
            time.sleep(PAUSE)

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        if self.alive():
            self.p.kill()
        self.p.wait()


def stop_all():
    """Kills the processes of the recipe running, and lets the port go."""
    while LIVE:
        LIVE.pop().kill()
    time.sleep(0.3)


def server():
    s = Proc(FILES[0])
    wait_listening(THEIRS, s.p, "original")
    time.sleep(0.2)
    return s


def client(name):
    c = Proc(FILES[1])
    time.sleep(0.6)
    c.type(name)
    time.sleep(0.4)
    return c


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


RECIPES = []


def recipe(title):
    def register(fn):
        RECIPES.append((title, fn))
        return fn
    return register


@recipe("every chat goes to everyone (carol cannot read alice's message to bob)")
def everyone():
    server()
    alice, bob, carol = client("alice"), client("bob"), client("carol")
    alice.type("1", "bob", "hi bob")
    time.sleep(0.5)
    return "alice : hi bob" in bob.out and "hi bob" not in carol.out


@recipe("a message over about 100 characters ends the chat thread (OverflowError)")
def too_long():
    server()
    alice, bob = client("alice"), client("bob")
    alice.type("1", "bob", "x" * 120)
    time.sleep(0.5)
    return "OverflowError" in alice.out


@recipe("an unknown recipient ends the chat thread (KeyError)")
def unknown():
    server()
    alice = client("alice")
    alice.type("1", "nobody", "hello")
    time.sleep(0.5)
    return "KeyError" in alice.out


@recipe("a menu choice that is not a number ends the main thread; the client hangs")
def not_a_number():
    server()
    alice = client("alice")
    alice.type("x")
    time.sleep(1.0)
    return "ValueError" in alice.out and alice.alive()


@recipe("0 at the menu quits (it picks the last service)")
def zero():
    server()
    alice = client("alice")
    alice.type("0")
    time.sleep(1.0)
    return not alice.alive()


@recipe("a duplicate name replaces the first user's key")
def duplicate():
    server()
    first, second, writer = client("x"), client("x"), client("w")
    writer.type("1", "x", "for x")
    time.sleep(0.5)
    return "w : for x" in second.out and "w : for x" not in first.out


@recipe("the user list read with recv(1024) is cut from a few users on (JSONDecodeError)")
def cut_list():
    server()
    clients = [client(f"user{i}") for i in range(6)]
    time.sleep(0.5)
    return any("JSONDecodeError" in c.out for c in clients)


@recipe("a client that closes in chat mode spins a core of the server")
def spin():
    s = server()
    alice = client("alice")
    alice.type("1")
    alice.p.send_signal(signal.SIGKILL)
    time.sleep(0.5)
    before = cpu_seconds(s.p.pid)
    time.sleep(2.0)
    busy = (cpu_seconds(s.p.pid) - before) / 2.0
    return busy > 0.5


@recipe("a client that closes abruptly stays listed")
def stays_listed():
    server()
    ghost = client("ghost")
    ghost.p.send_signal(signal.SIGKILL)
    time.sleep(0.5)
    later = client("later")
    later.type("1")
    time.sleep(0.5)
    return "ghost" in later.out


@recipe("the video list glued to its header ends the client's receive thread (OverflowError; "
        "a race: up to 8 tries)")
def glued_list():
    for _ in range(8):
        server()
        alice = client("alice")
        alice.type("2")
        time.sleep(0.8)
        if "OverflowError" in alice.out:
            return True
        stop_all()
    return False


@contextlib.contextmanager
def links(*pairs):
    """Extra names in the original's folder, each a hard link to one of its files, for the
    `with` block."""
    for name, target in pairs:
        os.link(os.path.join(SCRATCH, target), os.path.join(SCRATCH, name))
    try:
        yield
    finally:
        for name, _target in pairs:
            os.remove(os.path.join(SCRATCH, name))


def read_quiet(sock):
    """Whatever arrives until a quiet half second (the original does not frame its replies)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


@contextlib.contextmanager
def streaming(name):
    """A socket of our own joined as `name` (with a key nobody checks) and asking to stream:
    its next reply is `STLI`, a 4-byte length and the JSON list of video names."""
    host, port = THEIRS.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(0.5)
        read_quiet(sock)  # the server's key
        sock.sendall(name.encode())
        read_quiet(sock)  # OK
        sock.sendall(b"not a key")
        read_quiet(sock)  # the user list
        sock.sendall(b"[STREAM]")
        yield sock


def video_names():
    """The names the server lists: its own client cannot show the list reliably (the recipe
    above)."""
    with streaming("lister") as sock:
        reply = read_quiet(sock)
    assert reply[:4] == b"STLI"
    return json.loads(reply[8:])


def frame_sizes(video):
    """Asks the server for `video` and returns each frame's (width, height), until a quiet
    half second; each frame read exactly by its length, as the original's client does not."""
    with streaming("streamer") as sock:
        assert read_quiet(sock)[:4] == b"STLI"
        sock.sendall(video.encode())
        assert read_exactly(sock, 4) == b"STRM"
        read_exactly(sock, 4)
        sizes = []
        try:
            while True:
                size = struct.unpack(">Q", read_exactly(sock, 8))[0]
                jpeg = read_exactly(sock, size)
                at = jpeg.index(b"\xff\xc0")  # the baseline frame header: height, width
                height, width = struct.unpack(">HH", jpeg[at + 5:at + 9])
                sizes.append((width, height))
        except (TimeoutError, EOFError):
            pass
    return sizes


@recipe("videos are matched by prefix (bench also plays benchx_144p.mp4, last)")
def prefix():
    # A link to the 240p file: the stream ends in 320x240 frames, not 1280x720.
    with links(("benchx_144p.mp4", "bench_240p.mp4")):
        server()
        return frame_sizes("bench")[-1] == (320, 240)


@recipe("resolutions sort as strings (bench_1080p.mp4 plays first)")
def string_sort():
    # A 1280x720 file labelled 1080p: sorted as a string it comes before 240p.
    with links(("bench_1080p.mp4", "bench_720p.mp4")):
        server()
        return frame_sizes("bench")[0] == (1280, 720)


@recipe("more frames follow STRM than it announced (302 for 301)")
def extra_frames():
    server()
    return len(frame_sizes("bench")) == 302


@recipe("names split at the first _ (my_trip_144p.mp4 lists as my)")
def first_underscore():
    # The folder holds the bench video; a link under another name shows the split.
    with links(("my_trip_144p.mp4", "bench_240p.mp4")):
        server()
        listed = video_names()
        return "my" in listed and "my_trip" not in listed


@recipe("the video list's order changes between runs (a set)")
def order():
    extra = [(f"{name}_144p.mp4", "bench_240p.mp4") for name in ("alpha", "beta", "gamma")]
    with links(*extra):
        orders = set()
        for _ in range(6):
            server()
            orders.add(tuple(video_names()))
            stop_all()
        return len(orders) > 1


def main():
    if not os.path.exists(PYTHON):
        sys.exit("run `make compare ORIGINAL=DIR` first: it prepares target/compare/")
    failed = 0
    for title, fn in RECIPES:
        try:
            shows = fn()
        finally:
            stop_all()
        print(f"{'shows' if shows else 'DOES NOT SHOW'}: {title}")
        failed += not shows
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
