#!/usr/bin/env python3
"""make compare LADDER=1: every step of the ladder on the same two workloads, one table, so that
it shows what each idea costs and buys. Writes the table into docs/COMPARISON.md (between its
ladder markers) and prints it.

- chat: alice types 300 messages to bob at once (the original's piped input); how many bob
  shows, and how fast: from the first line typed to the last message shown.
- paced: 10 clients each write to the next one every 50 ms for 2 s (200 messages a second in
  all, as `make compare`'s paced row); the latency from a line typed to its message shown
  (p50, p99), and how many of the 400 were shown.
- stream: alice plays the demo video (100 frames in three resolutions, 25 fps); how many frames
  her client shows, and how fast. Steps 0 to 4 send as fast as they can; step 5 paces at the
  video's rate, which is the point of it.

Each cell is the median of RUNS runs, each on a fresh server (`chatroom-step N server` on a free
loopback port). The clients are the steps' own (`chatroom-step N client`), fed lines and read
as a user's script would. Needs `cargo build --release` first.
"""
import os, re, socket, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "chatroom-step")
VIDEOS = os.path.join(ROOT, "videos")
DOC = os.path.join(ROOT, "docs", "COMPARISON.md")
START, END = "<!-- the ladder: written by make compare LADDER=1 -->\n", "<!-- end of the ladder -->\n"
RUNS, MESSAGES = 3, 300


