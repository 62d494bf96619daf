#!/usr/bin/env python3
"""Time from starting `chatroom client` to its welcome line (the home menu follows at once),
against a running server, over several runs: docs/BENCHMARKS.md.

    python3 scripts/startup-time.py 127.0.0.1:1234 15
"""
import subprocess, sys, time, statistics

addr, runs = sys.argv[1], int(sys.argv[2])
times = []
for i in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen(["./target/release/chatroom", "client", "--server", addr, "--name", f"s{i}", "--ephemeral"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("Welcome"):
            times.append((time.perf_counter() - t0) * 1000)
            break
    p.stdin.write("3\n"); p.stdin.close(); p.wait()
print("start to menu ms:", " ".join(f"{t:.0f}" for t in sorted(times)), " median", f"{statistics.median(times):.0f}")
