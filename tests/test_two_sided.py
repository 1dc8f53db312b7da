# SPDX-License-Identifier: MIT
"""Two-sided groups (format 2.9): frames coded 0, 2, 1, 4, 3, ..., blocks averaging
two references; stored and given back in display order, exactly or within the bound."""

from __future__ import annotations

import json

import numpy as np
import pytest

import framecodec
from framecodec.coding.decoder import read_group_header
from framecodec.encoder import order as coding_order_choice
from framecodec.encoder.analysis import analyse_group
from framecodec.errors import CorruptError
from framecodec.format.container import FcvReader
from framecodec.format.group import GroupHeader, coding_order
from framecodec.format.layout import Layout
from framecodec.io.source import open_source
from helpers import FAST, SAMPLE, assert_frames_equal, corpus_clip, max_abs_error, read_frames

TWO_SIDED = FAST.replace(order="two-sided")


def test_coding_order_puts_each_odd_frame_after_the_even_one_after_it():
    assert coding_order(1, True) == [0]
    assert coding_order(2, True) == [0, 1]
    assert coding_order(4, True) == [0, 2, 1, 3]
    assert coding_order(7, True) == [0, 2, 1, 4, 3, 6, 5]
    assert coding_order(5, False) == [0, 1, 2, 3, 4]
    for n in range(1, 40):
        assert sorted(coding_order(n, True)) == list(range(n))


def _headers(path) -> list[GroupHeader]:
    with FcvReader(path) as reader:
        return [read_group_header(reader, g)[0] for g in range(len(reader.groups))]


@pytest.mark.parametrize("max_error", [0, 2])
def test_two_sided_groups_round_trip_with_bi_predicted_blocks(tmp_path, max_error):
    """A real clip decoded from H.264 (whose B-frames average two references, as a
    two-sided group's blocks may): frames in display order, exact or within the
    bound, on one thread and on several."""
    src = corpus_clip("synthetic_lebiniou-wave_320x180.mkv")
    _, source = read_frames(src, 0, 9)
    out = tmp_path / "s.fcv"
    framecodec.encode(src, out, settings=TWO_SIDED.replace(max_error=max_error),
                      frames=(0, 9), group_size=5, min_group=1)
    headers = _headers(out)
    assert [h.two_sided for h in headers] == [True, True]
    assert [h.order for h in headers] == [[0, 2, 1, 4, 3], [0, 2, 1, 3]]
    one = list(framecodec.decode_frames(out))
    assert [f.pts for f in one] == [f.pts for f in source]
    assert max_abs_error(one, source) <= max_error
    if max_error == 0:
        assert_frames_equal(one, source)
    assert_frames_equal(list(framecodec.decode_frames(out, threads=2)), one)


def test_the_search_bi_predicts_blocks_of_a_two_sided_group():
    """The odd frame between two others of the H.264-decoded clip averages both for
    some of its blocks, and only there: display order has no bi-predicted block."""
    with open_source(corpus_clip("synthetic_lebiniou-wave_320x180.mkv")) as source:
        frames = list(source.frames(0, 3))
        info = source.info
    two = analyse_group(info, frames, TWO_SIDED)
    assert two.order == [0, 2, 1]
    from framecodec.kernels.motion import REF2
    assert (two.mvs[2][:, REF2] > 0).sum() > 0  # frame 1, coded third
    assert (two.mvs[1][:, REF2] > 0).sum() == 0  # frame 2: one side only, no pair across
    display = analyse_group(info, frames, FAST.replace(order="display"))
    assert all((mv[:, REF2] == 0).all() for mv in display.mvs)


def test_partial_decodes_of_a_two_sided_group_match_the_full_decode(tmp_path):
    """Frame ranges ending on an odd frame (decoded after the even one that follows
    it, which must not come out) or starting inside the group give the frames of
    a full decode."""
    out = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, out, settings=TWO_SIDED, frames=(0, 12), group_size=6)
    full = list(framecodec.decode_frames(out))
    assert len(full) == 12
    for start, stop in ((0, 2), (1, 4), (3, 6), (5, 9), (7, 8), (9, None)):
        part = list(framecodec.decode_frames(out, frames=(start, stop)))
        assert_frames_equal(part, full[start:stop])


