# SPDX-License-Identifier: MIT
"""Planes 1 and 2 coded as differences from plane 0 (FORMAT.md 4.2.2, format 2.4)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import framecodec
from framecodec.coding.decoder import read_group_header
from framecodec.encoder import colour
from framecodec.errors import CorruptError
from framecodec.format import dictionary as dic
from framecodec.format.container import FcvReader
from framecodec.format.differences import from_differences, to_differences
from framecodec.format.group import GroupHeader
from framecodec.frames import Frame, VideoInfo
from framecodec.pixfmt import by_name
from helpers import FAST, ROOT, assert_frames_equal, max_abs_error, read_frames, write_clip

STILLS = ROOT / "samples" / "stills"


@pytest.mark.parametrize("bit_depth", [8, 10, 16])
def test_differences_are_exactly_reversible(bit_depth):
    """Every pair of (plane 0, plane p) values comes back (8-bit: all 65,536 pairs)."""
    peak = (1 << bit_depth) - 1
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    if bit_depth == 8:
        g, x = (a.ravel().astype(dtype) for a in np.mgrid[0:256, 0:256])
    else:
        rng = np.random.default_rng(bit_depth)
        g, x = (rng.integers(0, peak + 1, 100_000).astype(dtype) for _ in range(2))
        g[:4], x[:4] = [0, 0, peak, peak], [0, peak, 0, peak]
    planes = [g, x, x[::-1].copy()]
    coded = to_differences(planes, peak)
    assert coded[0] is g and all(c.dtype == dtype and int(c.max()) <= peak for c in coded)
    half = (peak + 1) >> 1
    assert np.array_equal(coded[1], (x.astype(np.int64) - g + half) % (peak + 1))
    from_differences(coded, peak)
    assert all(np.array_equal(a, b) for a, b in zip(coded, planes))


def test_dictionary_record_carries_the_differences_flag():
    gbrp = by_name("gbrp")
    record = dic.ColorDictionary([], 3, differences=True).to_bytes()
    assert record == bytes([dic.DIFFERENCES, 3, 0])
    assert dic.ColorDictionary.from_bytes(record, gbrp).differences
    assert not dic.ColorDictionary.from_bytes(record, gbrp).is_identity
    assert dic.ColorDictionary.from_bytes(bytes([dic.DIFFERENCES, 4, 0]), by_name("gbrap")) \
        .differences  # alpha is in the set, and is never a difference

    refused = [
        (record, by_name("yuv420p")),  # planes 0, 1, 2 of different sizes
        (bytes([dic.DIFFERENCES, 1, 0]), by_name("gray")),
    ]
    for data, fmt in refused:
        with pytest.raises(CorruptError):
            dic.ColorDictionary.from_bytes(data, fmt)
    with pytest.raises(CorruptError):  # a file of 2.3 knows modes 0 and 1 only
        dic.ColorDictionary.from_bytes(record, gbrp, version=(2, 3))
    rgb_palette = dic.Palette((0, 1, 2), np.array([[0, 0, 0], [9, 9, 9]], np.uint16))
    with pytest.raises(ValueError):
        dic.ColorDictionary([rgb_palette], 3, differences=True).to_bytes()
    forged = bytearray(dic.ColorDictionary([rgb_palette], 3).to_bytes())
    forged[0] |= dic.DIFFERENCES
    with pytest.raises(CorruptError, match="palette set"):
        dic.ColorDictionary.from_bytes(bytes(forged), gbrp)


def test_a_near_lossless_group_header_with_differences_is_refused(tmp_path):
    info, frames = _photo_crops(2)
    path = write_clip(tmp_path / "c.mkv", info, frames)
    out = tmp_path / "c.fcv"
    framecodec.encode(path, out, settings=replace(FAST, differences="on"), jobs=1,
                      progress=False)
    with FcvReader(out) as reader:
        header = read_group_header(reader, 0)[0]
    assert header.dictionary.differences
    lossy = replace(header, max_error=1).to_bytes()
    with pytest.raises(CorruptError, match="near-lossless"):
        GroupHeader.from_bytes(lossy, info, 0)


def _photo_crops(count: int, size=(96, 64)) -> tuple[VideoInfo, list[Frame]]:
    """Crops of a photograph (samples/stills/chelsea.png) moving by (2, 1) a frame."""
    _, (photo,) = read_frames(STILLS / "chelsea.png")
    w, h = size
    frames = [Frame([p[90 + t:90 + t + h, 180 + 2 * t:180 + 2 * t + w].copy()
                     for p in photo.planes], t) for t in range(count)]
    return VideoInfo(w, h, "gbrp", Fraction(25), Fraction(1, 25)), frames


@pytest.mark.parametrize("pix_fmt", ["gbrp", "gbrap", "gbrp10le", "yuv444p"])
def test_differences_round_trip_exactly(tmp_path, pix_fmt):
    """Forced on, every format that allows them decodes to its source; alpha untouched."""
    _, crops = _photo_crops(3)
    fmt = by_name(pix_fmt)
    frames = []
    for f in crops:
        planes = [p.astype(fmt.dtype) << (fmt.bit_depth - 8) for p in f.planes]
        if fmt.planes == 4:
            planes.append(np.full_like(planes[0], fmt.max_value))
            planes[3][::5, ::3] = 0
        frames.append(Frame(planes, f.pts))
    info = VideoInfo(96, 64, pix_fmt, Fraction(25), Fraction(1, 25))
    path = write_clip(tmp_path / "c.mkv", info, frames)
    out = tmp_path / "c.fcv"
    framecodec.encode(path, out, settings=replace(FAST, differences="on", palette="off"),
                      jobs=1, progress=False)
    with FcvReader(out) as reader:
        assert read_group_header(reader, 0)[0].dictionary.differences
    assert_frames_equal(list(framecodec.decode_frames(out, threads=2)), frames)


def test_the_encoder_codes_a_photograph_as_differences_and_it_is_smaller(tmp_path):
    """Red and blue of a photograph share green's detail: the estimate chooses the
    differences, and the file is smaller than with them off (measured, not assumed)."""
    info, frames = _photo_crops(2, size=(160, 96))
    assert colour.prefer_differences(info, frames)
    path = write_clip(tmp_path / "c.mkv", info, frames)
    sizes = {}
    for mode in ("auto", "off"):
        out = tmp_path / f"{mode}.fcv"
        framecodec.encode(path, out, settings=replace(FAST, differences=mode), jobs=1,
                          progress=False)
        sizes[mode] = out.stat().st_size
        with FcvReader(out) as reader:
            assert read_group_header(reader, 0)[0].dictionary.differences == (mode == "auto")
        assert_frames_equal(list(framecodec.decode_frames(out)), frames)
    assert sizes["auto"] < 0.97 * sizes["off"]


def test_unrelated_planes_are_not_coded_as_differences():
    """Planes that share nothing: differences would only add plane 0's detail."""
    rng = np.random.default_rng(1)
    smooth = [np.cumsum(rng.integers(-1, 2, (64, 96)), axis=1) % 256 for _ in range(3)]
    frames = [Frame([s.astype(np.uint8) for s in smooth], 0)]
    info = VideoInfo(96, 64, "gbrp", Fraction(25), Fraction(1, 25))
    assert not colour.prefer_differences(info, frames)
    yuv = VideoInfo(96, 64, "yuv444p", Fraction(25), Fraction(1, 25))
    assert not colour.prefer_differences(yuv, frames)  # RGB only, whatever the planes


def test_bounded_and_searched_codings_never_use_differences(tmp_path):
    info, frames = _photo_crops(2)
    path = write_clip(tmp_path / "c.mkv", info, frames)
    out = tmp_path / "b.fcv"
    framecodec.encode(path, out, settings=replace(FAST, differences="on", max_error=2), jobs=1,
                      progress=False)
    with FcvReader(out) as reader:
        assert not read_group_header(reader, 0)[0].dictionary.differences
    assert max_abs_error(list(framecodec.decode_frames(out)), frames) <= 2
