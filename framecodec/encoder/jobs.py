# SPDX-License-Identifier: MIT
"""Groups as independent jobs, and the executors that run them.

A clip is planned into ``GroupJob``s (frames, settings and target: all a
worker needs); ``code_job`` is the pure worker body, ``GroupJob ->
GroupResult``, whose output depends on nothing but the job. An executor runs
jobs and yields results in job order, so the file's bytes do not depend on
which executor ran them, how many workers it had or in what order they
finished. ``LocalExecutor`` runs them in this process or a process pool;
another executor (a cluster) only has to keep that promise.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..frames import Frame, VideoInfo
from ..metrics import PlaneStats
from ..results import RunReport
from .settings import EncodeSettings

__all__ = ["GroupJob", "GroupResult", "code_job", "frames_digest", "LocalExecutor"]


def frames_digest(frames: list[Frame]) -> str:
    """SHA-256 of frames' samples and pts: what a group is coded from, so a
    journal or a worker that read the frames itself can tell they are the same."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(b"F" + (-1 if frame.pts is None else frame.pts).to_bytes(8, "little",
                                                                          signed=True))
        for plane in frame.planes:
            h.update(np.ascontiguousarray(plane).data)
    return h.hexdigest()


@dataclass
class GroupJob:
    """One group to code. ``psnr`` or ``budget`` (bytes) choose its bound by
    measurement instead of ``settings.max_error``."""

    index: int
    first_frame: int
    frames: list[Frame]
    reason: int
    info: VideoInfo
    settings: EncodeSettings
    psnr: float | None = None
    budget: int | None = None
    threads: int = 1

    @cached_property
    def digest(self) -> str:
        """``frames_digest`` of the group's frames (computed once)."""
        return frames_digest(self.frames)


@dataclass
class GroupResult:
    """One coded group, as a worker returns it."""

    index: int
    header: bytes
    payloads: list[bytes]
    stats: PlaneStats
    bound: int
    pts: list[int | None] = field(default_factory=list)
    seconds: float = 0.0  # the worker's time on the group (measurement only, never coded)

    @property
    def bytes(self) -> int:
        return len(self.header) + sum(len(p) for p in self.payloads)


def code_job(job: GroupJob) -> GroupResult:
    """Worker body: analyse a group, code it (to its target if any) and measure it."""
    from . import train
    from .analysis import analyse_group
    from .groupcoder import code_group
    from .targets import code_for_psnr, code_for_size, first_guess

    started = time.perf_counter()
    train.set_threads(job.threads)
    settings, peak = job.settings, job.info.format.max_value
    if job.psnr is not None:
        settings = replace(settings, max_error=min(first_guess(job.psnr, peak), peak // 2))
    searched = job.psnr is not None or job.budget is not None
    # bounds are searched from 0: palettes must stay exact
    analysis = analyse_group(job.info, job.frames, settings,
                             palette_near=0 if searched else None)
    kw = {"threads": job.threads, "reason": job.reason}
    if job.psnr is not None:
        coded, stats, bound = code_for_psnr(analysis, job.first_frame, job.psnr, peak // 2, **kw)
    elif job.budget is not None:
        coded, stats, bound = code_for_size(analysis, job.first_frame, job.budget, peak // 2,
                                            **kw)
    else:
        bound = settings.max_error
        coded = code_group(analysis, job.first_frame, bound, keep_reconstruction=True, **kw)
        stats = PlaneStats()
        for src, rec in zip(job.frames, coded.reconstructed):
            stats.add(src, rec)
    return GroupResult(job.index, coded.header_bytes, coded.frames, stats, bound,
                       [f.pts for f in job.frames], time.perf_counter() - started)


class LocalExecutor:
    """Runs jobs here (``workers`` 1) or in a pool of processes, results in job order.

    At most ``workers + 1`` groups are in flight, so memory does not grow with
    the clip.
    """

    def __init__(self, workers: int = 1):
        self.workers = workers

    def report(self) -> RunReport:
        return RunReport("local", self.workers)

    def close(self) -> None:
        """Nothing to release: a pool lives only as long as ``run``."""

    def run(self, jobs: Iterable[GroupJob]) -> Iterator[GroupResult]:
        if self.workers == 1:
            for job in jobs:
                yield code_job(job)
            return
        pending: deque[Future] = deque()
        with ProcessPoolExecutor(self.workers) as pool:
            for job in jobs:
                pending.append(pool.submit(code_job, job))
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
