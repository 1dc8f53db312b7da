# SPDX-License-Identifier: MIT
"""Compiled kernels are cached under a name that changes with any kernel file,
so a kernel never runs with a stale copy of a helper from another file."""

import shutil

from framecodec.kernels import _jit


def test_cache_name_follows_every_kernel_file(tmp_path, monkeypatch):
    copy = tmp_path / "kernels"
    shutil.copytree(_jit._HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(_jit, "_HERE", copy)
    before = _jit._sources_digest()
    helper = copy / "rangecoder.py"
    helper.write_text(helper.read_text() + "\n# a change to a helper only\n")
    assert _jit._sources_digest() != before


def test_kernels_cache_in_the_named_directory():
    if _jit._CACHE_DIR is not None:
        assert _jit._CACHE_DIR.endswith(f"numba-{_jit._sources_digest()}")
