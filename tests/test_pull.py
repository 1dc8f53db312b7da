# SPDX-License-Identifier: MIT
"""Pulled references (format 2.10): with a bound, a group may predict from samples
pulled towards their predictions while the frames shown stay within the bound."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import framecodec
from framecodec import report
from framecodec.coding.decoder import read_group_header
from framecodec.encoder import groupcoder
from framecodec.errors import CorruptError
from framecodec.format.container import FcvReader
from framecodec.format.group import PULL_FLAG, GroupHeader
from helpers import FAST, SAMPLE, assert_frames_equal, corpus_clip, max_abs_error, \
    moving_pattern, read_frames, record_pulls

FLAGS_AT = 4 + 4 + 2 + 1 + 1 + 1 + 1  # after reason (FORMAT.md 4.1)


def _headers(path) -> list[GroupHeader]:
    with FcvReader(path) as reader:
        return [read_group_header(reader, g)[0] for g in range(len(reader.groups))]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_pulled_group_shows_every_sample_within_the_bound(tmp_path, threads):
    """A camera clip at bound 2 with the pull on: the frames shown (and hashed) are
    within the bound on one thread and on frame threads, while the group predicts
    from other samples (its coding differs from the one without the pull)."""
    _, source = read_frames(SAMPLE, 0, 4)
    out, plain = tmp_path / "pulled.fcv", tmp_path / "plain.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST.replace(max_error=2, pull="on"),
                      frames=(0, 4), jobs=1)
    framecodec.encode(SAMPLE, plain, settings=FAST.replace(max_error=2, pull="off"),
                      frames=(0, 4), jobs=1)
    assert [h.pull for h in _headers(out)] == [2]
    assert [h.pull for h in _headers(plain)] == [0]
    decoded = list(framecodec.decode_frames(out, threads=threads))
    assert max_abs_error(decoded, source) == 2
    assert out.read_bytes() != plain.read_bytes()
    assert report.verify(out).sound  # the stored MD5s are of the frames shown
    if threads > 1:
        assert_frames_equal(decoded, list(framecodec.decode_frames(out, threads=1)))


def test_a_pulled_palette_group_fills_the_frames_shown(tmp_path):
    """Palette planes are written into the frames shown as into the reconstruction: an
    animation whose chroma pair takes a palette, its luma coded sample by sample."""
    clip = corpus_clip("animation_wannaworktogether_480x352.mp4")
    _, source = read_frames(clip, 0, 2)
    out = tmp_path / "p.fcv"
    framecodec.encode(clip, out, settings=FAST.replace(max_error=1, pull="on", palette="on"),
                      frames=(0, 2), jobs=1)
    header = _headers(out)[0]
    assert header.pull == 1 and [p.planes for p in header.dictionary.palettes] == [(1, 2)]
    decoded = list(framecodec.decode_frames(out))
    assert max_abs_error(decoded, source) <= 1
    assert report.verify(out).sound


@pytest.mark.parametrize("starts", [1, 2])
def test_auto_codes_both_and_keeps_the_smaller(tmp_path, monkeypatch, starts):
    """``pull = auto`` (the default): with several random starts, the first is coded
    and retrained without and with the pull and the smallest coding decides; a
    single start codes its first model both ways and goes on with the smaller."""
    codings = record_pulls(monkeypatch)
    out = tmp_path / "a.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST.replace(max_error=2, bounded_starts=starts,
                                                         palette="off"),
                      frames=(0, 3), jobs=1)
    pull = _headers(out)[0].pull
    assert {p for p, _ in codings} == {0, 2}
    if starts == 1:  # the analysis's coding is pulled (model sizes are compared so)
        (on, on_size), (off, off_size) = codings[:2]
        assert (on, off) == (2, 0)
        assert pull == (2 if on_size < off_size else 0)
        assert {p for p, _ in codings[2:]} == {pull}
    else:
        assert pull == min(codings, key=lambda c: c[1])[0]


@pytest.mark.parametrize("pull", ["auto", "on", "off"])
def test_model_sizes_are_compared_on_pulled_codings(monkeypatch, pull):
    """With a bound, the candidate model sizes are coded with the pull (unless it is
    off) to choose between them: which size is smaller can change with it."""
    from framecodec.encoder import analysis, modelfit

    fit = modelfit.fit_group_nets

    def two_sizes(layout, src, mvs, intra, settings, skip_planes=frozenset()):
        return [fit(layout, src, mvs, intra, settings.replace(hidden=hidden), skip_planes)[0]
                for hidden in ((8, 8), (4, 4))]

    monkeypatch.setattr(modelfit, "fit_group_nets", two_sizes)
    codings = record_pulls(monkeypatch)
    info, frames = moving_pattern("yuv420p", 48, 32, count=3)
    chosen = analysis.analyse_group(info, frames, FAST.replace(max_error=2, pull=pull,
                                                               bounded_starts=1))
    expected = 0 if pull == "off" else 2
    assert [p for p, _ in codings[:2]] == [expected, expected]
    if pull != "auto":
        assert chosen.pulled == (pull == "on")


def test_headers_carry_the_pull_from_version_2_10(tmp_path):
    out = tmp_path / "h.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST.replace(max_error=2, pull="on"),
                      frames=(0, 2), jobs=1)
    with FcvReader(out) as reader:
        header, info = read_group_header(reader, 0)[0], reader.info
    data = header.to_bytes()
    assert data[FLAGS_AT] & PULL_FLAG and data[FLAGS_AT + 1:FLAGS_AT + 3] == b"\x02\x00"
    assert GroupHeader.from_bytes(data, info, 0).pull == 2
    plain = replace(header, pull=0).to_bytes()
    assert len(plain) == len(data) - 2 and not plain[FLAGS_AT] & PULL_FLAG
    with pytest.raises(ValueError, match="no pull"):
        replace(header, version=(2, 9)).to_bytes()
    with pytest.raises(ValueError, match="pull of 3"):
        replace(header, pull=3).to_bytes()
    with pytest.raises(CorruptError, match="flags"):
        GroupHeader.from_bytes(data, info, 0, (2, 9))
    for forged in (0, 3):  # a pull must lie within 1 .. max_error
        bad = bytearray(data)
        bad[FLAGS_AT + 1:FLAGS_AT + 3] = forged.to_bytes(2, "little")
        with pytest.raises(CorruptError, match="pull"):
            GroupHeader.from_bytes(bytes(bad), info, 0)
    lossless = replace(header, max_error=0, pull=0).to_bytes()
    bad = bytearray(lossless)
    bad[FLAGS_AT] |= PULL_FLAG
    bad[FLAGS_AT + 1:FLAGS_AT + 1] = b"\x01\x00"
    with pytest.raises(CorruptError, match="pull"):
        GroupHeader.from_bytes(bytes(bad), info, 0)


def test_pulled_samples_lie_between_the_prediction_and_the_sample_shown(tmp_path):
    """The encoder's two reconstructions of a pulled group: the frames shown within
    the bound of the source, the frames predicted from within the pull of them."""
    from framecodec.encoder.analysis import analyse_group

    info, frames = read_frames(SAMPLE, 0, 3)
    analysis = analyse_group(info, frames, FAST.replace(max_error=2, pull="on",
                                                        bounded_starts=1))
    assert analysis.pulled
    coded = groupcoder.code_group(analysis, 0, 2, keep_reconstruction=True)
    assert coded.pulled_frames is not None
    for shown, pulled, src in zip(coded.reconstructed, coded.references, frames):
        for a, b, c in zip(shown.planes, pulled.planes, src.planes):
            a, b, c = (np.asarray(x, np.int64) for x in (a, b, c))
            assert np.abs(a - c).max() <= 2 and np.abs(a - b).max() == 2
