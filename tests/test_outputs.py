# SPDX-License-Identifier: MIT
"""Atomic outputs: the mode a plain open() gives, on disk before they take their name."""

from __future__ import annotations

import os
import stat

import pytest

import framecodec
from framecodec.io import outputs
from helpers import FAST, SAMPLE


@pytest.fixture
def umask():
    """Set the process umask for a test, and put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_output_mode_is_what_open_gives(tmp_path, umask, mask):
    umask(mask)
    assert outputs.current_umask() == mask
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    with outputs.atomic_output(tmp_path / "atomic.txt") as tmp:
        tmp.write_text("x")
    (tmp_path / "seq").mkdir()
    with outputs.atomic_sequence(tmp_path / "seq" / "%02d.txt") as pattern:
        for k in range(2):
            (pattern.parent / (pattern.name % k)).write_text("x")
    assert mode(tmp_path / "atomic.txt") == mode(tmp_path / "plain.txt") == 0o666 & ~mask
    assert {mode(p) for p in (tmp_path / "seq").iterdir()} == {0o666 & ~mask}


def test_encode_and_decode_outputs_under_umask_022(tmp_path, umask):
    umask(0o022)
    framecodec.encode(SAMPLE, tmp_path / "s.fcv", settings=FAST, frames=(0, 2))
    framecodec.decode(tmp_path / "s.fcv", tmp_path / "s.mkv")
    assert mode(tmp_path / "s.fcv") == mode(tmp_path / "s.mkv") == 0o644


def test_synced_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(("fsync", kind, os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with outputs.atomic_output(tmp_path / "out.bin") as tmp:
        tmp.write_bytes(b"data")
    inode = os.stat(tmp_path / "out.bin").st_ino
    assert events == [("fsync", "file", inode), ("replace", inode),
                      ("fsync", "dir", os.stat(tmp_path).st_ino)]
