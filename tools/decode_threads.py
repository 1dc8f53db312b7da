#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How much faster decoding gets with more threads: frames per second of each .fcv
file at 1 and N threads (slices decode in parallel), best of a few runs each.

    python tools/decode_threads.py FILE.fcv [FILE.fcv ...] [--threads 2] [--repeat 3]

Wall-clock time, decoded frames only (no output written), after one untimed decode
that loads the kernels. On a shared machine the best of several runs is the figure
least disturbed by others. TOTAL is the files' summed times, as the bench sums clips.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import framecodec


def _best_seconds(path: Path, threads: int, repeat: int) -> tuple[float, int]:
    best, frames = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        frames = sum(1 for _ in framecodec.decode_frames(path, threads=threads))
        best = min(best, time.perf_counter() - start)
    return best, frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=2, help="threads to compare with one")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file and thread count")
    args = parser.parse_args(argv)
    total_one = total_many = 0.0
    print(f"| file | fps, 1 thread | fps, {args.threads} threads | speed-up |")
    print("| --- | --: | --: | --: |")
    for path in args.files:
        sum(1 for _ in framecodec.decode_frames(path, threads=args.threads))  # kernels loaded
        one, frames = _best_seconds(path, 1, args.repeat)
        many, _ = _best_seconds(path, args.threads, args.repeat)
        total_one += one
        total_many += many
        print(f"| {path.name} | {frames / one:.1f} | {frames / many:.1f} | {one / many:.2f} |")
    print(f"| TOTAL | | | {total_one / total_many:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
