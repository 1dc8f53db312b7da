# SPDX-License-Identifier: MIT
"""Format 2.7's mixing (FORMAT.md 6.5.6): the group flag, and coding with it.

The kernel is checked against the oracle in test_context.py; here the flag
travels through the header, files with it round-trip on real footage, and
headers of earlier versions or with unknown flags are read or refused as the
spec says."""

from __future__ import annotations

from dataclasses import replace

import pytest

import framecodec
from framecodec.coding.decoder import read_group_header
from framecodec.encoder.settings import PRESETS
from framecodec.errors import CorruptError
from framecodec.format.container import FcvReader
from framecodec.format.group import LONG_RATES_FLAG, MIXING_FLAG, GroupHeader
from helpers import FAST, SAMPLE, assert_frames_equal, corpus_clip, max_abs_error, read_frames

MIXING = replace(FAST, mixing=True)


def _header(path):
    with FcvReader(path) as reader:
        return read_group_header(reader, 0)[0], reader.info


@pytest.mark.parametrize("max_error", [0, 2])
def test_mixing_round_trips_on_real_footage(tmp_path, max_error):
    """Lossless bit-exact, bounded within the bound, on 6 carphone frames (intra and
    inter, two slices decoded on two threads), the flag set in the header."""
    out = tmp_path / "mixed.fcv"
    framecodec.encode(SAMPLE, out, settings=replace(MIXING, slices=2), max_error=max_error,
                      frames=(0, 6), jobs=1, threads=2, progress=False)
    header, _ = _header(out)
    assert header.mixing and header.slices == 2
    _, want = read_frames(SAMPLE, 0, 6)
    got = list(framecodec.decode_frames(out, threads=2))
    if max_error == 0:
        assert_frames_equal(got, want)
    else:
        assert max_abs_error(got, want) <= max_error


def test_mixing_bytes_do_not_depend_on_threads(tmp_path):
    clip = corpus_clip("synthetic_lebiniou-wave_320x180.mkv")
    sizes = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}.fcv"
        framecodec.encode(clip, out, settings=replace(MIXING, slices=3), frames=(0, 3),
                          jobs=1, threads=threads, progress=False)
        sizes.append(out.read_bytes())
    assert sizes[0] == sizes[1]


def test_the_flag_is_the_encoders_choice_and_best_sets_it():
    assert PRESETS["best"].mixing
    assert not PRESETS["default"].mixing and not PRESETS["fast"].mixing


def test_group_header_flags(tmp_path):
    """The flag is written from 2.7 and read back; a 2.6 header has no flags byte and
    cannot say mixing; undefined flag bits are refused."""
    out = tmp_path / "m.fcv"
    framecodec.encode(SAMPLE, out, settings=MIXING, frames=(0, 2), jobs=1, progress=False)
    header, info = _header(out)
    data = header.to_bytes()
    assert GroupHeader.from_bytes(data, info, 0).mixing
    plain = replace(header, mixing=False).to_bytes()
    assert not GroupHeader.from_bytes(plain, info, 0).mixing
    assert len(plain) == len(data)
    old = replace(header, mixing=False, version=(2, 6)).to_bytes()
    assert len(old) == len(data) - 1
    parsed = GroupHeader.from_bytes(old, info, 0, version=(2, 6))
    assert not parsed.mixing and parsed.model.to_bytes() == header.model.to_bytes()
    with pytest.raises(ValueError, match="no mixing"):
        replace(header, version=(2, 6)).to_bytes()
    flags_at = 4 + 4 + 2 + 1 + 1 + 1 + 1  # after reason (FORMAT.md 4.1)
    assert data[flags_at] == MIXING_FLAG | LONG_RATES_FLAG  # two frames: long rates (2.8)
    for forged in (0x10, 0x80, 0xFF):  # bits 2 and 3: TWO_SIDED (2.9), PULL (2.10)
        bad = bytearray(data)
        bad[flags_at] = forged
        with pytest.raises(CorruptError, match="flags"):
            GroupHeader.from_bytes(bytes(bad), info, 0)
