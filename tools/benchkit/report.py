# SPDX-License-Identifier: MIT
"""What a run writes: the text on stdout (also results.md), the JSON and the plots.

The methods notes say how every figure was measured, so that results.md stands on its own.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .cache import MEASURE_VERSION, Cache
from .codecs import CODECS, AVCodec, Options
from .codecs.base import pkg_version
from .codecs.framecodec_adapter import framecodec_fingerprint
from .common import TOOLS_DIR, log
from .rows import Row, Total
from .runner import Context, cpu_count
from .tables import clip_table, equal_psnr_table, rd_table, speed_table, totals_table


def environment() -> dict:
    """The versions and the machine behind the numbers (timings mean little without them)."""
    import av

    env = {
        "python": sys.version,
        "numpy": np.__version__,
        "av": av.__version__,
        "ffmpeg": getattr(av, "ffmpeg_version_info", None),
        "ffmpeg_libraries": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "imagecodecs": pkg_version("imagecodecs"),
        "matplotlib": pkg_version("matplotlib"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": cpu_count(),
    }
    try:
        import imagecodecs

        libs = imagecodecs.version(dict)
        for lib in ("charls", "libjxl", "libpng", "libjpeg_turbo", "zlib"):
            env[lib] = libs.get(lib)
    except Exception:  # noqa: BLE001
        pass
    fp = _safe(framecodec_fingerprint) or {}
    env["framecodec"] = fp.get("version")
    env["framecodec_source"] = fp
    return env


def _safe(fn: Callable):
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def methods_notes(mode: str, args, clips: Sequence[dict], rows: Sequence[Row],
                  fc_reason: str, cache: Cache, ctx: Context) -> list[str]:
    names = "G/B/R" if mode == "images" else "Y/U/V"
    lines = [
        "Ratios are bytes / reference bytes on the same clip (TOTAL: sum over clips / sum of the "
        "reference over the same clips); ÷JPEG-LS(N) compares with JPEG-LS at NEAR = max_error. "
        "bits/sample = bytes*8 / samples of all planes. fps = frames / seconds spent in the encode "
        "or decode calls only (a call under 2 s is run up to "
        f"{ctx.timing_runs} times in fresh processes "
        "and the fastest run counts, for every codec alike), one thread (ffv1/x264/x265 "
        "through PyAV's bundled FFmpeg, .mkv "
        "files; jxl/png/jpegls/jpeg through imagecodecs, one codestream per frame or plane, "
        "sizes without any container). A packed RGB source (bgr0, rgb24, ...) is read as its "
        "planes (gbrp, exactly, as framecodec reads it); FFV1 and x264 take 8-bit RGB only "
        "packed, so they code it as bgr0 (x264 as libx264rgb).",
        f"PSNR per plane ({names}, '∞' = exact) from the plane's squared error summed over all "
        "frames (peak 2^bitdepth-1). PSNR-YUV = 10·log10(peak² / weighted MSE) with plane "
        "weights 6:1:1 for 4:2:0 and 1:1:1 for 4:4:4 and RGB; weighting the MSE rather than the "
        "dB keeps a point whose chroma happens to be exact finite; the dB-weighted JCT-VC value "
        "(never below it) is in the JSON as psnr_yuv_db_weighted. SSIM: Wang et al. 2004, 11x11 "
        "Gaussian window (σ 1.5), K1 0.01, K2 0.03, mean over the valid window positions of each "
        "frame and plane, averaged over frames, planes combined with the PSNR weights.",
        "÷ladder@=PSNR: the point's bytes / the ladder's bytes at the same PSNR-YUV, log(bytes) "
        "interpolated piecewise linearly in PSNR between the ladder's points (dominated points "
        "dropped); n/a when the PSNR lies outside the ladder's range (no extrapolation). "
        "Ladders: " + "; ".join(
            [f"{k} {CODECS[k].cli.replace(' -crf C', '')} at CRF {','.join(map(str, args.crf))}"
             for k in ("x264crf", "x265crf") if k in args.codecs]
            + ([f"jpeg (4:4:4, optimised Huffman) at quality "
                f"{','.join(map(str, args.jpeg_quality))}"] if "jpeg" in args.codecs else [])
            or ["none measured"])
        + ("" if args.no_ladder_extension else
           "; a ladder whose lowest PSNR on a clip is still above a bounded point's is extended "
           "(CRF +4 up to 51, quality -10 down to 10) until it reaches it") + ".",
    ]
    if ctx.isolated:
        lines.append(
            "enc/dec MB: memory added by the coding call: peak RSS (VmHWM) of a child process "
            "that does only that encode or decode, minus its RSS just before the call (codec "
            "library imported, input frames or file loaded), the peak mark being reset at that "
            "moment. Totals show the largest clip's figure.")
    else:
        lines.append("Memory: not measured (--in-process).")
    if args.threads_all:
        lines.append(
            f"nT columns: the same points with all {ctx.cpu} cores: PyAV thread_count 0 (auto, "
            "frame+slice threads), x265 default thread pools; jxl/png/jpegls/jpeg code the "
            "frames on a pool of one thread per core; framecodec jobs=1, threads=cores. x264 and "
            "x265 streams can differ slightly with threads; their sizes are in the JSON.")
    lines.append("framecodec is measured like the others, through framecodec.encode (which "
                 "decodes the clip and trains its networks itself, inside the timing: its "
                 "encode fps include the training) and framecodec.decode_frames; 12 frames "
                 "(intra and inter) are encoded and decoded untimed first, once per run for "
                 "each kind of source (lossless or bounded, pixel format, depth), so that "
                 "numba's on-disk kernel cache is filled, and every decode child decodes two frames untimed before "
                 "the timed decode (loading the cached kernels); an encode child imports "
                 "framecodec's encoder modules untimed (as the others' import av is), while "
                 "loading its cached kernels stays in the encode timing.")
    fc_preset = getattr(args, "framecodec_preset", "default")
    if fc_preset != "default":
        lines.append(f"framecodec's encoder preset: {fc_preset} (--framecodec-preset; every "
                     "framecodec row).")
    lines.append("Frames: " + ", ".join(
        f"{c['name']} {c['frames']} ({c['width']}x{c['height']} {c['pix_fmt']})" for c in clips)
        + ".")
    encoders = sorted({r.encoder for r in rows if r.encoder and r.codec != "framecodec"})
    if encoders:
        lines.append("Encoders: " + "; ".join(encoders) + ".")
    if cache.root is not None:
        lines.append(f"Cache: {cache.hits} measurements read from {cache.root} (timings from "
                     f"the run that made them), {cache.misses} measured now.")
    if fc_reason and "framecodec" in args.codecs:
        lines.append(f"framecodec: n/a ({fc_reason}).")
    for r in rows:
        what = f"{r.clip} {r.codec} {r.setting}"
        if r.status == "error":
            lines.append(f"**ERROR** {what}: {r.note}")
        elif r.measured and not r.ok:
            kind = ("NOT BIT-EXACT" if r.max_error == 0 else "ERROR BOUND VIOLATED"
                    if r.max_error else "INCOMPLETE DECODE")
            lines.append(f"**{kind}** {what}: {r.note}")
        elif r.measured and r.note:
            lines.append(f"Note {what}: {r.note}")
    return lines


def render(mode: str, command: str, rows: Sequence[Row], tots: Sequence[Total],
           eq: Sequence[dict], speed: Sequence[dict], notes: Sequence[str],
           refs: Sequence[tuple[str, str]], n_clips: int, plots: Sequence[str] = ()) -> str:
    """The text printed on stdout, which is also the body of results.md."""
    psnr_name = "PSNR" if mode == "images" else "PSNR-YUV"
    parts = [f"Command: cd {shlex.quote(os.getcwd())} && {command}", "",
             clip_table(rows, refs), "", totals_table(tots, rows, refs), ""]
    if any(r.lossy for r in rows):
        parts += ["Lossy points: fidelity, and size ÷ each ladder's size at the same "
                  f"{psnr_name}:", "", rd_table(rows, psnr_name), ""]
    if eq:
        parts += ["Bounded-error points against the ladders at equal PSNR (geometric mean "
                  "over the clips where the PSNR lies inside the ladder):", "",
                  equal_psnr_table(eq, n_clips, psnr_name), ""]
    parts += ["Speed and memory (all clips):", "", speed_table(speed), ""]
    for p in plots:
        parts += [f"![{Path(p).stem}]({Path(p).name})", ""]
    parts.append("\n".join(f"- {line}" for line in notes))
    return "\n".join(parts)


def build_report(args, *, command: str, started: str, mode: str, base: Path, opts: Options,
                 ctx: Context, clips: Sequence[dict], rows: Sequence[Row], tots: Sequence[Total],
                 eq: Sequence[dict], speed: Sequence[dict], notes: Sequence[str]) -> dict:
    """Everything a run measured and what it ran with: results.json, and what the plots read."""
    return {
        "command": command,
        "cwd": os.getcwd(),
        "started": started,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": mode,
        "settings": {
            "frames": args.frames,
            "max_error": args.max_error,
            "crf": args.crf,
            "jpeg_quality": args.jpeg_quality,
            "codecs": args.codecs,
            "corpus": str(base),
            "threads": 1,
            "threads_all": ctx.cpu if args.threads_all else None,
            "isolated": ctx.isolated,
            "cache_dir": str(args.cache_dir),
            "no_cache": args.no_cache,
            "measure_version": MEASURE_VERSION,
            "timing_runs": ctx.timing_runs,
            "reference_codecs": {k: {"encoder": c.encoder, "options": c.options(p, "1"),
                                     "gop_size": c.gop_size, "cli": c.cli}
                                 for k, c in CODECS.items() if isinstance(c, AVCodec)
                                 and k in args.codecs for p in c.points(opts)[:1]},
        },
        "codecs": {k: {"title": CODECS[k].title, "kind": CODECS[k].kind,
                       "version": _safe(CODECS[k].version),
                       "cli": getattr(CODECS[k], "cli", ""),
                       "points": [asdict(p) for p in CODECS[k].points(opts)]}
                   for k in args.codecs},
        "environment": environment(),
        "clips": clips,
        "rows": [r.to_json() for r in rows],
        "totals": [t.to_json() for t in tots],
        "equal_psnr": eq,
        "speed": speed,
        "notes": notes,
    }


def json_safe(value):
    """Non-finite floats become None (strict JSON has no inf or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(report), indent=2, allow_nan=False) + "\n")
    log(f"wrote {path}")


