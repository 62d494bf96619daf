#!/usr/bin/env bash
# What step N of the ladder changed: a plain diff of ladder/step(N-1) and ladder/stepN.
#   scripts/ladder-diff.sh 3          # the writer threads
#   scripts/ladder-diff.sh 3 | less
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-}"
last=$(ls -d ladder/step[0-9]* | sed 's|ladder/step||' | sort -n | tail -1)
if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$last" ]; then
    echo "usage: scripts/ladder-diff.sh N   (N from 1 to $last: what step N changed)" >&2
    exit 2
fi
# diff exits 1 when the folders differ, which is the point here.
diff -ru -N "ladder/step$((n - 1))" "ladder/step$n" || [ $? -eq 1 ]
