# SPDX-License-Identifier: MIT
"""What a coding call is measured with: its wall and CPU time, and the memory it adds.

Only the coding calls are timed (not building frames or comparing them), and memory is read in
a child process that does nothing but the one call, so that the figures belong to the codec.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator


class Timer:
    """Accumulates wall-clock and process CPU time over several ``with`` blocks."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._w = time.perf_counter()
        self._c = time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


def timed_iter(make: Callable[[], Iterable], timer: Timer) -> Iterator:
    """Yield the items of ``make()``, timing the call and the production of each item only.

    Whatever the caller does with an item (copying planes out, comparing) is not timed.
    """
    with timer:
        it = iter(make())
    while True:
        with timer:
            try:
                item = next(it)
            except StopIteration:
                return
        yield item


def _proc_status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def release_free_memory() -> None:
    """Collect garbage and hand malloc's free pages back (glibc), so that RSS is the floor."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class MemProbe:
    """Peak memory of the coding call in this (child) process.

    ``start`` collects garbage and trims malloc's free pages (so that memory a warm-up freed
    does not hide in the baseline), resets the kernel's peak-RSS mark to the current RSS
    (writing 5 to /proc/self/clear_refs, Linux >= 4.0) and records that RSS as the baseline;
    ``stop`` reads the peak (VmHWM). ru_maxrss is not used: on Linux it carries the parent's
    peak over fork+exec, so a 10 MB child of a 500 MB parent reports 500 MB.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.platform.startswith("linux")
        self.base_kb: int | None = None
        self.peak_kb: int | None = None
        self.reset = False

    def start(self) -> None:
        if not self.enabled:
            return
        release_free_memory()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.base_kb = _proc_status_kb("VmRSS")

    def stop(self) -> None:
        if self.enabled:
            self.peak_kb = _proc_status_kb("VmHWM")

    def result(self) -> dict | None:
        if not self.enabled or self.base_kb is None or self.peak_kb is None:
            return None
        return {"base_mb": round(self.base_kb / 1024, 2), "peak_mb": round(self.peak_kb / 1024, 2),
                "delta_mb": round(max(self.peak_kb - self.base_kb, 0) / 1024, 2),
                "peak_reset": self.reset}