def load_plot_module():
    """tools/bench_plot.py, loaded by path: it is also a script that redraws a results.json."""
    spec = importlib.util.spec_from_file_location("framecodec_bench_plot",
                                                  TOOLS_DIR / "bench_plot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_report(outdir: Path, report: dict, mode: str, command: str, rows, tots, eq, speed,
                 notes, refs) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    write_json(outdir / "results.json", report)
    plots = []
    try:
        plot = load_plot_module()
        plots = plot.write_plots(report, outdir)
        for p in plots:
            log(f"wrote {p}")
    except ImportError as exc:
        log(f"no plots: {exc} (pip install 'framecodec[bench]' for matplotlib)")
    except Exception:  # noqa: BLE001 - a plotting bug must not lose the tables
        traceback.print_exc(file=sys.stderr)
        log("no plots: plotting failed (tables and JSON are written)")
    title = "# framecodec benchmark" + (" (still images)" if mode == "images" else "")
    env = report["environment"]
    fc = env.get("framecodec_source") or {}
    head = [title, "",
            f"Generated {report['finished']} on {env['cpu']} ({env['cpu_affinity']} cores "
            f"usable), Python {platform.python_version()}, PyAV {env['av']} (FFmpeg "
            f"{env['ffmpeg']}), imagecodecs {env.get('imagecodecs')} (CharLS {env.get('charls')}, "
            f"libjxl {env.get('libjxl')}, libpng {env.get('libpng')}, libjpeg-turbo "
            f"{env.get('libjpeg_turbo')}), framecodec {fc.get('version')} (source "
            f"{str(fc.get('source_sha256'))[:12]}). All numbers: results.json.", ""]
    body = render(mode, command, rows, tots, eq, speed, notes, refs, len(report["clips"]),
                  [str(p) for p in plots])
    (outdir / "results.md").write_text("\n".join(head) + "\n" + body + "\n")
    log(f"wrote {outdir / 'results.md'}")
