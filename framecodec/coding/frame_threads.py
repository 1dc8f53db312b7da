# SPDX-License-Identifier: MIT
"""Frame threads: a frame's slices start while the frame before is still decoding.

A frame's slices decode in parallel (each has its own substream and adaptive
models), but slice-parallel decoding alone waits for a frame's slowest slice
before the next frame starts, and runs the next payload's motion decoding and
the handing out of the frame before on one thread: two threads made decoding
only 1.3-1.6 times as fast. Here the work is in units, a slice's plane group
(``state.plane_groups``: plane 0, then the others), and a unit starts as soon
as what it reads is done: the group before it in its slice, its own unit of the
frame before (whose models it carries on) and that frame's same group in the
slices its motion reaches (``state.previous_frame_waits``). So with two slices
on two threads, the thread that finishes its slice first starts the next
frame's plane 0 while the other finishes its chroma. Frames further back are
done before a frame starts: at most two are in flight, so no frame is decoded
into a ring slot still read (``_References.spare``). What a unit decodes
depends on its inputs alone, not on when it runs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .state import FrameWork

__all__ = ["Deferred", "FrameThreads", "StartedFrame"]

_WAITING, _RUNNING, _DONE = range(3)


class StartedFrame:
    """A frame in flight: its work, what each unit (slice s, group g: s * groups + g)
    has got to, and its error."""

    def __init__(self, work: FrameWork, previous: StartedFrame | None):
        self.work = work
        self.previous = previous  # None once it is done
        self.units = [_WAITING] * (len(work.waits) * work.groups)
        self.left = len(self.units)  # units not done
        self.error: BaseException | None = None

    def ready(self, u: int) -> bool:
        if self.units[u] != _WAITING:
            return False
        groups = self.work.groups
        s, g = divmod(u, groups)
        if g and self.units[u - 1] != _DONE:
            return False
        first, last = self.work.waits[s]
        before = self.previous
        return before is None or all(before.units[k * groups + g] == _DONE
                                     for k in range(first, last + 1))

    def give_up(self, error: BaseException) -> None:
        """Record the frame's first error; its units not started will not be."""
        if self.error is None:
            self.error = error
        for u, state in enumerate(self.units):
            if state == _WAITING:
                self.units[u] = _DONE
                self.left -= 1


class Deferred:
    """A call left to whichever thread is idle first (``FrameThreads.defer``); one
    not yet taken when its ``result`` is asked for runs on the asking thread, so
    none is ever lost to threads that have stopped."""

    def __init__(self, fn: Callable[..., Any], args: tuple):
        self._call = (fn, args)
        self._claimed = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def claim(self) -> bool:
        with self._lock:
            claimed, self._claimed = self._claimed, True
        return not claimed

    def run(self) -> None:
        # dropped once run: a call run on the asking thread stays queued until a
        # thread passes it over, and must not keep its frame alive till then
        (fn, args), self._call = self._call, None
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - raised by result()
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> Any:
        if self.claim():
            self.run()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class FrameThreads:
    """Runs started frames' units on the calling thread and ``threads - 1`` helpers.

    ``start`` a frame, then ``finish`` frames in the order started: ``finish``
    runs ready units (of any frame in flight) until its frame is done. ``defer``
    leaves a call (a decoded frame's MD5) to a thread with no unit ready, so that
    it fills the waits between units instead of taking a core from them.
    ``close`` stops the helpers; a frame not finished by then is abandoned.
    """

    def __init__(self, threads: int):
        self._cond = threading.Condition()
        self._frames: list[StartedFrame] = []  # in flight, oldest first
        self._deferred: deque[Deferred] = deque()
        self._closed = False
        self._helpers = [threading.Thread(target=self._help, name="framecodec-frame",
                                          daemon=True) for _ in range(max(0, threads - 1))]
        for helper in self._helpers:
            helper.start()

    def start(self, work: FrameWork) -> StartedFrame:
        with self._cond:
            frame = StartedFrame(work, self._frames[-1] if self._frames else None)
            self._frames.append(frame)
            self._cond.notify_all()
        return frame

    def defer(self, fn: Callable[..., Any], *args) -> Deferred:
        call = Deferred(fn, args)
        with self._cond:
            self._deferred.append(call)
            self._cond.notify_all()
        return call

    def finish(self, frame: StartedFrame) -> None:
        """Wait for ``frame`` (the oldest in flight), working meanwhile; raise its error."""
        while True:
            with self._cond:
                task = None
                while frame.left:
                    task = self._take()
                    if task is not None:
                        break
                    self._cond.wait()
                if task is None:
                    self._frames.remove(frame)
                    if self._frames:  # the next frame's waits are all met now
                        self._frames[0].previous = None
                    break
            self._run(task)
        if frame.error is not None:
            raise frame.error

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for helper in self._helpers:
            helper.join()

    def _take(self) -> tuple[StartedFrame, int] | Deferred | None:
        """The first ready unit, the oldest frame's first, else a deferred call
        (under the lock)."""
        for frame in self._frames:
            before = frame.previous
            if before is not None and before.error is not None:
                frame.give_up(before.error)  # it would read what was never decoded
            for u in range(len(frame.units)):
                if frame.ready(u):
                    frame.units[u] = _RUNNING
                    return frame, u
        while self._deferred:
            call = self._deferred.popleft()
            if call.claim():  # (not already run by a thread asking for its result)
                return call
        return None

    def _run(self, task: tuple[StartedFrame, int] | Deferred) -> None:
        if isinstance(task, Deferred):
            task.run()
            return
        frame, u = task
        error = None
        try:
            frame.work.decode(*divmod(u, frame.work.groups))
        except BaseException as exc:  # noqa: BLE001 - raised by finish() on the caller's thread
            error = exc
        with self._cond:
            frame.units[u] = _DONE
            frame.left -= 1
            if error is not None:
                frame.give_up(error)
            self._cond.notify_all()

    def _help(self) -> None:
        while True:
            with self._cond:
                task = None
                while not self._closed:
                    task = self._take()
                    if task is not None:
                        break
                    self._cond.wait()
                if task is None:
                    return
            self._run(task)
