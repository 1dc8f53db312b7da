# SPDX-License-Identifier: MIT
"""Coding groups as Ray tasks: the executor for a cluster.

``RayExecutor.run`` keeps the promise of the executor seam (jobs.py):
results in job order whatever the number of workers, their order of
completion or their retries, because every task runs the same ``code_job``
on the same job with the same thread count. A task whose worker or node
dies is retried by Ray (``max_retries``); a task that fails for a reason of
its own is not retried, and fails the encode with its own message.

Frames reach workers through Ray's object store (the job is the task's
argument), or, with a ``SharedSource`` (``--shared-input``: the source on
storage every node reads), each task demuxes its own frame range, seeking
to the keyframe before it, and checks what it read against the digest of
the frames the driver planned from (reading from the start of the file
when seeking does not land exactly).

The driver keeps a bounded number of groups in flight: one per task slot
(the cluster's CPUs over the threads per group) and a few queued so that a
worker that finishes finds work; in object-store mode the frames in flight
are also capped in bytes. An encode takes results as they finish
(``run_unordered``) and the journal keeps them on disk until their turn,
so a long group never holds the others up; ``run`` (tune) holds them here.

Ray is imported here, lazily, and nowhere else in framecodec.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import FramecodecError, InputError, UsageError
from ..frames import Frame
from ..results import RunReport
from .jobs import GroupJob, GroupResult, code_job, frames_digest

__all__ = ["RayOptions", "RayExecutor", "SharedSource", "ClusterError", "connect"]

INSTALL = "pip install 'framecodec[ray]'"
_DEFAULT_BYTE_CAP = 2 << 30  # frames in flight when the driver's object store is unknown


class ClusterError(FramecodecError):
    """The cluster, not the input, failed a group (lost more workers than retries
    allow, unreachable, a node without framecodec); resuming can help."""


@dataclass(frozen=True)
class RayOptions:
    """``--ray``: where, how frames travel, and how many retries a lost worker gets."""

    address: str | None = None  # None: $RAY_ADDRESS, else a local instance
    shared_input: bool = False
    retries: int = 3
    inflight_bytes: int | None = None  # object store mode; None: a quarter of the driver node's


@dataclass(frozen=True)
class SharedSource:
    """The source on storage every node reads, and the source frame of job frame 0."""

    path: Path
    start: int


@dataclass(frozen=True)
class _Range:
    """What a task reads for itself: ``count`` frames from source frame ``first``
    (whose pts is ``pts``), which must hash to ``digest``."""

    path: str
    first: int
    count: int
    pts: int | None
    digest: str


@dataclass(frozen=True)
class _Where:
    """Where and how a group was coded (never part of its job or its bytes)."""

    node: str
    worker: str
    attempt: int
    fell_back: bool


@dataclass(frozen=True)
class Timing:
    """One group as the driver saw it: submitted to collected, against the worker's time."""

    index: int
    frames: int
    seconds: float
    worker_seconds: float


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` (else $RAY_ADDRESS) or start a local
    instance; True if this call started Ray, and so must stop it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {INSTALL}") from None
    if ray.is_initialized():  # a script or a test already joined a cluster
        return False
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    options = {"log_to_driver": False, "logging_level": logging.ERROR}
    if target == "local":
        ray.init(address=target, include_dashboard=False, **options)
        return True
    _probe(target)
    with _stderr_kept() as said:
        try:
            ray.init(address=target, **options)
            return True
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            failure, text = exc, f"{exc} {exc.__cause__} {said()}"
    if "InvalidAuthToken" in text or "Unauthenticated" in text:
        raise UsageError(f"the Ray cluster at {target} wants its authentication token: set "
                         "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (ray get-auth-token on its "
                         "head prints it)")
    raise UsageError(f"cannot join the Ray cluster at {target}: {_first_line(failure)}")


def _probe(address: str) -> None:
    """Fail in seconds on an address nothing listens at (Ray retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: "
                         f"{exc.strerror or exc}") from None


@contextlib.contextmanager
def _stderr_kept():
    """What Ray's core writes on file descriptor 2 while joining (a log line per
    retry), kept aside for the one-line error; yields a function that reads it."""
    with tempfile.TemporaryFile() as kept:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(kept.fileno(), 2)
        try:
            yield lambda: (kept.seek(0), kept.read().decode(errors="replace"))[1]
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _attempt() -> int:
    """Which attempt of its task this is (0: the first). Ray keeps the number
    private; if it moves, retries are reported as 0."""
    try:
        from ray._private.worker import global_worker

        return int(global_worker.core_worker.get_current_task_attempt_number())
    except Exception:  # noqa: BLE001 - a count for the summary, never a failure
        return 0


def _read_range(shared: _Range) -> tuple[list[Frame], bool]:
    """The frames of ``shared`` from the source file, and whether seeking missed
    and they were read from the start."""
    import ray

    from ..io import media

    last = shared.first + shared.count - 1
    which = f"frames {shared.first}-{last} differ" if last > shared.first else \
        f"frame {last} differs"
    node = ray.util.get_node_ip_address()
    try:
        with media.open_source(shared.path) as source:
            frames = None if shared.pts is None else \
                source.seek_frames(shared.first, shared.count, shared.pts)
            if frames is not None and frames_digest(frames) == shared.digest:
                return frames, False
            frames = list(source.frames(shared.first, shared.first + shared.count))
    except InputError as exc:
        raise InputError(f"{exc} (read on node {node}; --shared-input needs the source at the "
                         "same path on every node)") from None
    if frames_digest(frames) != shared.digest:
        raise InputError(f"{shared.path}: {which} from what the driver planned with, read on "
                         f"node {node} (the file changed during the encode, or this node sees "
                         "another file at that path)")
    return frames, True


def _code_remote(job: GroupJob, shared: _Range | None) -> tuple[GroupResult, _Where]:
    """The task body: the job's frames (sent, or read here), then ``code_job``."""
    import ray

    fell_back = False
    if shared is not None:
        frames, fell_back = _read_range(shared)
        job = dataclasses.replace(job, frames=frames)
    result = code_job(job)
    context = ray.get_runtime_context()
    return result, _Where(context.get_node_id(), context.get_worker_id(), _attempt(), fell_back)


class RayExecutor:
    """Runs jobs as Ray tasks: ``run`` yields results in job order,
    ``run_unordered`` as they finish (see the module's notes).

    ``report()`` counts the workers and nodes that returned groups and the
    retries lost workers cost; ``close()`` stops the Ray instance if this
    executor started it.
    """

    def __init__(self, options: RayOptions = RayOptions(), *,
                 shared: SharedSource | None = None):
        self.options = options
        self.shared = shared
        self._owns = connect(options.address)
        import ray

        self._ray = ray
        self._task = ray.remote(_code_remote)
        self._workers: set[str] = set()
        self._nodes: set[str] = set()
        self._retries = 0
        self.fallbacks = 0  # --shared-input groups read from the start of the file
        self.timings: list[Timing] = []
        self._cpus_seen = (-1e9, 1.0)
        self._byte_cap = options.inflight_bytes or self._driver_store() // 4

    def report(self) -> RunReport:
        return RunReport("ray", len(self._workers), len(self._nodes), self._retries)

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False

    def _driver_store(self) -> int:
        here = self._ray.get_runtime_context().get_node_id()
        for node in self._ray.nodes():
            if node.get("NodeID") == here:
                return int(node["Resources"].get("object_store_memory", 0)) or \
                    _DEFAULT_BYTE_CAP * 4
        return _DEFAULT_BYTE_CAP * 4

    def _slots(self, threads: int) -> int:
        """Groups the cluster runs at once (looked up again every few seconds:
        nodes come and go)."""
        now = time.monotonic()
        if now - self._cpus_seen[0] > 5:
            self._cpus_seen = (now, self._ray.cluster_resources().get("CPU", 1))
        return max(1, int(self._cpus_seen[1] // threads))

    def _check_feasible(self, threads: int) -> None:
        largest = max((n["Resources"].get("CPU", 0) for n in self._ray.nodes() if n["Alive"]),
                      default=0)
        if largest < threads:
            raise UsageError(f"--threads {threads}: no node of the Ray cluster has that many "
                             f"CPUs (the largest has {largest:g})")

    def _room(self, running: int, in_flight: int, nbytes: int, threads: int) -> bool:
        slots = self._slots(threads)
        if running >= slots + max(2, slots // 4) or in_flight >= 2 * slots + 8:
            return False
        return self.shared is not None or running == 0 or nbytes < self._byte_cap

    def _submit(self, job: GroupJob):
        options = {"num_cpus": job.threads, "max_retries": self.options.retries,
                   "retry_exceptions": False, "name": f"framecodec group {job.index}"}
        task = self._task.options(**options)
        if self.shared is None:
            nbytes = sum(p.nbytes for f in job.frames for p in f.planes)
            return task.remote(job, None), nbytes
        shared = _Range(str(self.shared.path), self.shared.start + job.first_frame,
                        len(job.frames), job.frames[0].pts, job.digest)
        return task.remote(dataclasses.replace(job, frames=[]), shared), 0

    def run(self, jobs: Iterable[GroupJob]) -> Iterator[GroupResult]:
        """Results in job order: finished groups wait here for an earlier one (at
        most ``2 * slots + 8`` groups in flight in all, so a slow group can hold
        the others up)."""
        return self._results(jobs, ordered=True)

    def run_unordered(self, jobs: Iterable[GroupJob]) -> Iterator[GroupResult]:
        """Results as they finish, for a caller that keeps them elsewhere until
        their turn (the journal keeps them on disk): no group waits for another."""
        return self._results(jobs, ordered=False)

    def _results(self, jobs: Iterable[GroupJob], ordered: bool) -> Iterator[GroupResult]:
        ray = self._ray
        source = iter(jobs)
        running: dict = {}  # ref -> (index, first frame, frames, bytes, submitted)
        order: deque[int] = deque()  # indices in flight, in job order (ordered only)
        finished: dict[int, GroupResult] = {}
        nbytes, threads, exhausted = 0, None, False
        try:
            while True:
                while not exhausted and self._room(len(running),
                                                   len(order) if ordered else len(running),
                                                   nbytes, threads or 1):
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                        break
                    if threads is None:
                        threads = job.threads
                        self._check_feasible(threads)
                    ref, size = self._submit(job)
                    running[ref] = (job.index, job.first_frame, len(job.frames), size,
                                    time.perf_counter())
                    if ordered:
                        order.append(job.index)
                    nbytes += size
                    del job
                while order and order[0] in finished:
                    yield finished.pop(order.popleft())
                if not running:
                    if exhausted and not order:
                        return
                    continue
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    index, first, count, size, submitted = running.pop(ref)
                    nbytes -= size
                    result = self._collect(ref, index, first, count, submitted)
                    if ordered:
                        finished[index] = result
                    else:
                        yield result
        finally:  # stopped early (a failure, Ctrl-C): free the cluster
            for ref in running:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _collect(self, ref, index: int, first: int, count: int,
                 submitted: float) -> GroupResult:
        ray = self._ray
        try:
            result, where = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FramecodecError):
                raise cause from None
            if isinstance(cause, ImportError):
                raise ClusterError(f"a Ray worker cannot import framecodec ({cause}): install "
                                   "the same framecodec on every node") from None
            raise  # a bug in the worker: its traceback matters
        except ray.exceptions.RayError as exc:
            raise ClusterError(f"group {index} (frames {first}-{first + count - 1}) failed on "
                               f"the cluster after {self.options.retries} retries: "
                               f"{_first_line(exc)}") from None
        self._workers.add(where.worker)
        self._nodes.add(where.node)
        self._retries += where.attempt
        self.fallbacks += where.fell_back
        self.timings.append(Timing(index, count, time.perf_counter() - submitted,
                                   result.seconds))
        return result
