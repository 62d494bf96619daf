#!/usr/bin/env python3
"""The Python original's per-frame server work, timed on this machine: read a frame with
cv2.VideoCapture, JPEG-encode it with cv2.imencode, one after the other on one thread, over
the split plan (lowest resolution first). No network: this is the ceiling its stream loop
could reach. Written for docs/BENCHMARKS.md; it is not the original's code.

    pip install opencv-python-headless
    python3 scripts/python-baseline.py DIR NAME [QUALITY]
"""
import glob, os, re, sys, time
import cv2

folder, name = sys.argv[1], sys.argv[2]
quality = int(sys.argv[3]) if len(sys.argv) > 3 else 95  # cv2.imencode's default
files = sorted(glob.glob(os.path.join(folder, f"{name}_*p.mp4")),
               key=lambda f: int(re.search(r"_(\d+)p\.mp4$", f).group(1)))
total = min(int(cv2.VideoCapture(f).get(cv2.CAP_PROP_FRAME_COUNT)) for f in files)
each, first = divmod(total, len(files))
start, frames, size = 0, 0, 0
began = time.perf_counter()
for i, path in enumerate(files):
    count = each + (first if i == 0 else 0)
    cap = cv2.VideoCapture(path)
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    for _ in range(count):
        ok, frame = cap.read()
        if not ok:
            break
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        frames += 1
        size += len(jpeg)
    start += count
elapsed = time.perf_counter() - began
print(f"python {cv2.__version__}: {frames} frames in {elapsed:.2f} s: {frames / elapsed:.0f} frames/s, "
      f"{size / frames / 1024:.0f} KB a frame (quality {quality})")
