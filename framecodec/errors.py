# SPDX-License-Identifier: MIT
"""The project's exceptions: every failure a user can cause is one of these.

The CLI turns a ``FramecodecError`` into one line on stderr and exit status 2;
anything else escaping is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "FramecodecError",
    "UsageError",
    "InputError",
    "FormatError",
    "CorruptError",
    "LimitError",
]


class FramecodecError(Exception):
    """Base class: a problem with the user's input, output or request."""


class UsageError(FramecodecError):
    """A request that cannot be honoured as given (bad option, existing output...)."""


class InputError(FramecodecError):
    """Media that PyAV cannot read, or that framecodec cannot code."""


class FormatError(FramecodecError):
    """A file that is not a valid .fcv file (foreign, newer version, absurd header)."""


class CorruptError(FormatError):
    """A damaged .fcv chunk: a bad CRC, a truncation or an inconsistent payload.

    ``group`` and ``frame`` name where the damage lies when known, so archival
    users can tell which part of a clip is affected.
    """

    def __init__(self, message: str, *, group: int | None = None, frame: int | None = None,
                 offset: int | None = None):
        where = []
        if group is not None:
            where.append(f"group {group}")
        if frame is not None:
            where.append(f"frame {frame}")
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.group = group
        self.frame = frame
        self.offset = offset


class LimitError(FormatError):
    """A file that asks for more than its bytes justify or the memory limit allows
    (a frame of 2^28 samples in a few bytes, a group needing more than
    ``--max-memory``): refused before anything is allocated, and fatal to
    ``verify`` as to decoding."""
