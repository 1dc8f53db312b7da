# SPDX-License-Identifier: MIT
"""Measuring: one child process per encode and per decode, the cache, and the per-clip loop.

A child runs tools/bench.py --child on a pickled job, so that its peak memory is the codec's
alone; --in-process runs the same job in this process instead (no memory figures).
"""

from __future__ import annotations

import datetime as _dt
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cache import MEASURE_VERSION, Cache, file_sha256
from .codecs import CODECS, Codec, Options, Point
from .codecs.base import av_version
from .common import BENCH_FILE, log
from .probes import MemProbe
from .rows import Row, delta_mb, fps
from .sources import RawSink, Source, evaluate
from .tables import fmt


def child_run(job: dict, kind: str, isolated: bool) -> dict:
    """Encode or decode one point (in a child process when ``isolated``)."""
    codec = CODECS[job["codec"]]
    point = Point(**job["point"])
    mem = MemProbe(isolated)
    if kind == "encode":
        return codec.encode(job, point, mem)
    sink = RawSink(job["decoded"])
    try:
        result = codec.decode(job, point, mem, sink)
    finally:
        sink.close()
    result["manifest"] = sink.manifest
    return result


def child_main(job_path: str, result_path: str) -> int:
    with open(job_path, "rb") as f:
        job, kind = pickle.load(f)
    try:
        result = {"status": "ok", **child_run(job, kind, isolated=True)}
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    with open(result_path, "wb") as f:
        pickle.dump(result, f)
    return 0


class MeasureError(Exception):
    """A child failed and has said why: the row carries the message, no local traceback."""


def run_job(job: dict, kind: str, isolated: bool, workdir: Path) -> dict:
    if not isolated:
        return child_run(job, kind, isolated=False)
    stem = workdir / f"job-{os.getpid()}-{time.monotonic_ns()}"
    job_path, result_path = stem.with_suffix(".job"), stem.with_suffix(".result")
    try:
        with open(job_path, "wb") as f:
            pickle.dump((job, kind), f)
        proc = subprocess.run([sys.executable, str(BENCH_FILE), "--child", str(job_path),
                               str(result_path)], check=False)
        if not result_path.exists():
            raise MeasureError(f"{kind} child exited with status {proc.returncode} "
                               "and no result")
        with open(result_path, "rb") as f:
            result = pickle.load(f)
    finally:
        job_path.unlink(missing_ok=True)
        result_path.unlink(missing_ok=True)
    if result.get("status") != "ok":
        log(result.get("traceback", ""))
        raise MeasureError(result.get("error", "child failed"))
    result.pop("status", None)
    return result


def _join(a: str, b: str) -> str:
    if not b:
        return a
    return f"{a}; {b}" if a else b


@dataclass
class Context:
    """What the measurements of one run share."""

    workdir: Path
    cache: Cache
    isolated: bool = True
    keep_files: bool = False
    cpu: int = 1
    warmed: set = field(default_factory=set)  # framecodec warm-ups done: (lossy, source kind)
    timing_runs: int = 3  # runs a short coding call is timed in (retime), every codec alike


