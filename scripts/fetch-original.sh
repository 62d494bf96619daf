#!/usr/bin/env bash
# Clones the Python original at its pinned commit into original/ (git-ignored), for
# `make compare`. Needs network access to GitHub; elsewhere pass ORIGINAL=DIR to a copy you have.
# Nothing of it is ever committed here: it has no licence.
set -euo pipefail
cd "$(dirname "$0")/.."
url=https://github.com/kroax9797/TCP-Chatroom-and-Video-Streaming.git
[ -d original/.git ] || git clone --quiet "$url" original
git -C original checkout --quiet de5e0f5
echo "original/ holds the original at de5e0f5: make compare ORIGINAL=original"
