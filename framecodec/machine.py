# SPDX-License-Identifier: MIT
"""What this machine offers: cores (the default for --threads and --jobs), and
handing freed memory back to it."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["cores", "release_free_memory"]


def cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _libc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


_MALLOC_TRIM = _libc_trim()


def release_free_memory() -> None:
    """Give malloc's free pages back to the system. glibc keeps what a group's
    arrays freed (its mmap threshold rises as large blocks are freed), so a
    long-lived encoding process would otherwise start every group from the
    previous group's peak."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
