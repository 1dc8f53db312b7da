# SPDX-License-Identifier: MIT
"""Hostile files: valid CRCs, absurd claims. Each fails in one line with exit 2 (or
decodes), quickly and without a large allocation, also under ``ulimit -v``.

The files are made from a real one with the structure-aware mutator of
tools/fcvmutate.py (written from FORMAT.md), which fixes CRCs, index and tail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import framecodec
from framecodec import report
from helpers import FAST, ROOT, moving_pattern, write_clip

sys.path.insert(0, str(ROOT / "tools"))
import fcvmutate  # noqa: E402

PEAK_MB = 300
ADDRESS_SPACE = 1_500_000 * 1024  # ulimit -v 1500000


# Measures a command from a small process: a child's peak RSS counts the memory of the
# process it was forked from (Linux keeps the high-water mark across exec), so a child of
# pytest itself would report pytest's size.
_MEASURE = """
import json, os, resource, subprocess, sys, time
limit = int(sys.argv[1])
def cap():
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
t0 = time.perf_counter()
with open(sys.argv[2], "wb") as err, open(os.devnull, "wb") as null:
    proc = subprocess.Popen(sys.argv[3:], stdout=null, stderr=err, preexec_fn=cap)
    _, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), time.perf_counter() - t0,
                  usage.ru_maxrss / 1024]))
