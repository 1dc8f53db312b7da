# SPDX-License-Identifier: MIT
"""The deep fuzzer (tools/fuzz.py): its mutator, its classifier, and a short run.

The long run is documented in tools/fuzz.py and the README (100,000 cases);
here a few thousand cases, a share of them with NUMBA_BOUNDSCHECK=1, must all
end cleanly: decoded, or refused in one line.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zlib
from argparse import Namespace

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import fcvmutate  # noqa: E402
import fuzz  # noqa: E402

SEEDS = sorted((ROOT / "tests" / "golden").glob("*.fcv"))


def chunks(data: bytes) -> list[tuple[bytes, int, bool]]:
    """(tag, length, CRC holds) of each chunk."""
    out, pos = [], 8
    while pos + 12 <= len(data):
        tag, n = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        payload = data[pos + 8:pos + 8 + n]
        crc = struct.unpack_from("<I", data, pos + 8 + n)[0] if pos + 12 + n <= len(data) else -1
        out.append((tag, n, crc == zlib.crc32(payload, zlib.crc32(tag)) & 0xFFFFFFFF))
        pos += 12 + n
    return out


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_the_tree_writes_back_every_byte(seed):
    data = seed.read_bytes()
    tree = fcvmutate.parse(data)
    assert fcvmutate.serialize(tree) == data
    tags = [c.tag for c in tree.chunks]
    assert tags[0] == b"HEAD" and tags[-2:] == [b"INDX", b"TAIL"]
    kinds = {type(i).__name__ for c in tree.chunks for _, _, i, _ in fcvmutate._walk(c.items)}
    assert kinds == {"Field", "Bytes", "Blob"}


def test_mutations_change_the_file_and_keep_what_they_should():
    trees = [fcvmutate.parse(s.read_bytes()) for s in SEEDS]
    rng = random.Random(5)
    kinds = {}
    for _ in range(400):
        tree = rng.choice(trees)
        mutated, done = fcvmutate.mutate(tree, rng, count=1)
        before, after = fcvmutate.serialize(tree), fcvmutate.serialize(mutated)
        kind = done[0].split(" ")[0].split(".")[0]
        kinds[kind] = kinds.get(kind, 0) + (after != before)
        if done[0].startswith(("HEAD.", "GRUP.", "FRAM.", "bytes ")) and \
                "no " not in done[0]:
            # a field or a substream changed: every chunk still parses and its CRC holds
            assert all(ok for _, _, ok in chunks(after)), done
    assert {"HEAD", "GRUP", "FRAM", "bytes", "blob", "chunk"} <= set(kinds), kinds
    assert all(count > 0 for count in kinds.values()), kinds


def _worker(tmp_path, boundscheck: bool) -> fuzz.Worker:
    os.environ[fuzz.SELF_TEST] = "1"
    try:
        args = Namespace(max_memory=256 << 20, memory=512, seed_files=[str(SEEDS[0])],
                         timeout=3)
        return fuzz.Worker(args, boundscheck, os.environ.get("NUMBA_CACHE_DIR",
                                                             str(tmp_path / "cache")))
    finally:
        del os.environ[fuzz.SELF_TEST]


def test_the_classifier_sees_every_failure(tmp_path):
    """A child made to abort, hang, allocate without end or (bounds checked) index past
    an array is classified as crash, hang, memory and foreign; a valid file decodes."""
    cases = {"crash": "crash", "hang": "hang", "memory": "memory"}
    plain = _worker(tmp_path, False)
    checked = _worker(tmp_path, True)
    try:
        for marker, outcome in cases.items():
            path = tmp_path / f"{marker}.fcv"
            path.write_bytes(marker.encode() + bytes(10))
            plain.send(path)
            assert plain.answer(3)["outcome"] == outcome, marker
            if not plain.alive:
                plain = plain.restarted()
        plain.send(SEEDS[0])
        assert plain.answer(30) == {"outcome": "decoded", "detail": ""}
        (tmp_path / "bounds.fcv").write_bytes(b"bounds" + bytes(10))
        checked.send(tmp_path / "bounds.fcv")
        result = checked.answer(30)
        assert result["outcome"] == "foreign" and "IndexError" in result["detail"]
    finally:
        plain.close()
        checked.close()


def test_short_fuzz_run_is_clean(tmp_path):
    """3,000 mutated files through decode, verify, info and framemd5, a tenth of them
    with bounds checks in the kernels: every one decoded or refused in one line."""
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "fuzz.py"), "--cases", "3000",
                           "--seed", "7", "--boundscheck-share", "0.1", "--workers", "1",
                           "--out", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True, timeout=900)
    summary = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(summary["saved"][:5], indent=1)
    outcomes = summary["outcomes"]
    assert sum(outcomes.values()) == 3000 and outcomes["decoded"] > 300
    assert outcomes["refused"] > 300 and summary["boundscheck_cases"] > 200
