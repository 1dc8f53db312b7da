# SPDX-License-Identifier: MIT
"""Encoding a file: demux, plan groups, run them as jobs, write the container.

The driver's loop. Groups are planned from the frames as they are demuxed
(scene cuts, size bounds), coded by an executor (encoder/jobs.py: local
processes; encoder/cluster.py: Ray) and written in order, so memory holds
only the groups in flight, never the clip. Finished groups are journaled
next to the output (encoder/journal.py) so an interrupted encode resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import UsageError
from ..format import fixity
from ..format.container import FcvWriter, FrameRecord
from ..frames import VideoInfo
from ..io import media
from ..io.outputs import atomic_output, check_output
from ..metrics import PlaneStats
from ..progress import progress_bar
from ..results import EncodeResult, GroupReport
from .grouping import frames_per_group, plan_groups
from .jobs import GroupJob, LocalExecutor
from .journal import identify, journaled
from .settings import EncodeSettings
from .targets import Target

__all__ = ["encode_file"]

AUDIO_FROM_START = -1e12  # an audio window that starts before any packet
_FILE_OVERHEAD = 4096  # signature, stream header, index and tail, at most


def encode_file(src: Path, dst: Path, settings: EncodeSettings, *, start: int = 0,
                stop: int | None = None, jobs: int = 1, threads: int = 1,
                overwrite: bool = False, progress: bool = False, audio: bool = True,
                target: Target = Target(),
                on_group: Callable[[int, int], None] | None = None, cluster=None,
                resume: bool = False) -> EncodeResult:
    """Encode frames [start, stop) of ``src`` into ``dst`` (atomically).

    ``cluster`` (a ``cluster.RayOptions``) codes the groups on Ray instead of
    ``jobs`` local processes; ``resume`` continues from the journal of an
    interrupted run of the same encode.
    """
    with tempfile.TemporaryDirectory(prefix="framecodec-") as scratch:
        audio_copy = Path(scratch) / "audio.mka" if audio else None
        with media.open_source(src, audio_to=audio_copy) as source:
            info = source.info
            peak = info.format.max_value
            if not 0 <= settings.max_error <= peak // 2:
                raise UsageError(f"--max-error must be between 0 and {peak // 2} "
                                 f"for {info.format.bit_depth}-bit samples")
            total = None
            estimate = source.frame_estimate()  # the progress bar's total, at least
            if estimate:
                total = max(0, min(estimate, stop or estimate) - start)
            per_frame = None
            if target.size is not None:  # the budget needs the exact count, not an estimate
                if info.frame_count:
                    total = max(0, min(info.frame_count, stop or info.frame_count) - start)
                else:
                    total = _count_frames(src, start, stop)
                reserve = media.audio_reserve(src) if audio_copy is not None else 0
                per_frame = (target.size - reserve - _FILE_OVERHEAD) / max(total, 1)
                if per_frame <= 0:
                    raise UsageError(f"--target-size {target.size} leaves nothing for the "
                                     "video")
            plans = plan_groups(source.frames(start, stop), bit_depth=info.format.bit_depth,
                                max_size=frames_per_group(settings.group_size or
                                                          settings.max_group,
                                                          info.samples_per_frame),
                                min_size=settings.min_group, fixed=settings.group_size > 0)
            jobs_iter = _jobs(info, plans, settings, threads, target.psnr, per_frame)
            check_output(dst, overwrite=overwrite, inputs=(src,))
            identity = identify(src, info, settings, start=start, stop=stop, psnr=target.psnr,
                                size=target.size, audio=audio)
            executor = _executor(jobs, threads, cluster, src, start)
            with contextlib.closing(executor), \
                    journaled(dst, identity, resume=resume, overwrite=overwrite) as journal, \
                    progress_bar(progress, total, "encode") as bar, \
                    atomic_output(dst, overwrite=overwrite, inputs=(src,)) as tmp, \
                    open(tmp, "wb") as f:
                writer = FcvWriter(f, info, settings.max_error, hashes=settings.fixity,
                                   layout=fixity.layout_for(info.source_format, info.format))
                stats, reports, span, unmatched = PlaneStats(), [], [None, None], []
                for group in journal.run(executor, jobs_iter):
                    writer.write_group(group.header, _records(group), group.bound)
                    unmatched += group.unmatched
                    span = [group.pts[0] if span[0] is None else span[0], group.pts[-1]]
                    stats.merge(group.stats)
                    reports.append(GroupReport(len(group.payloads), group.bound,
                                               group.stats.psnr(peak), group.bytes))
                    bar.update(len(group.payloads))
                    run = executor.report()
                    bar.set_postfix_str(f"{len(reports)} group{'s' * (len(reports) != 1)}" + (
                        f", {run.describe()}" if run.executor != "local" else ""), refresh=False)
                    if on_group:
                        on_group(len(group.payloads), writer.frames_written)
                if writer.frames_written == 0:
                    raise UsageError(f"{src}: no frames in the requested range")
                if source.finish_audio():
                    tb = info.time_base
                    first = float(span[0] * tb) if start > 0 else AUDIO_FROM_START
                    last = float(span[1] * tb + 1 / info.frame_rate) if stop is not None \
                        else float("inf")
                    writer.write_audio(source.audio_codec, first, last,
                                       audio_copy.read_bytes())
                writer.close()
                if target.size is not None and f.tell() > target.size:  # the promise, checked
                    raise UsageError(f"could not fit {target.size} bytes ({f.tell()} needed); "
                                     "nothing was written")
                run = dataclasses.replace(executor.report(), resumed=journal.resumed)
    n = writer.frames_written
    samples = n * info.samples_per_frame
    bytes_per_sample = 1 if info.format.bit_depth <= 8 else 2
    return EncodeResult(dst, dst.stat().st_size, n, writer.groups_written, samples,
                        samples * bytes_per_sample, 0.0, stats.worst, stats.psnr(peak), stats,
                        reports, dataclasses.replace(source.input, whole=start == 0 and stop is None),
                        unmatched, run)


def _records(group) -> list[FrameRecord]:
    hashes = group.hashes or [None] * len(group.payloads)
    return [FrameRecord(0, pts, payload, duration, md5) for pts, duration, md5, payload in
            zip(group.pts, group.durations, hashes, group.payloads)]


def _executor(jobs: int, threads: int, cluster, src: Path, start: int):
    """The local process pool, or Ray when ``cluster`` says so (imported only then)."""
    if cluster is None:
        return LocalExecutor(jobs, threads)
    from .cluster import RayExecutor, SharedSource

    shared = SharedSource(src.resolve(), start) if cluster.shared_input else None  # any cwd
    return RayExecutor(cluster, shared=shared)


def _jobs(info: VideoInfo, plans, settings: EncodeSettings, threads: int, psnr: float | None,
          per_frame: float | None) -> Iterator[GroupJob]:
    """One job per planned group. A size target gives each group a budget in
    proportion to its frames, so groups stay independent of each other."""
    first = 0
    for index, plan in enumerate(plans):
        budget = None if per_frame is None else int(per_frame * len(plan.frames))
        yield GroupJob(index, first, plan.frames, plan.reason, info, settings, psnr, budget,
                       threads)
        first += len(plan.frames)


def _count_frames(src: Path, start: int, stop: int | None) -> int:
    with media.open_source(src) as source:
        return sum(1 for _ in source.frames(start, stop))