"""


def run_cli(*argv, address_space: int | None = None) -> tuple[int, str, float, float]:
    """(exit status, stderr, seconds, peak MB) of ``framecodec argv`` in a child."""
    err = Path(argv[1]).with_suffix(".err")
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(address_space or 0), str(err),
                           sys.executable, "-m", "framecodec", *map(str, argv)],
                          capture_output=True, text=True, check=True)
    code, seconds, peak = json.loads(done.stdout)
    return code, err.read_bytes().decode(), seconds, peak


def one_error_line(err: str, command: str) -> bool:
    """What a terminal shows: the progress bar erases itself with carriage returns."""
    lines = [line.split("\r")[-1] for line in err.split("\n")]
    lines = [line for line in lines if line.strip()]
    return len(lines) == 1 and lines[0].startswith(f"framecodec {command}: error: ") and \
        "Traceback" not in err


@pytest.fixture(scope="module")
def gray(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    info, frames = moving_pattern("gray", 16, 16, count=3)
    out = folder / "g.fcv"
    framecodec.encode(write_clip(folder / "g.mkv", info, frames), out, settings=FAST)
    return out


def forged(base: Path, name: str, change) -> Path:
    tree = fcvmutate.parse(base.read_bytes())
    change(tree)
    out = base.parent / name
    out.write_bytes(fcvmutate.serialize(tree))
    return out


def _field(chunk, name):
    return next(i for i in chunk.items if isinstance(i, fcvmutate.Field) and i.name == name)


def _huge(tree):
    head = tree.chunks[0]
    _field(head, "width").value = _field(head, "height").value = 16384


@pytest.mark.parametrize("address_space", [None, ADDRESS_SPACE])
@pytest.mark.parametrize("command", ["decode", "verify", "info"])
def test_huge_frame_in_a_few_bytes(gray, tmp_path, command, address_space):
    """16384 x 16384 gray (2^28 samples, the format's limit) whose slices are a few
    hundred bytes: refused before the frame is allocated."""
    path = forged(gray, "huge.fcv", _huge)
    extra = ["-o", tmp_path / "x.mkv"] if command == "decode" else []
    code, err, seconds, peak = run_cli(command, path, *extra, address_space=address_space)
    assert code == 2 and one_error_line(err, command), err
    # under ulimit -v the memory limit (a share of the address space left) may refuse first
    assert re.search(r"is \d{3} bytes, too short for its 16384x16384 samples", err) or \
        (address_space and "needs about" in err)
    assert peak < PEAK_MB and seconds < 20, (seconds, peak)  # about 0.7 s, 150 MB idle


def _huge_with_data(tree):
    """2^28 samples and a first slice long enough for them (random bytes)."""
    _huge(tree)
    frame = next(c for c in tree.chunks if c.tag == b"FRAM")
    frame.items[-1] = fcvmutate.Bytes("slice 0", os.urandom(60_000))


@pytest.mark.parametrize("address_space", [None, ADDRESS_SPACE])
def test_huge_frame_beyond_the_memory_limit(gray, tmp_path, address_space):
    """A frame its bytes could code but memory cannot hold: refused by --max-memory,
    or under ulimit -v by the default limit (a share of the address space left)."""
    path = forged(gray, "big.fcv", _huge_with_data)
    limit = [] if address_space else ["--max-memory", "1G"]
    for command in ("decode", "verify"):
        extra = ["-o", tmp_path / "x.mkv"] if command == "decode" else []
        code, err, seconds, peak = run_cli(command, path, *extra, *limit,
                                           address_space=address_space)
        assert code == 2 and one_error_line(err, command), err
        assert "needs about" in err and "raise --max-memory" in err
        assert peak < PEAK_MB and seconds < 20


def test_huge_counts(gray, tmp_path):
    """Counts the header carries for information (frames, groups) and a group header's
    frame count far beyond the frames present: clean refusals or reports."""
    def counts(tree):
        head = tree.chunks[0]
        _field(head, "frame_count").value = _field(head, "group_count").value = 2**32 - 1

    path = forged(gray, "counts.fcv", counts)
    assert len(list(framecodec.decode_frames(path))) == 3
    checked = report.verify(path)
    assert not checked.sound and "header says 4294967295" in checked.problems[-1]

    def group_frames(tree):
        grup = next(c for c in tree.chunks if c.tag == b"GRUP")
        _field(grup, "frame_count").value = 65535
        tree.keep_index = True
        index = next(c for c in tree.chunks if c.tag == b"INDX")
        _field(index, "entry0.frame_count").value = 65535

    path = forged(gray, "group.fcv", group_frames)
    with framecodec.open(path) as reader:  # too many frames for the bytes: index rebuilt
        assert reader.damaged_index and reader.frame_count == 3
    assert len(list(framecodec.decode_frames(path))) == 3  # what is there, as HEAD says
    assert "index missing or damaged" in report.verify(path).problems[0]


def test_a_truncated_tail_conceals_at_most_a_group(gray, tmp_path):
    """A file cut before its index, whose header promises 2^32 - 1 frames: --conceal
    repeats frames only up to a group's worth past the last one found."""
    data = gray.read_bytes()
    tree = fcvmutate.parse(data)
    _field(tree.chunks[0], "frame_count").value = 2**32 - 1
    tree.chunks = [c for c in tree.chunks if c.tag not in (b"INDX", b"TAIL")]
    tree.keep_index = True
    path = tmp_path / "cut.fcv"
    path.write_bytes(fcvmutate.serialize(tree))
    seen = []
    frames = framecodec.decode_frames(path, conceal=True, on_damage=lambda k, r: seen.append(k))
    assert sum(1 for _ in frames) == 3 + 65535 and seen[0] == 3


@pytest.mark.parametrize("what", ["slice lengths", "motion length", "index offsets",
                                  "far vectors", "absurd network"])
def test_inconsistent_structures(gray, tmp_path, what):
    def change(tree):
        frames = [c for c in tree.chunks if c.tag == b"FRAM"]
        if what == "slice lengths":  # a slice claims more than its frame holds
            lengths = [i for i in frames[0].items if i.name.startswith("slice_length")]
            grup = next(c for c in tree.chunks if c.tag == b"GRUP")
            if not lengths:  # one slice: split it in two that do not fit
                _field(grup, "slices").value = 2
                frames[0].items.insert(-1, fcvmutate.Field("slice_length[0]", "uvar", 10**6))
            else:
                lengths[0].value = 10**6
        elif what == "motion length":
            inter = next(f for f in frames if _field(f, "kind").value == 1)
            blob = next(i for i in inter.items if isinstance(i, fcvmutate.Blob))
            blob.length = 2**40
        elif what == "index offsets":
            tree.keep_index = True
            index = next(c for c in tree.chunks if c.tag == b"INDX")
            _field(index, "entry0.offset").value = 2**63
        elif what == "far vectors":  # the motion substream replaced by 0xFF bytes
            inter = next(f for f in frames if _field(f, "kind").value == 1)
            blob = next(i for i in inter.items if isinstance(i, fcvmutate.Blob))
            blob.items = [fcvmutate.Bytes("motion substream", b"\xff" * 64)]
        else:  # the model record's coded bytes replaced: absurd shapes and values
            grup = next(c for c in tree.chunks if c.tag == b"GRUP")
            model = next(i for i in grup.items if getattr(i, "name", "") == "model")
            model.items[1] = fcvmutate.Bytes("model substream", b"\x7f" * 300)

    path = forged(gray, f"{what}.fcv".replace(" ", "-"), change)
    for command in ("decode", "verify", "info"):
        extra = ["-o", tmp_path / "z.mkv", "-y"] if command == "decode" else []
        code, err, seconds, peak = run_cli(command, path, *extra)
        assert code in (0, 1, 2) and "Traceback" not in err, (command, err)
        if code == 2:
            assert one_error_line(err, command), err
        assert peak < PEAK_MB and seconds < 20


def test_coded_positions_match_a_count_per_sample():
    """The least-length check's count of coded positions per slice (budget.CodedSamples,
    made once per group) equals a count sample by sample from FORMAT.md 5.2's unit map,
    with random skip flags, for every group of the golden vectors (4:2:0, 4:4:4, 10-bit,
    palettes whose later planes code nothing of their own)."""
    import numpy as np

    from framecodec.coding import budget
    from framecodec.coding.decoder import read_group_header
    from framecodec.format.container import FcvReader
    from framecodec.format.layout import Layout

    rng = np.random.default_rng(5)
    groups = 0
    for path in sorted((ROOT / "tests" / "golden").glob("*.fcv")):
        reader = FcvReader(path)
        for g in range(len(reader.groups)):
            header, _ = read_group_header(reader, g)
            lay = Layout(reader.info, header.log2_block, header.slices, list(header.slice_starts))
            counter = budget.CodedSamples(lay, header)
            followers = {p for pal in header.dictionary.palettes for p in pal.planes[1:]}
            for share in (0.0, 0.3, 1.0):
                skip = (rng.random(lay.nux * lay.nuy) < share).astype(np.uint8)
                want = [0] * lay.n_slices
                for p in set(range(lay.n_planes)) - followers:
                    _, w, h, sx, sy, _ = (int(v) for v in lay.geom[p])
                    for s in range(lay.n_slices):
                        ys = int(lay.slice_y[s]) >> sy
                        ye = min(h, -(-int(lay.slice_y[s + 1]) >> sy))
                        for y in range(ys, ye):
                            for x in range(w):
                                u = ((y << sy) >> (lay.log2_block - 1)) * lay.nux \
                                    + ((x << sx) >> (lay.log2_block - 1))
                                want[s] += 0 if skip[u] else 1
                assert counter(skip) == want, (path.name, g, share)
            groups += 1
    assert groups >= 8