class Proc:
    """A chatroom-step process, its output collected as it comes."""

    def __init__(self, *args):
        # The output so far, and each chunk's arrival time, to time what it shows (`shown_at`).
        self.out, self.arrivals = "", []
        self.p = subprocess.Popen([BIN, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env={**os.environ, "DISPLAY": ""})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while chunk := os.read(self.p.stdout.fileno(), 65536):
            self.out += chunk.decode(errors="replace")
            self.arrivals.append((len(self.out), time.time()))

    def shown_at(self, text):
        """When TEXT was first printed (the arrival of the chunk that completed it), or None."""
        at = self.out.find(text)
        if at < 0:
            return None
        end = at + len(text)
        return next(t for n, t in list(self.arrivals) if n >= end)

    def wait_for(self, pattern, timeout=20):
        deadline = time.time() + timeout
        while not re.search(pattern, self.out):
            if time.time() > deadline:
                raise TimeoutError(f"no {pattern!r} in {self.out[-400:]!r}")
            time.sleep(0.01)
        return re.search(pattern, self.out)

    def type(self, text):
        # A client that has ended (step 0's do, on their own bugs) reads nothing more.
        try:
            self.p.stdin.write((text + "\n").encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def kill(self):
        self.p.kill()
        self.p.wait()


def unglue_proxy(server):
    """Step 0 reads its video list's 8-byte header and the list with two reads; without framing
    they often arrive as one, which it cannot parse (its own bug): this proxy passes them in two
    writes, so that the stream can be measured at all. Returns the address to join."""
    listener = socket.create_server(("127.0.0.1", 0))

    def pump(src, dst, split):
        while data := src.recv(65536):
            if split and data.startswith(b"STLI") and len(data) > 8:
                dst.sendall(data[:8])
                time.sleep(0.05)
                data = data[8:]
            dst.sendall(data)
        dst.close()

    def serve():
        client, _ = listener.accept()
        upstream = socket.create_connection(server)
        threading.Thread(target=pump, args=(upstream, client, True), daemon=True).start()
        pump(client, upstream, False)

    threading.Thread(target=serve, daemon=True).start()
    return "127.0.0.1:%d" % listener.getsockname()[1]


def server(step):
    s = Proc(str(step), "server", "--bind", "127.0.0.1:0", "--videos", VIDEOS)
    addr = s.wait_for(r"listening on (\S+)").group(1)
    return s, addr


def client(step, addr, name):
    c = Proc(str(step), "client", "--server", addr)
    c.type(name)
    c.wait_for("Home: pick a service.")
    return c


def chat(step):
    """(messages bob showed, messages a second)."""
    s, addr = server(step)
    bob = client(step, addr, "bob")
    alice = client(step, addr, "alice")
    try:
        alice.type("1")
        alice.wait_for("-- users --")
        time.sleep(0.3)
        began = time.time()
        alice.type("\n".join(f"bob\nm{i}" for i in range(MESSAGES)))
        last, shown = began, 0
        while time.time() - last < 3:
            now = len(set(re.findall(r"alice : m(\d+)\b", bob.out)))
            if now > shown:
                shown, last = now, time.time()
            if shown == MESSAGES:
                break
            time.sleep(0.01)
        return shown, shown / max(last - began, 1e-3)
    finally:
        for p in (alice, bob, s):
            p.kill()


PACED_CLIENTS, PACED_ROUNDS = 10, 40


def paced(step):
    """(p50 ms, p99 ms, messages shown of PACED_CLIENTS * PACED_ROUNDS)."""
    s, addr = server(step)
    clients = [client(step, addr, f"u{i}") for i in range(PACED_CLIENTS)]
    try:
        for c in clients:
            c.type("1")
        for c in clients:
            c.wait_for("-- users --")
        time.sleep(0.5)
        typed = {}
        for r in range(PACED_ROUNDS):
            for i, c in enumerate(clients):
                text = f"p{r}x{i}"
                c.type(f"u{(i + 1) % PACED_CLIENTS}\n{text}")
                typed[(i, text)] = time.time()
            time.sleep(0.05)
        time.sleep(2)
        latencies = []
        for (i, text), at in typed.items():
            shown = clients[(i + 1) % PACED_CLIENTS].shown_at(f"u{i} : {text}\n")
            if shown is not None:
                latencies.append((shown - at) * 1000)
        latencies.sort()
        if not latencies:
            return float("nan"), float("nan"), 0
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        return pick(0.5), pick(0.99), len(latencies)
    finally:
        for p in clients + [s]:
            p.kill()


def stream(step):
    """(frames alice's client showed, frames a second)."""
    s, addr = server(step)
    alice = client(step, unglue_proxy(tuple_of(addr)) if step == 0 else addr, "alice")
    try:
        alice.type("2")
        number = alice.wait_for(r"(\d+)\. demo\b").group(1)
        time.sleep(0.1)
        began = time.time()
        alice.type(number)
        alice.wait_for(r"Stream ended", timeout=30)
        took = time.time() - began
        frames = len(re.findall(r"frame \d+: \d+x\d+", alice.out))
        return frames, frames / took
    finally:
        for p in (alice, s):
            p.kill()


def tuple_of(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def median(runs, i):
    return statistics.median(r[i] for r in runs)


def main():
    steps = subprocess.run([BIN, "list"], capture_output=True, text=True, check=True).stdout
    ideas = re.findall(r"^step (\d+): (.*)$", steps, re.M)
    rows = ["| step | its idea | chat: shown of %d | chat: messages/s | paced: shown of %d "
            "| paced: p50 / p99 ms | stream: frames shown | stream: frames/s |"
            % (MESSAGES, PACED_CLIENTS * PACED_ROUNDS), "|---|---|---|---|---|---|---|---|"]
    for n, idea in ideas:
        step = int(n)
        print(f"ladder-compare: step {step} ...", file=sys.stderr)
        chats = [chat(step) for _ in range(RUNS)]
        paceds = [paced(step) for _ in range(RUNS)]
        streams = [stream(step) for _ in range(RUNS)]
        latency = "%.1f / %.1f" % (median(paceds, 0), median(paceds, 1))
        rows.append("| %d | %s | %d | %.0f | %d | %s | %d | %.0f |" % (
            step, idea.split(":")[0].split(";")[0], median(chats, 0), median(chats, 1),
            median(paceds, 2), latency if median(paceds, 2) else "none shown",
            median(streams, 0), median(streams, 1)))
    table = "\n".join(rows) + "\n"
    print(table)
    doc = open(DOC).read()
    if START in doc and END in doc:
        doc = doc[:doc.index(START)] + START + table + doc[doc.index(END):]
        open(DOC, "w").write(doc)


if __name__ == "__main__":
    main()
