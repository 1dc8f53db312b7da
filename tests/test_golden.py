# SPDX-License-Identifier: MIT
"""Golden vectors (tests/golden): the bitstream may change only on purpose.

The decoder must turn each committed .fcv into the committed planes, and the
encoder must turn each committed input into the committed bytes. After a
deliberate format change: ``.venv/bin/python tests/golden/vectors.py
--regenerate`` and a FORMAT.md changelog entry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import vectors  # noqa: E402

MANIFEST = vectors.load_manifest()
REGENERATE = "regenerate with: .venv/bin/python tests/golden/vectors.py --regenerate"


def test_manifest_lists_every_vector():
    assert sorted(MANIFEST) == sorted(vectors.VECTORS)
    for name in MANIFEST:
        assert (vectors.HERE / f"{name}.fcv").is_file()
        assert (vectors.INPUTS / MANIFEST[name]["input"]).is_file()


@pytest.mark.parametrize("name", sorted(vectors.VECTORS))
def test_golden_decodes_to_committed_planes(name):
    path = vectors.HERE / f"{name}.fcv"
    assert vectors.sha256(path.read_bytes()) == MANIFEST[name]["fcv_sha256"], \
        f"the committed {path.name} is not the one the manifest describes; {REGENERATE}"
    assert vectors.decoded_sha256(path) == MANIFEST[name]["decoded_sha256"], \
        f"{name}: the decoder reads the committed file differently (a format change?)"


@pytest.mark.parametrize("name", sorted(vectors.VECTORS))
def test_golden_encodes_to_committed_bytes(name, tmp_path):
    data = vectors.encode(name, tmp_path / f"{name}.fcv")
    assert len(data) == MANIFEST[name]["bytes"] and \
        vectors.sha256(data) == MANIFEST[name]["fcv_sha256"], \
        f"{name}: the encoder writes other bytes ({len(data)} against " \
        f"{MANIFEST[name]['bytes']}): a format or encoder change? If on purpose, {REGENERATE}"


COMPAT = vectors.HERE / "compat"


@pytest.mark.parametrize("name", sorted(json.loads((COMPAT / "compat.json").read_text())))
def test_files_of_earlier_versions_still_decode(name):
    """Never regenerated: what an earlier encoder wrote decodes as it did (FORMAT.md 8)."""
    import framecodec

    want = json.loads((COMPAT / "compat.json").read_text())[name]
    path = COMPAT / name
    assert vectors.sha256(path.read_bytes()) == want["fcv_sha256"]
    with framecodec.open(path) as reader:
        assert list(reader.header.version) == want["version"]
    assert vectors.decoded_sha256(path) == want["decoded_sha256"]


def test_golden_vectors_cover_the_format():
    """What the issue asked the vectors to hold, checked on the files themselves."""
    import framecodec
    from framecodec.report import describe

    reports = {name: describe(vectors.HERE / f"{name}.fcv") for name in MANIFEST}
    formats = {r["stream"]["pix_fmt"] for r in reports.values()}
    assert {"yuv420p", "yuv444p", "gbrp", "gray", "yuv420p10le"} <= formats
    assert any(r["stream"]["max_error"] > 0 for r in reports.values())
    assert any(g["palettes"] for r in reports.values() for g in r["groups"])
    # a palette over RECENT_SIZE entries: escapes through the recency list (6.6.3)
    assert any(g["dictionary_entries"] > 128 for r in reports.values() for g in r["groups"])
    multi = reports["multigroup-audio"]
    assert len(multi["groups"]) > 1
    with framecodec.open(vectors.HERE / "multigroup-audio.fcv") as reader:
        assert reader.audio() is not None


def test_golden_bytes_do_not_depend_on_the_cpu(tmp_path):
    """Training's floats decide a group's networks, so its bytes: every kernel
    compiled for a generic x86-64 (SSE2, no AVX: other vector widths, other
    instructions) must still give the committed bytes. (With torch, MKL and
    ATen chose their kernels by CPU and the golden vectors came out otherwise
    on an Intel Xeon than on the AMD EPYC that wrote them.)"""
    import os
    import subprocess

    names = ["yuv420p-lossless", "gray-bound1"]
    script = ("import sys, vectors\nfrom pathlib import Path\n"
              f"for name in {names!r}:\n"
              f"    sys.stdout.write(vectors.sha256(vectors.encode(name, Path({str(tmp_path)!r}) "
              "/ 'v.fcv')) + '\\n')\n")
    generic = {"NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "kernels")}
    done = subprocess.run([sys.executable, "-c", script], cwd=vectors.HERE, check=True,
                          env={**os.environ, **generic}, capture_output=True, text=True)
    assert done.stdout.split() == [MANIFEST[name]["fcv_sha256"] for name in names]


def test_activity_levels_follow_the_version_and_the_group_length():
    """FORMAT.md 6.5.4: four activity levels from version 2.3 in groups of two or more
    frames; one before 2.3, and in a group of one frame."""
    import dataclasses

    from framecodec.coding.decoder import read_group_header
    from framecodec.format.container import FcvReader
    from framecodec.kernels.framecoder import ACTIVITY_LEVELS

    with FcvReader(vectors.HERE / "multigroup-audio.fcv") as reader:
        header = read_group_header(reader, 0)[0]
    assert header.version >= (2, 3) and header.frame_count == 2
    assert header.activity_levels == ACTIVITY_LEVELS
    assert dataclasses.replace(header, frame_count=1).activity_levels == 1
    assert dataclasses.replace(header, version=(2, 2)).activity_levels == 1


def test_fine_contexts_follow_the_version_and_the_group_length():
    """FORMAT.md 6.5.5: zero flags by eighths and signs by the neighbours' signs from
    version 2.6 in groups of two or more frames; not before 2.6, nor in a group of one
    frame (whose file still decodes to its planes: the compat vectors of 2.5)."""
    import dataclasses

    from framecodec.coding.decoder import read_group_header
    from framecodec.format.container import FcvReader

    with FcvReader(vectors.HERE / "multigroup-audio.fcv") as reader:
        header = read_group_header(reader, 0)[0]
    assert header.version >= (2, 6) and header.frame_count == 2
    assert header.fine_contexts
    assert not dataclasses.replace(header, frame_count=1).fine_contexts
    assert not dataclasses.replace(header, version=(2, 5)).fine_contexts
