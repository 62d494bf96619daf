#!/usr/bin/env bash
# Bytes the terminal client writes to draw one whole stream (`--render terminal`) in a tmux
# pane: what watching video costs a terminal, or an SSH link (docs/BENCHMARKS.md, "Video in
# the terminal"). Run from the project root; it starts its own server on 127.0.0.1:4330.
#
#   scripts/term-video-bytes.sh BIN CHOICE [truecolor|256] [COLSxROWS]
#   scripts/term-video-bytes.sh ./target/release/chatroom "2 360p" truecolor 96x36
set -euo pipefail
bin=$1
choice=$2
colors=${3:-truecolor}
size=${4:-96x36}
sock=chatroom-bytes-$$
out=$(mktemp)
case $colors in
    truecolor) env="COLORTERM=truecolor" ;;
    *) env="-u COLORTERM" ;;
esac

$bin server --bind 127.0.0.1:4330 --videos videos --db :memory: --min-key-bits 1024 >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; tmux -L $sock kill-server 2>/dev/null; rm -f $out' EXIT
sleep 1
tmux -L $sock -f /dev/null new-session -d -x "${size%x*}" -y "${size#*x}" \
    "env -u DISPLAY $env $bin client --server 127.0.0.1:4330 --name viewer --ephemeral --key-bits 1024; sleep 60"
sleep 1.5
tmux -L $sock pipe-pane -o "cat > $out"
tmux -L $sock send-keys 2 Enter
sleep 0.5
tmux -L $sock send-keys "$choice" Enter
for _ in $(seq 1 150); do
    tmux -L $sock capture-pane -p | grep -q '^Stream ended' && break
    sleep 0.2
done
tmux -L $sock pipe-pane
echo "$(wc -c < "$out") bytes"
