# SPDX-License-Identifier: MIT
"""The command line of tools/bench.py."""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as PACKAGE_DOC
from .cache import Cache
from .codecs import (
    ALL_CODECS,
    CODECS,
    DEFAULT_CRF,
    DEFAULT_JPEG_QUALITY,
    IMAGE_CODECS,
    VIDEO_CODECS,
    Options,
)
from .codecs.framecodec_adapter import load_framecodec
from .common import DEFAULT_CACHE, DEFAULT_CORPUS, log
from .report import build_report, methods_notes, render, write_json, write_report
from .rows import IMAGE_REFS, VIDEO_REFS, Row, equal_psnr_summary, speed_summary, totals
from .runner import RETIME_RUNS, RETIME_UNDER_SECONDS, Context, cpu_count, measure_clip
from .sources import CLIP_SUFFIXES, IMAGE_SUFFIXES, find_clips, load_image, load_source

REPORT_MAX_ERROR = (0, 1, 2, 4)


def parse_int_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers like 0,1,2,4: {exc}") from exc
    if not values or values[0] < 0:
        raise argparse.ArgumentTypeError("expected non-negative integers like 0,1,2,4")
    return values


def parse_codecs(text: str) -> list[str]:
    codecs = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in ALL_CODECS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown codec(s) {unknown}; choose from {ALL_CODECS}")
    return [c for c in ALL_CODECS if c in codecs]


def build_parser() -> argparse.ArgumentParser:
    doc = PACKAGE_DOC or ""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                epilog="\n\n".join(doc.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                   help=f"directory of clips (default {DEFAULT_CORPUS})")
    p.add_argument("--images", type=Path, metavar="DIR",
                   help="benchmark the PNG images of DIR instead (each a one-frame clip)")
    p.add_argument("--clips", default="",
                   help="comma-separated substrings; keep clips whose name contains any")
    p.add_argument("--frames", "--max-frames", dest="frames", type=int, default=60,
                   help="first N frames of each clip (default 60; 0 = all)")
    p.add_argument("--max-error", type=parse_int_list, default=None,
                   help="max |error| bounds for framecodec and JPEG-LS NEAR, e.g. 0,1,2,4 "
                        "(default 0; with --report 0,1,2,4)")
    p.add_argument("--crf", type=parse_int_list, default=list(DEFAULT_CRF),
                   help="CRF ladder of x264crf and x265crf "
                        f"(default {','.join(map(str, DEFAULT_CRF))})")
    p.add_argument("--jpeg-quality", type=parse_int_list, default=list(DEFAULT_JPEG_QUALITY),
                   help="quality ladder of jpeg "
                        f"(default {','.join(map(str, DEFAULT_JPEG_QUALITY))})")
    p.add_argument("--no-ladder-extension", action="store_true",
                   help="measure the ladders only at --crf/--jpeg-quality; by default a ladder "
                        "whose lowest PSNR is still above a bounded point's PSNR on the clip is "
                        "extended (CRF +4 up to 51, quality -10 down to 10) until it is not")
    p.add_argument("--codecs", type=parse_codecs, default=None,
                   help=f"comma-separated subset of {','.join(ALL_CODECS)} (default: "
                        f"{','.join(VIDEO_CODECS)}; with --images {','.join(IMAGE_CODECS)})")
    p.add_argument("--framecodec-preset", choices=["fast", "default", "best"], default="default",
                   help="framecodec's encoder preset (default: default)")
    p.add_argument("--threads-all", action="store_true",
                   help="also measure every point with all cores (speed and memory only)")
    p.add_argument("--timing-runs", type=int, default=RETIME_RUNS, metavar="N",
                   help=f"time a coding call under {RETIME_UNDER_SECONDS:g} s up to N times, "
                        f"every codec alike, and keep the fastest (default {RETIME_RUNS})")
    p.add_argument("--in-process", action="store_true",
                   help="measure in this process: quicker, but no memory figures")
    p.add_argument("--json", type=Path, help="write all measurements and versions to this file")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write DIR/results.md, results.json, rd.png and lossless.png")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                   help=f"measurement cache (default {DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true",
                   help="measure everything again (fresh results still refresh the cache)")
    p.add_argument("--workdir", type=Path,
                   help="keep the encoded files here (default: a temporary directory)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    script_argv = sys.argv if argv is None else ["tools/bench.py", *argv]
    command = shlex.join([sys.executable, *script_argv])
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    mode = "images" if args.images else "video"
    if args.codecs is None:
        args.codecs = list(IMAGE_CODECS if mode == "images" else VIDEO_CODECS)
    if args.max_error is None:
        args.max_error = list(REPORT_MAX_ERROR) if args.report else [0]
    opts = Options(args.max_error, args.crf, args.jpeg_quality,
                   extend_ladders=not args.no_ladder_extension)
    refs = IMAGE_REFS if mode == "images" else VIDEO_REFS

    base = args.images if mode == "images" else args.corpus
    paths = find_clips(base, args.clips, IMAGE_SUFFIXES if mode == "images" else CLIP_SUFFIXES)
    if not paths:
        log(f"no {'images' if mode == 'images' else 'clips'} in {base} matching {args.clips!r}")
        return 2

    fc_reason = ""
    CODECS["framecodec"].preset = args.framecodec_preset
    if "framecodec" in args.codecs:
        fc, fc_reason = load_framecodec()
        if fc is None:
            log(f"framecodec rows will be n/a: {fc_reason}")

    cache = Cache(args.cache_dir, read=not args.no_cache)
    clips: list[dict] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = Context(workdir, cache, isolated=not args.in_process,
                      keep_files=args.workdir is not None, cpu=cpu_count(),
                      timing_runs=args.timing_runs)
        for path in paths:
            src = load_image(path) if mode == "images" else load_source(path, args.frames)
            clips.append(src.describe())
            log(f"{src.name}: {src.frame_count} frames {src.width}x{src.height} {src.pix_fmt}")
            rows.extend(measure_clip(src, args.codecs, opts, ctx, fc_reason, args.threads_all))
            del src

    names = [c["name"] for c in clips]
    tots = totals(rows, names, refs)
    eq = equal_psnr_summary(rows, names)
    speed = speed_summary(rows)
    notes = methods_notes(mode, args, clips, rows, fc_reason, cache, ctx)
    print(render(mode, command, rows, tots, eq, speed, notes, refs, len(names)))

    report = build_report(args, command=command, started=started, mode=mode, base=base,
                          opts=opts, ctx=ctx, clips=clips, rows=rows, tots=tots, eq=eq,
                          speed=speed, notes=notes)
    if args.json:
        write_json(args.json, report)
    if args.report:
        write_report(args.report, report, mode, command, rows, tots, eq, speed, notes, refs)

    failed = [r for r in rows if r.status == "error" or (r.measured and not r.ok)]
    return 1 if failed else 0
