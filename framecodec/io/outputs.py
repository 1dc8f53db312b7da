# SPDX-License-Identifier: MIT
"""Atomic output files: nothing half-written ever sits under the final name.

Every writer in framecodec writes to a temporary file in the destination's
directory and renames it into place only when the write has succeeded, so an
interrupted or failed run (Ctrl-C, full disk, exception) leaves the old state.
Before the rename the file gets the mode a plain ``open()`` would have given
it under the current umask (``mkstemp`` makes it 0600) and is flushed to disk
(fsync); after it the directory is flushed too, which is what makes the new
name survive a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import UsageError

__all__ = ["atomic_output", "atomic_sequence", "check_output", "is_sequence", "current_umask"]


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _settle(path: Path) -> None:
    """The mode open() would give ``path``, and its bytes on disk."""
    os.chmod(path, 0o666 & ~current_umask())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)


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
        _settle(tmp)
        os.replace(tmp, out)
        _sync_directory(out.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def is_sequence(path: str | os.PathLike) -> bool:
    """An image-sequence pattern such as out/%05d.png."""
    return "%" in Path(path).name


@contextlib.contextmanager
def atomic_sequence(pattern: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Like ``atomic_output`` for an image sequence: files are written into a
    temporary directory and each moved into place once all are written."""
    target = Path(pattern)
    if not target.parent.is_dir():
        raise UsageError(f"output directory {target.parent} does not exist")
    scratch = Path(tempfile.mkdtemp(prefix=".framecodec-", dir=target.parent))
    try:
        yield scratch / target.name
        written = sorted(scratch.iterdir())
        clashes = [p.name for p in written if (target.parent / p.name).exists()]
        if clashes and not overwrite:
            raise UsageError(f"output {target.parent / clashes[0]} exists; pass -y to "
                             "overwrite it")
        for p in written:
            _settle(p)
        for p in written:
            os.replace(p, target.parent / p.name)
        _sync_directory(target.parent)
    finally:
        for p in scratch.iterdir():
            with contextlib.suppress(OSError):
                p.unlink()
        with contextlib.suppress(OSError):
            scratch.rmdir()
