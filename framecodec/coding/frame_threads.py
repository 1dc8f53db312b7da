# SPDX-License-Identifier: MIT
"""Frame threads: a frame's slices start while the frame before is still decoding.

A frame's slices decode in parallel (each has its own substream and adaptive
models), but slice-parallel decoding alone waits for a frame's slowest slice
before the next frame starts, and runs the next payload's motion decoding and
the handing out of the frame before on one thread: two threads made decoding
only 1.3-1.6 times as fast. Here a slice starts as soon as what it reads is
done: its own slice of the frame before (whose models it carries on) and the
slices of that frame its motion reaches (``state.previous_frame_waits``).
Frames further back are done before a frame starts: at most two are in flight,
so no frame is decoded into a ring slot still read (``_References.spare``).
What a slice decodes depends on its inputs alone, not on when it runs.
"""

from __future__ import annotations

import threading

from .state import FrameWork

__all__ = ["FrameThreads", "StartedFrame"]

_WAITING, _RUNNING, _DONE = range(3)


class StartedFrame:
    """A frame in flight: its work, what each slice has got to, and its error."""

    def __init__(self, work: FrameWork, previous: StartedFrame | None):
        self.work = work
        self.previous = previous  # None once it is done
        self.slices = [_WAITING] * len(work.waits)
        self.left = len(work.waits)  # slices not done
        self.error: BaseException | None = None

    def ready(self, s: int) -> bool:
        if self.slices[s] != _WAITING:
            return False
        first, last = self.work.waits[s]
        before = self.previous
        return before is None or all(before.slices[k] == _DONE for k in range(first, last + 1))

    def give_up(self, error: BaseException) -> None:
        """Record the frame's first error; its slices not started will not be."""
        if self.error is None:
            self.error = error
        for s, state in enumerate(self.slices):
            if state == _WAITING:
                self.slices[s] = _DONE
                self.left -= 1


class FrameThreads:
    """Runs started frames' slices on the calling thread and ``threads - 1`` helpers.

    ``start`` a frame, then ``finish`` frames in the order started: ``finish``
    runs ready slices (of any frame in flight) until its frame is done. ``close``
    stops the helpers; a frame not finished by then is abandoned.
    """

    def __init__(self, threads: int):
        self._cond = threading.Condition()
        self._frames: list[StartedFrame] = []  # in flight, oldest first
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
            self._run(*task)
        if frame.error is not None:
            raise frame.error

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for helper in self._helpers:
            helper.join()

    def _take(self) -> tuple[StartedFrame, int] | None:
        """The first ready slice, the oldest frame's first (under the lock)."""
        for frame in self._frames:
            before = frame.previous
            if before is not None and before.error is not None:
                frame.give_up(before.error)  # it would read what was never decoded
            for s in range(len(frame.slices)):
                if frame.ready(s):
                    frame.slices[s] = _RUNNING
                    return frame, s
        return None

    def _run(self, frame: StartedFrame, s: int) -> None:
        error = None
        try:
            frame.work.decode(s)
        except BaseException as exc:  # noqa: BLE001 - raised by finish() on the caller's thread
            error = exc
        with self._cond:
            frame.slices[s] = _DONE
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
            self._run(*task)