def test_a_damaged_frame_of_a_two_sided_group_is_reported_after_the_good_ones(tmp_path):
    """Frame 2 is decoded before frame 1: damage in it stops the group after frame
    0, naming frame 2; concealment repeats frame 0 from frame 1 on."""
    out = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, out, settings=TWO_SIDED.replace(fixity=False), frames=(0, 5),
                      group_size=5)
    data = bytearray(out.read_bytes())
    with FcvReader(out) as reader:
        _, records = reader.read_group(0)
        payloads = [r.payload for r in records]
    at = bytes(data).index(payloads[2]) + len(payloads[2]) // 2
    data[at:at + 8] = bytes(8)
    damaged = tmp_path / "d.fcv"
    damaged.write_bytes(bytes(data))
    got = []
    with pytest.raises(CorruptError, match="frame 2"):
        for frame in framecodec.decode_frames(damaged):
            got.append(frame)
    clean = list(framecodec.decode_frames(out))
    assert len(got) == 1 and np.array_equal(got[0].planes[0], clean[0].planes[0])


def test_auto_chooses_per_group_and_never_codes_bounded_groups_two_sided(tmp_path):
    """The estimate prefers two-sided order on the H.264-decoded clip and display
    order on a recording whose frames alternate between two pictures; a bound keeps
    display order."""
    with open_source(corpus_clip("synthetic_lebiniou-wave_320x180.mkv")) as source:
        wave = list(source.frames(0, 16))
        wave_info = source.info
    with open_source(corpus_clip("screen_gnome-message-board_274x268.mkv")) as source:
        screen = list(source.frames(0, 16))
        screen_info = source.info
    auto = FAST.replace(order="auto")

    def chosen(info, frames, settings, lossless=True):
        return coding_order_choice.choose_order(Layout(info, 4, 1), frames, settings,
                                                lossless=lossless)

    assert chosen(wave_info, wave, auto) == coding_order(16, True)
    assert chosen(screen_info, screen, auto) == coding_order(16, False)
    assert chosen(wave_info, wave, auto, lossless=False) == coding_order(16, False)
    assert chosen(wave_info, wave, auto.replace(inter=False)) == coding_order(16, False)
    assert chosen(wave_info, wave, auto.replace(order="two-sided"),
                  lossless=False) == coding_order(16, True)


def test_headers_refuse_the_two_sided_flag_before_version_2_9(tmp_path):
    """The flag is bit 2 of a 2.9 header's flags; a 2.8 header cannot say it, and a
    2.8 reader of the same bytes refuses them."""
    out = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, out, settings=TWO_SIDED, frames=(0, 3))
    with FcvReader(out) as reader:
        header, info = read_group_header(reader, 0)[0], reader.info
    data = header.to_bytes()
    assert GroupHeader.from_bytes(data, info, 0).two_sided
    with pytest.raises(ValueError):
        GroupHeader(**{**header.__dict__, "version": (2, 8)}).to_bytes()
    with pytest.raises(CorruptError, match="flags"):
        GroupHeader.from_bytes(data, info, 0, (2, 8))


def test_the_command_line_chooses_the_order_and_info_shows_it(tmp_path, capsys):
    from framecodec import cli

    out = tmp_path / "s.fcv"
    assert cli.main(["encode", str(SAMPLE), "-o", str(out), "--frames", "0:5", "--order",
                     "two-sided", "--preset", "fast", "-y", "-q"]) == 0
    assert cli.main(["info", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [g["order"] for g in report["groups"]] == ["two-sided"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["encode", str(SAMPLE), "-o", str(out), "--order", "sideways", "-y"])
    assert exit_.value.code == 2


def test_a_size_target_measures_a_two_sided_group_frame_by_frame(tmp_path):
    """Bounds searched for a target compare each decoded frame with its own source
    (the group was coded out of display order): the file's stated max error is the
    one measured on its decoded frames. ``auto`` keeps display order there."""
    src = corpus_clip("synthetic_lebiniou-wave_320x180.mkv")
    _, source = read_frames(src, 0, 5)
    out = tmp_path / "s.fcv"
    result = framecodec.encode(src, out, settings=TWO_SIDED, frames=(0, 5), target_size=60_000)
    decoded = list(framecodec.decode_frames(out))
    assert [h.two_sided for h in _headers(out)] == [True]
    assert 0 < result.max_error == max_abs_error(decoded, source)
    framecodec.encode(src, out, settings=FAST, frames=(0, 5), target_size=60_000,
                      overwrite=True)
    assert [h.two_sided for h in _headers(out)] == [False]
