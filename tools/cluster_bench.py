#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measure encoding on Ray: speed-up over workers, per-group overhead, driver feed rate.

Measurements for the README's "Encoding on a cluster" (needs the ``ray`` extra;
run on an otherwise idle machine and report its load):

    python tools/cluster_bench.py speedup clip.mkv --frames 0:64 --group-size 8 \\
        --cpus 1 2 --repeat 3
    python tools/cluster_bench.py overhead clip.mkv --frames 0:8
    python tools/cluster_bench.py feed a.mkv b.mkv --frames 120 --group-size 8
    python tools/cluster_bench.py model --compute 60 --frames-per-group 60 \
        --overhead-ms 100 --startup 1.4 --feed-fps 88 --clip-frames 90000

``speedup`` encodes the same frames on a local Ray instance of each CPU count
(fresh each time, so worker start-up counts) and once in this process
without Ray, checks the bytes are the same, and reports wall times, the
workers' compute (the sum of their time on groups) and the time a worker
slot spent not computing, per group. ``overhead`` sends one group to a task
that returns at once (empty: scheduling alone; its frames through the
object store; a --shared-input range the task reads for itself) and times
the round trips. ``feed`` runs
the driver as an encode does (demux, plan, digest, submit) against tasks
that return at once without reading anything, so what it measures is how
fast the driver can feed workers, in frames/s, per mode (on one machine:
the object store's transfer is a copy in memory, not a network). ``model``
turns such figures into the efficiency expected at 8, 32 and 64 workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import framecodec  # noqa: E402
from framecodec.encoder import cluster  # noqa: E402
from framecodec.encoder.grouping import plan_groups  # noqa: E402
from framecodec.encoder.jobs import GroupJob, GroupResult  # noqa: E402
from framecodec.encoder.settings import EncodeSettings  # noqa: E402
from framecodec.io import media  # noqa: E402
from framecodec.metrics import PlaneStats  # noqa: E402


def _ray(cpus: int):
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    return ray


def _frames(text: str) -> tuple[int, int]:
    a, _, b = text.partition(":")
    return int(a or 0), int(b)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------ speedup


def _capture_timings() -> list:
    """RayExecutor's per-group timings, kept as each executor closes."""
    seen: list = []
    close = cluster.RayExecutor.close

    def keep(self):
        seen.append(list(self.timings))
        close(self)

    cluster.RayExecutor.close = keep
    return seen


def speedup(args) -> dict:
    seen = _capture_timings()
    out = Path(args.out)
    settings = EncodeSettings(group_size=args.group_size)
    runs: dict = {"local": [], **{f"ray-{c}": [] for c in args.cpus}}
    reference = None
    for repeat in range(args.repeat):
        for name in runs:
            load = _load()
            if name == "local":
                t0 = time.perf_counter()
                framecodec.encode(args.input, out, settings=settings, frames=args.frames,
                                  overwrite=True)
                wall, timings = time.perf_counter() - t0, None
            else:
                cpus = int(name.split("-")[1])
                ray = _ray(cpus)
                t0 = time.perf_counter()
                framecodec.encode(args.input, out, settings=settings, frames=args.frames,
                                  overwrite=True, ray=True)
                wall, timings = time.perf_counter() - t0, seen[-1]
                ray.shutdown()
            data = out.read_bytes()
            reference = reference or data
            assert data == reference, f"{name}: other bytes than the first run"
            run = {"wall": wall, "load_before": load, "load_after": _load()}
            if timings:
                compute = sum(t.worker_seconds for t in timings)
                slots = int(name.split("-")[1])
                run.update(groups=len(timings), compute=compute,
                           idle_per_group_ms=1000 * (slots * wall - compute) / len(timings))
            runs[name].append(run)
            print(name, json.dumps(run), flush=True)
    summary = {}
    for name, rs in runs.items():
        summary[name] = {"median_wall": statistics.median(r["wall"] for r in rs),
                         "walls": [round(r["wall"], 1) for r in rs]}
        if rs and "compute" in rs[0]:
            summary[name]["median_compute"] = statistics.median(r["compute"] for r in rs)
            summary[name]["median_idle_per_group_ms"] = statistics.median(
                r["idle_per_group_ms"] for r in rs)
    if len(args.cpus) >= 2:
        one, many = f"ray-{args.cpus[0]}", f"ray-{args.cpus[-1]}"
        summary["speedup"] = summary[one]["median_wall"] / summary[many]["median_wall"]
        summary["speedups_per_repeat"] = [round(a["wall"] / b["wall"], 3)
                                          for a, b in zip(runs[one], runs[many])]
    return summary


# ------------------------------------------------------------------ overhead


def _returns_at_once(job, shared):
    """A task that takes its group (fetching it from the object store, or reading
    its range itself) and codes nothing."""
    import ray

    if shared is not None:
        frames, fell_back = cluster._read_range(shared)
    else:
        frames, fell_back = job.frames, False
    result = GroupResult(job.index, b"", [], PlaneStats(), 0, [f.pts for f in frames])
    context = ray.get_runtime_context()
    return result, cluster._Where(context.get_node_id(), context.get_worker_id(), 0, fell_back)


def _returns_unread(job, shared):
    """A task that does not even read its --shared-input range (the driver's cost alone)."""
    result, where = _returns_at_once(job, None)
    if shared is not None:
        result.pts = [None] * shared.count
    return result, where


class _NoCoding(cluster.RayExecutor):
    """The executor as it is, with tasks that code nothing: its cost alone."""

    def __init__(self, options, read: bool = True, **kw):
        super().__init__(options, **kw)
        self._task = self._ray.remote(_returns_at_once if read else _returns_unread)


def _jobs(path: Path, start: int, stop: int | None, group: int):
    with media.open_source(path) as source:
        info = source.info
        plans = plan_groups(source.frames(start, stop), bit_depth=info.format.bit_depth,
                            max_size=group, fixed=True)
        first = 0
        for index, plan in enumerate(plans):
            yield GroupJob(index, first, plan.frames, plan.reason, info, EncodeSettings())
            first += len(plan.frames)


def overhead(args) -> dict:
    """Round trips of one group to a task that codes nothing: scheduling alone (an
    empty group), its frames through the object store, its range read by the task."""
    _ray(2)
    start, stop = args.frames
    jobs = list(_jobs(Path(args.input), start, stop, stop - start))
    empty = [dataclasses.replace(jobs[0], frames=[])]
    out = {}
    for mode in ("scheduling", "object-store", "shared-input"):
        shared = cluster.SharedSource(Path(args.input).resolve(), start) \
            if mode == "shared-input" else None
        executor = _NoCoding(cluster.RayOptions(shared_input=shared is not None),
                             shared=shared)
        times = []
        for _ in range(args.repeat + 1):  # the first starts a worker: left out
            t0 = time.perf_counter()
            list(executor.run(iter(empty if mode == "scheduling" else jobs)))
            times.append(time.perf_counter() - t0)
        out[mode] = {"round_trip_ms": [round(1000 * t, 1) for t in times[1:]],
                     "median_ms": round(1000 * statistics.median(times[1:]), 1),
                     "fallbacks": executor.fallbacks}
        executor.close()
    out["group_bytes"] = sum(p.nbytes for f in jobs[0].frames for p in f.planes)
    return out


# ------------------------------------------------------------------ feed


def feed(args) -> dict:
    _ray(2)
    out = {}
    for path in map(Path, args.inputs):
        decodes = []
        for _ in range(args.repeat):
            with media.open_source(path) as source:
                t0 = time.perf_counter()
                count = sum(1 for _ in source.frames(0, args.frames))
                decodes.append(count / (time.perf_counter() - t0))
                info = source.info
        row = {"size": f"{info.width}x{info.height}", "frames": count,
               "decode_only_fps": round(statistics.median(decodes), 1), "load": _load()}
        for mode in ("object-store", "shared-input"):
            shared = cluster.SharedSource(path.resolve(), 0) if mode == "shared-input" else None
            executor = _NoCoding(cluster.RayOptions(shared_input=shared is not None),
                                 read=False, shared=shared)
            rates = []
            for _ in range(args.repeat + 1):  # the first starts the workers: left out
                t0 = time.perf_counter()
                jobs = _digested(_jobs(path, 0, args.frames, args.group_size))
                fed = sum(len(r.pts) for r in executor.run(jobs))
                rates.append(fed / (time.perf_counter() - t0))
            row[f"{mode}_fps"] = round(statistics.median(rates[1:]), 1)
            row[f"{mode}_runs"] = [round(r, 1) for r in rates[1:]]
            executor.close()
        out[path.name] = row
        print(path.name, json.dumps(row), flush=True)
    return out


def _digested(jobs):
    """Jobs as the journal hands them on: each one's frame digest computed."""
    for job in jobs:
        job.digest  # noqa: B018 - computed here, as in an encode
        yield job


# ------------------------------------------------------------------ model


def model(args) -> dict:
    """Efficiency at N workers from measured figures (the README states the assumptions):

    E(N) = feed x overhead x start-up x tail, with
    feed = min(1, F / (N f)), f = n / c (one worker's frames/s);
    overhead = c / (c + o); start-up = 1 - s / T, T = G c / N;
    tail = T / (T + c): at the end, workers wait for the last groups, at worst one
    group's time (for groups of equal length or not).
    """
    c, n, o, s, feed = args.compute, args.frames_per_group, args.overhead_ms / 1000, \
        args.startup, args.feed_fps
    groups = math.ceil(args.clip_frames / n)
    rows = {}
    for workers in args.workers:
        f = n / c
        wall = groups * c / workers
        terms = {"feed": min(1.0, feed / (workers * f)), "overhead": c / (c + o),
                 "startup": 1 - s / wall,
                 "tail": wall / (wall + c)}
        rows[workers] = {**{k: round(v, 4) for k, v in terms.items()},
                         "efficiency": round(math.prod(terms.values()), 3),
                         "driver_load": round(workers * f / feed, 2)}
        print(workers, json.dumps(rows[workers]))
    return {"groups": groups, "per_worker_fps": round(n / c, 3), "rows": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speedup")
    s.add_argument("input")
    s.add_argument("--frames", type=_frames, default=(0, 64))
    s.add_argument("--group-size", type=int, default=8)
    s.add_argument("--cpus", type=int, nargs="+", default=[1, 2])
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--out", default="/tmp/cluster_bench.fcv")
    o = sub.add_parser("overhead")
    o.add_argument("input")
    o.add_argument("--frames", type=_frames, default=(0, 8))
    o.add_argument("--repeat", type=int, default=5)
    f = sub.add_parser("feed")
    f.add_argument("inputs", nargs="+")
    f.add_argument("--frames", type=int, default=120)
    f.add_argument("--group-size", type=int, default=8)
    f.add_argument("--repeat", type=int, default=3)
    m = sub.add_parser("model")
    m.add_argument("--compute", type=float, required=True, help="seconds per group (c)")
    m.add_argument("--frames-per-group", type=int, required=True, help="n")
    m.add_argument("--overhead-ms", type=float, required=True, help="per group (o)")
    m.add_argument("--startup", type=float, required=True, help="seconds per worker (s)")
    m.add_argument("--feed-fps", type=float, required=True, help="the driver's (F)")
    m.add_argument("--clip-frames", type=int, required=True)
    m.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    args = p.parse_args(argv)
    result = {"speedup": speedup, "overhead": overhead, "feed": feed,
              "model": model}[args.what](args)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
