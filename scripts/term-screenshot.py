#!/usr/bin/env python3
"""Turns a tmux screen with its colours (`tmux capture-pane -p -e`) into an SVG picture.

    tmux capture-pane -p -e -t SESSION | scripts/term-screenshot.py > docs/terminal-video.svg

Each cell is a 8x16 rectangle: half blocks (the video) as two coloured halves, other
characters as text. Used for the README's picture of `--render terminal`.
"""
import re
import sys
from xml.sax.saxutils import escape

CELL_W, CELL_H = 8, 16
LEVELS = [0, 95, 135, 175, 215, 255]
BASIC = [(0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
         (0, 205, 205), (229, 229, 229)]
FG, BG = (220, 220, 220), (24, 24, 24)


def palette(n):
    if n < 8:
        return BASIC[n]
    if n < 16:
        return tuple(min(255, c + 50) for c in BASIC[n - 8])
    if n < 232:
        n -= 16
        return (LEVELS[n // 36], LEVELS[(n // 6) % 6], LEVELS[n % 6])
    return (8 + 10 * (n - 232),) * 3


def sgr(params, fg, bg):
    nums = [int(p) if p else 0 for p in params.split(";")]
    i = 0
    while i < len(nums):
        n = nums[i]
        if n == 0:
            fg, bg = None, None
        elif n in (38, 48) and i + 1 < len(nums):
            if nums[i + 1] == 2 and i + 4 < len(nums) + 0:
                color = tuple(nums[i + 2:i + 5])
                i += 4
            else:
                color = palette(nums[i + 2])
                i += 2
            if n == 38:
                fg = color
            else:
                bg = color
        elif n == 39:
            fg = None
        elif n == 49:
            bg = None
        i += 1
    return fg, bg


def main():
    rows = sys.stdin.read().split("\n")
    while rows and not rows[-1].strip():
        rows.pop()
    cols = 0
    out = []
    rects = []
    # tmux sets a colour once and keeps it over the next rows until it changes: the colours
    # carry from one row to the next (a row that starts with none is not the default colour).
    fg = bg = None
    for y, row in enumerate(rows):
        runs = {}
        x = 0
        for token in re.findall(r"\x1b\[[0-9;]*[A-Za-z]|.", row):
            if token.startswith("\x1b["):
                if token.endswith("m"):
                    fg, bg = sgr(token[2:-1], fg, bg)
                continue
            px, py = x * CELL_W, y * CELL_H
            if token == "▀":
                for half, color in ((0, fg or FG), (1, bg or BG)):
                    top = py + half * CELL_H // 2
                    last = runs.get(half)
                    if last and last[0] == color and last[1] + last[3] == px and last[2] == top:
                        last[3] += CELL_W
                    else:
                        runs[half] = [color, px, top, CELL_W]
                        rects.append(runs[half])
            elif token != " ":
                out.append(f'<text x="{px}" y="{py + 12}" fill="rgb{fg or FG}">{escape(token)}</text>')
            x += 1
        cols = max(cols, x)
    width, height = cols * CELL_W, len(rows) * CELL_H
    print(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
          f'font-family="monospace" font-size="13">')
    print(f'<rect width="{width}" height="{height}" fill="rgb{BG}"/>')
    for color, x, y, w in rects:
        print(f'<rect x="{x}" y="{y}" width="{w}" height="{CELL_H // 2}" fill="rgb{color}"/>')
    print("\n".join(out))
    print("</svg>")


main()
