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
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import chain, islice
from multiprocessing import get_context

import numpy as np

from ..format import fixity
from ..frames import Frame, VideoInfo
from ..machine import release_free_memory
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
    """One coded group, as a worker returns it: with each frame's duration and the
    MD5 of its decoded frame (``unmatched``: frames of a lossless group whose MD5
    is not the one FFmpeg gives the source frame, see ``_hashes``)."""

    index: int
    header: bytes
    payloads: list[bytes]
    stats: PlaneStats
    bound: int
    pts: list[int | None] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    unmatched: list[int] = field(default_factory=list)
    seconds: float = 0.0  # the worker's time on the group (measurement only, never coded)

    @property
    def bytes(self) -> int:
        return len(self.header) + sum(len(p) for p in self.payloads)


def code_job(job: GroupJob) -> GroupResult:
    """Worker body: analyse a group, code it (to its target if any) and measure it;
    then hand the group's freed memory back, so the next group starts low."""
    try:
        return _code_job(job)
    finally:
        release_free_memory()


def _code_job(job: GroupJob) -> GroupResult:
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
    hashes, unmatched = _hashes(job, coded.reconstructed, bound)
    return GroupResult(job.index, coded.header_bytes, coded.frames, stats, bound,
                       [f.pts for f in job.frames], [f.duration for f in job.frames], hashes,
                       unmatched, time.perf_counter() - started)


def _hashes(job: GroupJob, decoded: list[Frame], bound: int) -> tuple[list[bytes], list[int]]:
    """The MD5 of each decoded frame in the file's hash layout, and the frames of a
    lossless group whose MD5 differs from the one of the bytes FFmpeg decoded: a
    packed source whose padding bytes are not zero, which framecodec does not keep."""
    if not job.settings.fixity:
        return [], []
    fmt = job.info.format
    layout = fixity.layout_for(job.info.source_format, fmt)
    as_decoded = fixity.name_of(layout, fmt) == job.info.source_format
    hashes, unmatched = [], []
    for t, (src, rec) in enumerate(zip(job.frames, decoded)):
        hashes.append(fixity.frame_md5(rec.planes, fmt, layout))
        if bound == 0 and as_decoded and src.md5 is not None and src.md5 != hashes[-1]:
            unmatched.append(job.first_frame + t)
    return hashes, unmatched


def _exit_with(parent: int) -> None:
    """Worker initializer: leave as soon as the encoding process is gone. A pool's
    workers hold its queue's write end themselves, so after a ``kill -9`` of the
    parent they would otherwise wait for work forever (and hold its stdout)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="framecodec-parent-watch", daemon=True).start()


class LocalExecutor:
    """Runs jobs here or in a pool of ``workers`` processes, results in job order.

    ``threads`` is shared out: a clip of one group gets them all, in this
    process (a pool would only add a process and its memory); several groups
    get ``workers`` processes of ``threads // workers`` threads each. At most
    ``workers + 1`` groups are in flight, so memory does not grow with the
    clip. A job's bytes do not depend on either (tests/test_roundtrip.py).
    """

    def __init__(self, workers: int = 1, threads: int = 1):
        self.workers = max(1, workers)
        self.threads = max(1, threads)

    def report(self) -> RunReport:
        return RunReport("local", self.workers)

    def close(self) -> None:
        """Nothing to release: a pool lives only as long as ``run``."""

    def run(self, jobs: Iterable[GroupJob]) -> Iterator[GroupResult]:
        # No job is held here once it is handed on: a group's frames are its
        # largest part, and a reference kept to a finished group (a loop
        # variable, a peeked first job) would double the peak of the next.
        ahead: deque[GroupJob] = deque(islice(jobs, 2 if self.workers > 1 else 1))
        jobs = chain(_drain(ahead), jobs)
        if len(ahead) < 2:  # one worker, or one group: here, with every thread
            yield from map(code_job, _with_threads(jobs, self.threads))
            return
        per_job = max(1, self.threads // self.workers)
        pending: deque[Future] = deque()
        # spawned, not forked: a fork of a process whose training or slice threads hold
        # locks can hang in the child
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                 initializer=_exit_with, initargs=(os.getpid(),)) as pool:
            for job in _with_threads(jobs, per_job):
                pending.append(pool.submit(code_job, job))
                del job  # the pool has pickled it
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def _drain(ahead: deque[GroupJob]) -> Iterator[GroupJob]:
    """The jobs taken ahead, each let go of as it is handed on."""
    while ahead:
        yield ahead.popleft()


def _with_threads(jobs: Iterator[GroupJob], threads: int) -> Iterator[GroupJob]:
    return (replace(job, threads=threads) for job in jobs)
