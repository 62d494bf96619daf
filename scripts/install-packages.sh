#!/usr/bin/env bash
# Installs the Debian packages named as arguments, if any is missing. Uses sudo when not root.
# On a system without apt-get it says what to install by hand and fails.
set -euo pipefail

missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing packages: ${missing[*]}" >&2
    echo "This is not a Debian/Ubuntu system: install OpenCV 4 (with its headers) and libclang by hand." >&2
    echo "macOS: brew install opencv llvm   (see README, 'Other systems')" >&2
    exit 1
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "Installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