def cpu_count() -> int:
    """The cores this process may run on (its affinity), which is what "all cores" gets."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def measure(codec: Codec, point: Point, src: Source, raw: Path, threads: str, ctx: Context,
            clip_hash: str) -> dict:
    """Encode, decode and compare one point (cached); raises on failure."""
    settings = codec.settings(point, threads, ctx.cpu)
    material = {
        "measure_version": MEASURE_VERSION,
        "clip_sha256": clip_hash,
        "clip_kind": src.kind,
        "frames": src.frame_count,
        "source_decoder": av_version(),
        "codec": codec.key,
        "point": asdict(point),
        "settings": settings,
        "codec_version": codec.version(),
        "threads": threads,
        "cpu_count": ctx.cpu if threads != "1" else 1,
        "ssim": threads == "1",
    }
    if ctx.timing_runs != RETIME_RUNS:  # (the default's measurements stay cached as they were)
        material["timing_runs"] = ctx.timing_runs
    cached = ctx.cache.get(material, need_memory=ctx.isolated)
    if cached is not None:
        return {**cached, "cached": True}
    ctx.cache.misses += 1
    if codec.key == "framecodec":
        warm_up_framecodec(codec, point, src, raw, ctx)

    tag = f"{src.name}.{codec.key}.{point.label.replace('=', '')}.t{threads}"
    coded = ctx.workdir / f"{tag}.{codec.extension}"
    decoded = ctx.workdir / f"{tag}.decoded.raw"
    job = {"codec": codec.key, "point": asdict(point), "threads": threads,
           "cpu_count": ctx.cpu, "layout": src.layout(), "source_raw": str(raw),
           "coded": str(coded), "decoded": str(decoded), "settings": settings}
    try:
        enc = run_job(job, "encode", ctx.isolated, ctx.workdir)
        retime(enc, "encode", job, ctx)
        dec = run_job(job, "decode", ctx.isolated, ctx.workdir)
        retime(dec, "decode", job, ctx)
        want_ssim = threads == "1"
        metrics = evaluate(src, decoded, dec.pop("manifest"), dec.pop("problems", []),
                           point.bound, want_ssim)
    finally:
        decoded.unlink(missing_ok=True)
        if not ctx.keep_files:
            coded.unlink(missing_ok=True)
    m = {**enc, **dec, **metrics, "settings": settings, "version": codec.version(),
         "threads": threads, "isolated": ctx.isolated,
         "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    m.setdefault("note", "")
    ctx.cache.put(material, m)
    return {**m, "cached": False}


# A coding call shorter than this is timed again, up to RETIME_RUNS runs in all (by
# default; --timing-runs), and the fastest run counts (every codec alike): on a shared
# machine a call of a few tenths of a second swings by half between runs, a fastest of
# three much less. Two threads need both cores free, so another tenant's work slows a
# two-thread run more than a one-thread run: more runs let a thread ratio reach what the
# code gives.
RETIME_UNDER_SECONDS = 2.0
RETIME_RUNS = 3


def retime(result: dict, kind: str, job: dict, ctx: Context) -> None:
    """Time a short encode or decode (``result``, the first run's) again (in fresh
    children unless --in-process) and keep the fastest run's wall and CPU seconds;
    everything else (bytes, memory, the decoded frames) stays the first run's. A
    repeat writes its own files, deleted after; a repeat whose encode differs in
    size is noted, not used."""
    key = f"{kind}_seconds"
    spent = result[key]
    runs = 1
    while spent < RETIME_UNDER_SECONDS and runs < ctx.timing_runs:
        runs += 1
        again = {**job, "decoded": _retime_path(job["decoded"])}
        if kind == "encode":  # a decode repeat reads the first run's file
            again["coded"] = _retime_path(job["coded"])
        try:
            rerun = run_job(again, kind, ctx.isolated, ctx.workdir)
        finally:
            for path in {again["coded"], again["decoded"]} - {job["coded"], job["decoded"]}:
                Path(path).unlink(missing_ok=True)
        if kind == "encode" and rerun.get("bytes") != result.get("bytes"):
            result["note"] = _join(result.get("note", ""), "a timing repeat coded to "
                                   f"{rerun.get('bytes')} bytes (not used)")
            continue
        spent += rerun[key]
        if rerun[key] < result[key]:
            result[key] = rerun[key]
            result[f"{kind}_cpu_seconds"] = rerun.get(f"{kind}_cpu_seconds")
    result[f"{kind}_runs"] = runs


def _retime_path(path: str) -> str:
    p = Path(path)
    return str(p.with_name(f"{p.stem}.retime{p.suffix}"))  # the extension names the format


WARM_UP_FRAMES = 12


def warm_up_framecodec(codec: Codec, point: Point, src: Source, raw: Path, ctx: Context) -> None:
    """Encode and decode a clip's first frames once per run, kind of point and kind of
    source, untimed.

    numba compiles a kernel on its first call after framecodec's source changed and keeps it
    in its on-disk cache; without this the first timed encode of a run would include the
    compilation. Loading the cached kernels (well under a second) stays in the timings.
    12 frames, not 2: two frames were both coded intra, so the motion kernels compiled inside
    the first timed encode (animation clip: 16.2 s instead of 9.8 s); after 12 frames of it,
    no corpus clip compiles anything more. A source of another pixel format or sample type
    (an RGB clip, a 16-bit scan) warms up again, since its kernels are other specialisations.
    """
    kind = ((point.param or 0) > 0, src.pix_fmt, src.bitdepth, src.kind)
    if kind in ctx.warmed:
        return
    ctx.warmed.add(kind)
    layout = {**src.layout(), "frames": min(WARM_UP_FRAMES, src.frame_count)}
    tag = f"warm-up.{src.name}.{point.param}"
    job = {"codec": codec.key, "point": asdict(point), "threads": "1", "cpu_count": ctx.cpu,
           "layout": layout, "source_raw": str(raw), "coded": str(ctx.workdir / f"{tag}.fcv"),
           "decoded": str(ctx.workdir / f"{tag}.raw")}
    log(f"  framecodec warm-up ({'lossy' if kind[0] else 'lossless'} kernels, {src.pix_fmt}, "
        f"{layout['frames']} frames, untimed)")
    try:
        run_job(job, "encode", ctx.isolated, ctx.workdir)
        run_job(job, "decode", ctx.isolated, ctx.workdir)
    except Exception as exc:  # noqa: BLE001 - the real measurement will report it
        log(f"  framecodec warm-up failed: {exc}")
    finally:
        for key in ("coded", "decoded"):
            Path(job[key]).unlink(missing_ok=True)


def apply_measurement(row: Row, m: dict) -> None:
    for name in ("bytes", "encode_seconds", "decode_seconds", "encode_cpu_seconds",
                 "decode_cpu_seconds", "ok", "measured_max_error", "psnr_db", "psnr_yuv_db",
                 "psnr_yuv_db_weighted", "exact", "ssim", "ssim_yuv", "frame_max_errors",
                 "encode_mem", "decode_mem", "settings", "version", "cached", "measured_at"):
        if name in m:
            setattr(row, name, m[name])
    row.encoder = m.get("encoder", "") or ""
    row.note = _join(row.note, m.get("note", ""))
    row.note = _join(row.note, m.get("problem") or "")
    row.note = _join(row.note, m.get("failure") or "")
    # Only over half a second: the process CPU clock of short calls is too coarse on some VMs.
    if row.encode_cpu_seconds and row.encode_seconds and row.encode_seconds > 0.5 and \
            row.encode_cpu_seconds > 1.3 * row.encode_seconds:
        row.note = _join(row.note, "encode used more than one core")


def measure_row(codec: Codec, point: Point, src: Source, raw: Path, ctx: Context,
                clip_hash: str, threads_all: bool) -> Row:
    row = Row(src.name, codec.key, point.bound, src.frame_count, src.samples,
              param=point.param, setting=point.label, kind=codec.kind)
    try:
        m = measure(codec, point, src, raw, "1", ctx, clip_hash)
    except Exception as exc:  # noqa: BLE001 - one failing codec must not stop the run
        if not isinstance(exc, MeasureError):
            traceback.print_exc(file=sys.stderr)
        row.status = "error"
        row.note = f"{type(exc).__name__}: {exc}" if not isinstance(exc, MeasureError) \
            else str(exc)
        return row
    apply_measurement(row, m)
    if threads_all:
        try:
            mt = measure(codec, point, src, raw, "all", ctx, clip_hash)
            row.threads_all = {
                "threads": ctx.cpu, "bytes": mt["bytes"],
                "encode_seconds": mt["encode_seconds"], "decode_seconds": mt["decode_seconds"],
                "encode_fps": fps(row.frames, mt["encode_seconds"]),
                "decode_fps": fps(row.frames, mt["decode_seconds"]),
                "encode_cpu_seconds": mt.get("encode_cpu_seconds"),
                "decode_cpu_seconds": mt.get("decode_cpu_seconds"),
                "encode_mem": mt.get("encode_mem"), "decode_mem": mt.get("decode_mem"),
                "ok": mt["ok"], "measured_max_error": mt["measured_max_error"],
                "psnr_yuv_db": mt.get("psnr_yuv_db"),
                "settings": mt.get("settings"), "cached": mt.get("cached", False),
                "note": _join(mt.get("problem") or "", mt.get("failure") or ""),
            }
            if not mt["ok"]:
                row.ok = False
                row.note = _join(row.note, f"all-cores run: {row.threads_all['note']}")
        except Exception as exc:  # noqa: BLE001
            if not isinstance(exc, MeasureError):
                traceback.print_exc(file=sys.stderr)
            row.threads_all = {"threads": ctx.cpu, "error": f"{exc}"}
            row.note = _join(row.note, f"all-cores run failed: {exc}")
    return row


def measure_in_process(codec_key: str, src: Source, point: Point | None, workdir: Path,
                       keep_files: bool = True) -> Row:
    """Measure one point without children or cache (used by the tests)."""
    codec = CODECS[codec_key]
    point = point or codec.points(Options())[0]
    raw = workdir / f"{src.name}.src.raw"
    src.write_raw(raw)
    ctx = Context(workdir, Cache(None), isolated=False, keep_files=keep_files, cpu=cpu_count())
    try:
        return measure_row(codec, point, src, raw, ctx, "test", threads_all=False)
    finally:
        raw.unlink(missing_ok=True)


def run_jpegls(src: Source, near: int) -> Row:
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        return measure_in_process("jpegls", src, Point(near, near, f"NEAR={near}"), Path(tmp))


def measure_clip(src: Source, codecs: Sequence[str], opts: Options, ctx: Context,
                 fc_reason: str, threads_all: bool) -> list[Row]:
    raw = ctx.workdir / f"{src.name}.src.raw"
    src.write_raw(raw)
    clip_hash = file_sha256(src.path)
    by_codec: dict[str, list[Row]] = {}
    # Ladders last: they are extended to reach the PSNR of the bounded points.
    order = sorted(codecs, key=lambda c: CODECS[c].kind == "ladder")
    try:
        for name in order:
            codec = CODECS[name]
            mine = by_codec.setdefault(name, [])
            for point in codec.points(opts):
                if name == "framecodec" and fc_reason:
                    mine.append(Row(src.name, name, point.bound, src.frame_count, src.samples,
                                    status="n/a", note=fc_reason, param=point.param,
                                    setting=point.label, kind=codec.kind))
                    continue
                mine.append(measure_logged(codec, point, src, raw, ctx, clip_hash, threads_all))
            if codec.kind == "ladder" and opts.extend_ladders:
                targets = [r.psnr_yuv_db for rs in by_codec.values() for r in rs
                           if r.lossy and r.max_error]
                while targets and mine and mine[-1].measured:
                    reached = [r.psnr_yuv_db for r in mine if r.lossy]
                    point = codec.next_point([r.param for r in mine])
                    if not reached or min(reached) <= min(targets) or point is None:
                        break
                    log(f"  {name}: extending the ladder to reach {min(targets):.2f} dB")
                    mine.append(measure_logged(codec, point, src, raw, ctx, clip_hash,
                                               threads_all))
    finally:
        raw.unlink(missing_ok=True)
    for name in codecs:  # extensions were appended: show each ladder in order
        if CODECS[name].kind == "ladder":
            by_codec.get(name, []).sort(key=lambda r: (r.param is None, r.param))
    return [r for name in codecs for r in by_codec.get(name, [])]


def measure_logged(codec: Codec, point: Point, src: Source, raw: Path, ctx: Context,
                   clip_hash: str, threads_all: bool) -> Row:
    log(f"  {codec.key} {point.label} ...")
    row = measure_row(codec, point, src, raw, ctx, clip_hash, threads_all)
    report_row(row)
    return row


def report_row(row: Row) -> None:
    if row.status != "ok":
        log(f"    {row.status}: {row.note}")
        return
    fid = "exact" if row.exact else (f"PSNR-YUV {fmt(row.psnr_yuv_db, 2)} dB, "
                                     f"max |error| {row.measured_max_error}")
    mem = f", mem +{fmt(delta_mb(row.encode_mem), 1)}/+{fmt(delta_mb(row.decode_mem), 1)} MB" \
        if row.encode_mem else ""
    log(f"    {row.bytes} bytes, {row.bits_per_sample:.3f} bits/sample, {fid}, "
        f"enc {fmt(row.encode_fps, 1)} fps, dec {fmt(row.decode_fps, 1)} fps{mem}"
        f"{' (cached)' if row.cached else ''}, ok={row.ok}")
    if row.ok is False:
        what = "bit-exact" if row.max_error == 0 else (
            "within the bound" if row.max_error else "decoded whole")
        log(f"!!! WARNING: {row.codec} {row.setting} on {row.clip} is NOT {what}: "
            f"max |error| {row.measured_max_error}. {row.note}")
