# SPDX-License-Identifier: MIT
"""``framecodec tune``: search encoder settings for a clip and a target.

Encoder only. A sample of the clip (its first frames, and a window from the
middle when the clip is long) is coded in memory under candidate settings,
one setting changed at a time (coordinate descent from the starting
settings); a candidate is kept when it is smaller for the same target
(``--max-error`` or ``--target-psnr``), or better in quality for a size
target, and fast enough for ``--min-fps``. Every try is measured: bytes,
bits per sample, PSNR, max error, encode and decode fps. The search stops
when every setting has been tried or the time budget is spent.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..coding.decoder import decode_group
from ..format.container import FrameRecord
from ..errors import UsageError
from ..format.group import GroupHeader
from ..frames import Frame, VideoInfo
from ..metrics import PlaneStats
from .jobs import GroupJob, GroupResult, LocalExecutor
from .settings import EncodeSettings

__all__ = ["Trial", "TuneTarget", "tune", "SEARCH"]

# The settings tried, in order, each against the best found so far.
SEARCH: list[tuple[str, list]] = [
    ("hidden", [(16, 8), (32, 16), (32, 32), (0, 0)]),
    ("train_steps", [400, 1000, 2000]),
    ("refs", [1, 2, 3, 4]),
    ("block", [8, 16, 32]),
    ("search_range", [16, 48, 96]),
    ("max_group", [15, 30, 60, 120]),
    ("train_samples", [60000, 120000, 200000]),
    ("palette", ["off", "on"]),
]


@dataclass(frozen=True)
class TuneTarget:
    max_error: int | None = 0
    psnr: float | None = None
    size_per_frame: float | None = None  # bytes per frame, for size targets
    min_encode_fps: float | None = None
    min_decode_fps: float | None = None

    def fast_enough(self, encode_fps: float, decode_fps: float) -> bool:
        """Whether measured speeds meet the floors (a missing floor always does)."""
        return ((self.min_encode_fps is None or encode_fps >= self.min_encode_fps)
                and (self.min_decode_fps is None or decode_fps >= self.min_decode_fps))


@dataclass
class Trial:
    settings: EncodeSettings
    changed: str
    bytes: int
    samples: int
    psnr: float
    max_error: int
    encode_fps: float
    decode_fps: float
    meets: bool = True

    @property
    def bits_per_sample(self) -> float:
        return 8 * self.bytes / max(self.samples, 1)


def sample_frames(source, info: VideoInfo, length: int) -> list[list[Frame]]:
    """Up to two windows of ``length`` frames: the start and, if the clip is long
    enough, its middle (a representative sample at bounded cost)."""
    total = info.frame_count
    windows = [(0, length)]
    if total and total >= 3 * length:
        middle = total // 2
        windows.append((middle, middle + length))
    out = []
    for start, stop in windows:
        frames = list(source.frames(start, stop))
        if frames:
            out.append(frames)
    return out


def _trial_jobs(info: VideoInfo, windows: list[list[Frame]], settings: EncodeSettings,
                target: TuneTarget, first_index: int) -> tuple[list[GroupJob], EncodeSettings]:
    """The groups a trial codes (the windows cut as encode would), and its settings."""
    if target.psnr is None and target.size_per_frame is None:
        settings = settings.replace(max_error=target.max_error or 0)
    size = settings.group_size or settings.max_group
    jobs = []
    for frames in windows:
        for at in range(0, len(frames), size):
            group = frames[at:at + size]
            budget = None if target.size_per_frame is None else \
                int(target.size_per_frame * len(group))
            jobs.append(GroupJob(first_index + len(jobs), 0, group, 0, info, settings,
                                 target.psnr, budget))
    return jobs, settings


def _score(info: VideoInfo, windows: list[list[Frame]], settings: EncodeSettings,
           target: TuneTarget, results: list[GroupResult]) -> Trial:
    """A trial from its coded groups: sizes, fidelity, the workers' encode time, and a
    decode here."""
    stats = PlaneStats()
    for result in results:
        stats.merge(result.stats)
    encode_seconds = max(sum(r.seconds for r in results), 1e-9)
    n_frames = sum(len(w) for w in windows)
    t0 = time.perf_counter()
    for result in results:
        header = GroupHeader.from_bytes(result.header, info, 0)
        records = [FrameRecord(k, None, p) for k, p in enumerate(result.payloads)]
        for _ in decode_group(info, header, records):
            pass
    decode_seconds = time.perf_counter() - t0
    total_bytes = sum(r.bytes for r in results)
    samples = n_frames * info.samples_per_frame
    trial = Trial(settings, "", total_bytes, samples, stats.psnr(info.format.max_value),
                  stats.worst, n_frames / encode_seconds, n_frames / max(decode_seconds, 1e-9))
    trial.meets = target.fast_enough(trial.encode_fps, trial.decode_fps)
    return trial


def _measure(info: VideoInfo, windows: list[list[Frame]], settings: EncodeSettings,
             target: TuneTarget, executor=None) -> Trial:
    """One trial: the windows coded in groups as ``encode`` would, then decoded."""
    measured = _measure_all(executor or LocalExecutor(1), info, windows,
                            iter([(None, settings)]), target)
    return [trial for _, _, trial in measured][0]


def _measure_all(executor, info: VideoInfo, windows: list[list[Frame]],
                 candidates: Iterator[tuple[object, EncodeSettings | None]],
                 target: TuneTarget) -> Iterator[tuple[object, EncodeSettings | None,
                                                        Trial | None]]:
    """(tag, settings, trial) for each (tag, settings) candidate, in order; a None
    settings is passed through unmeasured. Candidates are drawn as the executor
    asks for work: one at a time locally, ahead of the results on a cluster."""
    order: deque[tuple[object, EncodeSettings | None, EncodeSettings | None, int]] = deque()
    count = itertools.count()

    def jobs() -> Iterator[GroupJob]:
        for tag, settings in candidates:
            if settings is None:
                order.append((tag, None, None, 0))
                continue
            group_jobs, coded = _trial_jobs(info, windows, settings, target, next(count) << 16)
            order.append((tag, settings, coded, len(group_jobs)))
            yield from group_jobs

    def skipped() -> Iterator[tuple[object, None, None]]:
        while order and order[0][3] == 0:
            yield order.popleft()[0], None, None

    results: list[GroupResult] = []
    for result in executor.run(jobs()):
        yield from skipped()
        results.append(result)
        tag, settings, coded, n = order[0]
        if len(results) == n:
            order.popleft()
            yield tag, settings, _score(info, windows, coded, target, results)
            results = []
    yield from skipped()


def _candidate(best: EncodeSettings, key: str, value, longest: int) -> EncodeSettings | None:
    """The settings coordinate descent tries for ``key = value`` from ``best``; None to skip."""
    if getattr(best, key) == value:
        return None
    if key == "max_group" and value > longest and best.max_group >= longest:
        return None  # the sample cannot tell longer groups apart
    return best.replace(**{key: value}, **({"min_group": min(best.min_group, value)}
                                           if key == "max_group" else {}))


def _better(a: Trial, b: Trial, target: TuneTarget) -> bool:
    """Is trial a better than b? Speed limits first, then the target's objective."""
    if a.meets != b.meets:
        return a.meets
    if target.size_per_frame is not None:
        return a.psnr > b.psnr + 1e-9
    return a.bytes < b.bytes


