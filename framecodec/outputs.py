# SPDX-License-Identifier: MIT
"""Atomic output files: nothing half-written ever sits under the final name.

Every writer in framecodec writes to a temporary file in the destination's
directory and renames it into place only when the write has succeeded, so an
interrupted or failed run (Ctrl-C, full disk, exception) leaves the old state.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError

__all__ = ["atomic_output", "check_output"]


def check_output(path: str | os.PathLike, *, overwrite: bool, inputs: tuple = ()) -> Path:
    """Refuse an existing output without ``overwrite``, and an output that is an input."""
    out = Path(path)
    for src in inputs:
        try:
            if Path(src).exists() and out.exists() and os.path.samefile(src, out):
                raise UsageError(f"output {out} is the input file; choose another name")
        except OSError:
            pass
    if out.is_dir():
        raise UsageError(f"output {out} is a directory")
    if out.exists() and not overwrite:
        raise UsageError(f"output {out} exists; pass -y to overwrite it")
    if not out.parent.exists():
        raise UsageError(f"output directory {out.parent} does not exist")
    return out


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False,
                  inputs: tuple = ()) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The temporary keeps the destination's extension, so writers that choose a
    container by extension (PyAV) see the right one.
    """
    out = check_output(path, overwrite=overwrite, inputs=inputs)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".part{out.suffix}",
                                    dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if out.exists() and not overwrite:  # appeared while we worked
            raise UsageError(f"output {out} exists; pass -y to overwrite it")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
