# SPDX-License-Identifier: MIT
"""Format 2.8's sample-model rates (FORMAT.md 6.1, 4.1 ``LONG_RATES``): the group
flag, the rule of earlier versions, and the encoder's choice for a group of one
frame (coded both ways, the smaller kept)."""

from __future__ import annotations

from dataclasses import replace

import pytest

import framecodec
from framecodec.coding.decoder import read_group_header
from framecodec.encoder import analysis, groupcoder, targets
from framecodec.errors import CorruptError
from framecodec.format.container import FcvReader
from framecodec.format.group import LONG_RATES_FLAG, MIXING_FLAG, GroupHeader
from framecodec.kernels.rangecoder import LONG, PLAIN
from helpers import FAST, ROOT, SAMPLE, assert_frames_equal, corpus_clip, read_frames

FLAGS_AT = 4 + 4 + 2 + 1 + 1 + 1 + 1  # after reason (FORMAT.md 4.1)


def _header(path):
    with FcvReader(path) as reader:
        return read_group_header(reader, 0)[0], reader.info


@pytest.fixture(scope="module")
def two_frames(tmp_path_factory):
    out = tmp_path_factory.mktemp("rates") / "two.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 2), jobs=1, progress=False)
    return _header(out)


def test_groups_of_several_frames_take_the_long_rates(two_frames):
    header, _ = two_frames
    assert header.long_rates and header.sample_rates == LONG
    assert header.to_bytes()[FLAGS_AT] == LONG_RATES_FLAG


def test_the_flag_says_the_rates_from_2_8(two_frames):
    header, info = two_frames
    plain = replace(header, long_rates=False)
    parsed = GroupHeader.from_bytes(plain.to_bytes(), info, 0)
    assert not parsed.long_rates and parsed.sample_rates == PLAIN
    both = replace(header, mixing=True).to_bytes()
    assert both[FLAGS_AT] == MIXING_FLAG | LONG_RATES_FLAG
    parsed = GroupHeader.from_bytes(both, info, 0)
    assert parsed.mixing and parsed.long_rates


def test_earlier_versions_take_the_rates_from_the_frame_count(two_frames):
    """2.5 to 2.7: long rates in groups of several frames, plain in groups of one;
    before 2.5 always plain. A 2.7 header cannot say otherwise, nor set bit 1."""
    header, info = two_frames
    for version, frames, rates in [((2, 7), 2, LONG), ((2, 7), 1, PLAIN), ((2, 5), 2, LONG),
                                   ((2, 4), 2, PLAIN)]:
        old = replace(header, version=version, frame_count=frames, long_rates=None)
        assert old.sample_rates == rates, (version, frames)
        if version >= (2, 5):  # (the model record's layout changed at 2.5)
            parsed = GroupHeader.from_bytes(old.to_bytes(), info, 0, version=version)
            assert parsed.sample_rates == rates, (version, frames)
    with pytest.raises(ValueError, match="chooses no sample rates"):
        replace(header, version=(2, 7), long_rates=False).to_bytes()
    data = bytearray(replace(header, version=(2, 7)).to_bytes())
    assert data[FLAGS_AT] == 0
    data[FLAGS_AT] = LONG_RATES_FLAG
    with pytest.raises(CorruptError, match="flags"):
        GroupHeader.from_bytes(bytes(data), info, 0, version=(2, 7))
    data = bytearray(header.to_bytes())
    for forged in (0x10, 0x80, 0xFF):  # bits 2 and 3: TWO_SIDED (2.9), PULL (2.10)
        data[FLAGS_AT] = forged
        with pytest.raises(CorruptError, match="flags"):
            GroupHeader.from_bytes(bytes(data), info, 0)


def _record_codings(monkeypatch) -> list[tuple[list, object]]:
    """For every ``code_group`` call: the (long rates, bytes) of each coding it
    made, and the coding it returned."""
    calls = []
    code, code_group = groupcoder._code, groupcoder.code_group

    def recording_code(a, header, threads, keep):
        coded = code(a, header, threads, keep)
        calls[-1][0].append((coded.header.long_rates, coded.size))
        return coded

    def recording_code_group(*args, **kwargs):
        calls.append(([], None))
        kept = code_group(*args, **kwargs)
        calls[-1] = (calls[-1][0], kept)
        return kept
    monkeypatch.setattr(groupcoder, "_code", recording_code)
    monkeypatch.setattr(groupcoder, "code_group", recording_code_group)
    for caller in (analysis, targets):  # the callers that import it by name
        monkeypatch.setattr(caller, "code_group", recording_code_group)
    return calls


@pytest.mark.parametrize("source, frame, chosen", [
    (ROOT / "samples" / "stills" / "camera.png", 0, True),  # a photograph: long rates
    (corpus_clip("screen_gnome-message-board_274x268.mkv"), 0, False),  # a desktop: plain
])
def test_a_single_frame_keeps_the_smaller_coding(tmp_path, monkeypatch, source, frame, chosen):
    """A group of one frame is coded at both rates and the smaller kept, which is
    the long rates' on a still photograph and the plain ones' on a screen
    recording's frame; the file decodes to the source, bit for bit."""
    calls = _record_codings(monkeypatch)
    out = tmp_path / "one.fcv"
    framecodec.encode(source, out, settings=FAST, frames=(frame, frame + 1), jobs=1,
                      progress=False, audio=False)
    assert calls
    trials = []
    for codings, kept in calls:  # trials (palettes or not) and the final coding alike
        if not codings:  # a trial's coding, reused
            assert kept.size in trials
            continue
        trials.append(kept.size)
        assert [flag for flag, _ in codings] == [False, True]
        assert kept.size == min(size for _, size in codings)
        assert kept.size == dict(codings)[kept.header.long_rates]
    header, _ = _header(out)
    assert header.long_rates == chosen
    _, want = read_frames(source, frame, frame + 1)
    assert_frames_equal(list(framecodec.decode_frames(out)), want)


def test_several_frames_are_coded_once(tmp_path, monkeypatch):
    calls = _record_codings(monkeypatch)
    out = tmp_path / "three.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 3), jobs=1, progress=False)
    assert calls
    assert all([flag for flag, _ in codings] == [True] for codings, _ in calls)
    assert _header(out)[0].long_rates