def tune(info: VideoInfo, windows: list[list[Frame]], start: EncodeSettings,
         target: TuneTarget, *, budget_seconds: float = 900.0,
         on_trial: Callable[[Trial], None] | None = None,
         executor=None) -> tuple[Trial, list[Trial]]:
    """Coordinate descent over ``SEARCH`` from ``start``; returns (best, all trials).

    ``executor`` (default: this process) codes the trials' groups. A cluster
    runs the values of one setting at once, each tried from the best settings
    known when it is sent; a value whose candidate turns out stale (an
    earlier value of the same setting won and changes it) is tried again
    from the new best, so the result is the sequential search's.
    """
    if not windows:
        raise UsageError("the clip has no frames to tune on")
    executor = executor or LocalExecutor(1)
    started = time.perf_counter()
    longest = max(len(w) for w in windows)

    def in_time() -> bool:
        return time.perf_counter() - started <= budget_seconds

    best = _measure(info, windows, start, target, executor)
    best.changed = "start"
    trials = [best]
    if on_trial:
        on_trial(best)
    for key, values in SEARCH:
        def candidates(key=key, values=values):
            for value in values:
                if not in_time():
                    return
                yield value, _candidate(best.settings, key, value, longest)

        for value, sent, trial in _measure_all(executor, info, windows, candidates(), target):
            wanted = _candidate(best.settings, key, value, longest)
            if wanted is None:
                continue
            if sent != wanted:  # stale: measured from a best that has changed since
                trial = _measure(info, windows, wanted, target, executor)
            trial.changed = f"{key}={value}"
            trials.append(trial)
            if on_trial:
                on_trial(trial)
            if _better(trial, best, target):
                best = trial
    return best, trials


def format_table(trials: list[Trial], best: Trial) -> list[str]:
    lines = [f"{'try':>3} {'change':<22} {'bytes':>11} {'bits/sample':>11} {'PSNR':>7} "
             f"{'max err':>7} {'enc fps':>8} {'dec fps':>8}"]
    for k, t in enumerate(trials):
        psnr = "inf" if math.isinf(t.psnr) else f"{t.psnr:.2f}"
        mark = " <- chosen" if t is best else ("" if t.meets else " (too slow)")
        lines.append(f"{k:>3} {t.changed:<22} {t.bytes:>11,} {t.bits_per_sample:>11.4f} "
                     f"{psnr:>7} {t.max_error:>7} {t.encode_fps:>8.2f} {t.decode_fps:>8.1f}"
                     f"{mark}")
    return lines
