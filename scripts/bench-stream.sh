#!/bin/bash
# Streaming figures of docs/BENCHMARKS.md: RUNS runs of N clients streaming VIDEO from DIR, each
# against a fresh unpaced server, so every run is cold (empty frame cache) and its peak memory
# (VmHWM) is its own. Extra arguments go to the server (--cache-mb 0, say).
#
#   scripts/bench-stream.sh DIR VIDEO N RUNS [server flags...]
#   scripts/bench-stream.sh /tmp/benchvid bench 8 5
set -eu
B=${BIN:-./target/release/chatroom}
dir=$1 video=$2 n=$3 runs=$4
shift 4
for _ in $(seq "$runs"); do
    $B server --bind 127.0.0.1:4310 --videos "$dir" --no-pace --db :memory: --min-key-bits 1024 "$@" >/dev/null 2>&1 &
    server=$!
    sleep 0.7
    report=$($B bench stream --server 127.0.0.1:4310 --clients "$n" --video "$video" --json)
    peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
    cpu_s=$(awk '{print ($14 + $15) / 100}' "/proc/$server/stat")
    kill "$server"
    wait "$server" 2>/dev/null || true
    echo "$report" | python3 -c "
import json, sys
r = json.load(sys.stdin)
print(f\"{r['clients']} clients: {r['frames_per_second']:.0f} frames/s in all, per client \"
      f\"{min(r['per_client_fps']):.0f}-{max(r['per_client_fps']):.0f}, {r['megabytes_per_second']:.1f} MB/s, \"
      f\"first frame p50 {r['first_frame_p50_ms']:.1f} ms p99 {r['first_frame_p99_ms']:.1f} ms, \"
      f\"missing {r['missing']}, server peak RSS {$peak_kb / 1024:.0f} MB, server CPU {$cpu_s} s\")"
done
