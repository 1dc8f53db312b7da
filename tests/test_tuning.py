# SPDX-License-Identifier: MIT
"""Settings files, presets, targets met by measurement, scene-cut groups, tune."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import framecodec
from framecodec import cli, report
from framecodec.encoder import settings as config
from framecodec.encoder import tune
from framecodec.errors import UsageError
from framecodec.frames import Frame
from helpers import FAST, SAMPLE, corpus_clip, moving_pattern, read_frames, write_clip

FAST_SETTINGS = config.EncodeSettings(hidden=(8, 8), train_steps=40, train_samples=6000,
                                      refs=1)


def test_settings_file_round_trip(tmp_path):
    settings = config.PRESETS["best"].replace(max_error=2, block=8, hidden=(24, 0))
    config.dump(settings, tmp_path / "f.toml", header="a test")
    text = (tmp_path / "f.toml").read_text()
    assert "# a test" in text and all(f"# {doc}" in text for doc in config.KEYS.values())
    assert config.load(tmp_path / "f.toml") == settings


@pytest.mark.parametrize("text, needle", [
    ("colour = 3\n", "unknown key 'colour'"),
    ("refs = 9\n", "refs = 9 is out of range"),
    ("block = 12\n", "block = 12 is out of range"),
    ("bounded_starts = 0\n", "bounded_starts = 0 is out of range"),
    ("hidden = 16\n", "hidden = 16 has the wrong type"),
    ("subpel = 1\n", "subpel = 1 has the wrong type"),
    ("preset = \"turbo\"\n", "turbo"),
    ("max_error = [\n", "not valid TOML"),
])
def test_settings_file_errors(tmp_path, capsys, text, needle):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(UsageError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        config.load(tmp_path / "bad.toml")
    code = cli.main(["encode", str(SAMPLE), "-o", str(tmp_path / "x.fcv"), "--config",
                     str(tmp_path / "bad.toml")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "x.fcv").exists()


def test_presets_and_overrides(tmp_path):
    assert set(config.PRESETS) == {"fast", "default", "best"}
    fast, best = config.PRESETS["fast"], config.PRESETS["best"]
    assert fast.train_steps < config.EncodeSettings().train_steps < best.train_steps
    (tmp_path / "s.toml").write_text("preset = \"fast\"\nblock = 8\n")
    args = cli._parser().parse_args(["encode", "in.mkv", "--config", str(tmp_path / "s.toml"),
                                     "--max-group", "12"])
    settings = cli.encode_settings(args)
    assert settings.block == 8 and settings.max_group == 12 and settings.refs == fast.refs


def test_config_is_used_by_encode(tmp_path, capsys):
    config.dump(FAST_SETTINGS.replace(block=8, group_size=2, max_error=1), tmp_path / "c.toml")
    out = tmp_path / "c.fcv"
    assert cli.main(["encode", str(SAMPLE), "-o", str(out), "--frames", "0:4", "--config",
                     str(tmp_path / "c.toml"), "-q"]) == 0
    assert cli.main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [g["block"] for g in info["groups"]] == [8, 8]
    assert [g["max_error"] for g in info["groups"]] == [1, 1]
    assert [g["references"] for g in info["groups"]] == [1, 1]


def test_target_psnr_is_met_by_every_group(tmp_path):
    out = tmp_path / "p.fcv"
    result = framecodec.encode(SAMPLE, out, frames=(0, 8), settings=FAST_SETTINGS.replace(
        group_size=4), target_psnr=44.0)
    assert all(group.psnr >= 44.0 for group in result.groups_report)
    assert all(group.bound >= 1 for group in result.groups_report)  # the target is used
    checked = report.verify(out, SAMPLE)
    assert checked.sound and len(checked.group_psnr) == 2
    assert all(p >= 44.0 for p in checked.group_psnr)


def test_target_size_is_met_or_refused(tmp_path):
    lossless = framecodec.encode(SAMPLE, tmp_path / "l.fcv", frames=(0, 4),
                                 settings=FAST_SETTINGS, audio=False)
    budget = int(lossless.bytes * 0.6)
    out = tmp_path / "s.fcv"
    result = framecodec.encode(SAMPLE, out, frames=(0, 4), settings=FAST_SETTINGS,
                               target_size=budget)
    assert out.stat().st_size <= budget and result.max_error > 0
    with pytest.raises(UsageError, match="could not fit|leaves nothing"):
        framecodec.encode(SAMPLE, tmp_path / "tiny.fcv", frames=(0, 4), settings=FAST_SETTINGS,
                          target_size=2000)
    assert not (tmp_path / "tiny.fcv").exists()


def test_group_boundary_at_a_join(tmp_path, capsys):
    _, first = read_frames(corpus_clip("camera_carphone_176x144.mkv"), 0, 12)
    _, other = read_frames(corpus_clip("synthetic_lebiniou-wave_320x180.mkv"), 0, 12)
    info, _ = read_frames(corpus_clip("camera_carphone_176x144.mkv"), 0, 1)
    crop = [Frame([p[: q.shape[0], : q.shape[1]] for p, q in zip(f.planes, first[0].planes)],
                  f.pts) for f in other]
    joined = [dataclasses.replace(f, pts=k) for k, f in enumerate(first + crop)]
    src = write_clip(tmp_path / "joined.mkv", dataclasses.replace(info, frame_count=None),
                     joined)
    out = tmp_path / "j.fcv"
    framecodec.encode(src, out, settings=FAST_SETTINGS)
    groups = report.describe(out)["groups"]
    assert [(g["first_frame"], g["started"]) for g in groups][:2] == [(0, "start"), (12, "cut")]
    assert cli.main(["info", str(out)]) == 0
    assert "cut" in capsys.readouterr().out


@pytest.mark.parametrize("depth", [8, 10, 16])
def test_scene_cut_thumbnails_are_the_block_means(depth):
    """Integer block sums give exactly the float32 means the cut detector was tuned on."""
    from framecodec.encoder.grouping import _thumbnail

    rng = np.random.default_rng(depth)
    for shape in ((720, 1280), (36, 44), (17, 33), (8, 8), (5, 40)):
        plane = rng.integers(0, 1 << depth, size=shape).astype(
            np.uint8 if depth == 8 else np.uint16)
        scaled = plane.astype(np.float32) / (1 << (depth - 8))
        h, w = shape
        if h < 8 or w < 8:
            want = scaled
        else:
            bh, bw = h // 8 * 8, w // 8 * 8
            want = scaled[:bh, :bw].reshape(bh // 8, 8, bw // 8, 8).mean(axis=(1, 3))
        got = _thumbnail(Frame([plane]), depth)
        assert got.dtype == want.dtype and np.array_equal(got, want), shape


def test_tune_picks_the_smallest_and_writes_a_usable_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tune, "SEARCH", [("block", [8, 32]), ("refs", [2])])
    monkeypatch.setattr(config, "PRESETS", {**config.PRESETS, "default": FAST_SETTINGS})
    info, frames = moving_pattern("yuv420p", 48, 32, count=6)
    src = write_clip(tmp_path / "s.mkv", info, frames)
    code = cli.main(["tune", str(src), "-o", str(tmp_path / "t.toml"), "--sample-frames", "6",
                     "-q"])
    out = capsys.readouterr().out
    assert code == 0 and "<- chosen" in out and "block=8" in out and "block=32" in out
    rows = [line for line in out.splitlines() if line[:3].strip().isdigit()]
    sizes = [int(r.split()[2].replace(",", "")) for r in rows]
    chosen = [int(r.split()[2].replace(",", "")) for r in rows if "<- chosen" in r][0]
    assert chosen == min(sizes)
    settings = config.load(tmp_path / "t.toml")
    assert cli.main(["encode", str(src), "-o", str(tmp_path / "e.fcv"), "--config",
                     str(tmp_path / "t.toml"), "-q"]) == 0
    assert math.isinf(framecodec.encode(src, tmp_path / "e2.fcv", settings=settings).psnr)


def test_speed_floors_judge_measured_speeds():
    info, frames = moving_pattern("gray", 32, 16, count=4)
    free = tune.TuneTarget(max_error=0)
    trial = tune._measure(info, [frames], FAST_SETTINGS, free)
    assert trial.meets and trial.bytes > 0 and 0 < trial.encode_fps < np.inf
    assert 0 < trial.decode_fps < np.inf
    floors = tune.TuneTarget(min_encode_fps=2.0, min_decode_fps=10.0)
    assert floors.fast_enough(2.0, 10.0) and floors.fast_enough(3.0, 50.0)
    assert not floors.fast_enough(1.9, 50.0) and not floors.fast_enough(3.0, 9.9)
    fast, slow = dataclasses.replace(trial, meets=True), dataclasses.replace(trial, meets=False)
    slow.bytes = fast.bytes // 2  # smaller, but too slow: the floor comes first
    assert tune._better(fast, slow, free) and not tune._better(slow, fast, free)


def test_tune_ahead_of_its_results_searches_the_same(monkeypatch):
    """An executor that draws every candidate of a setting before coding any (as a
    cluster does) tries each from a best that may have changed since; those are
    tried again, so trials and choice are the sequential search's."""
    from framecodec.encoder.jobs import LocalExecutor

    class Ahead(LocalExecutor):
        runs = 0

        def run(self, jobs):
            Ahead.runs += 1
            yield from super().run(iter(list(jobs)))

    monkeypatch.setattr(tune, "SEARCH", [("max_group", [2, 4]), ("refs", [2])])
    # max_group=2 wins, which lowers min_group: the candidate max_group=4 drawn
    # ahead from the start settings (min_group 4) is stale (min_group 2 now)
    monkeypatch.setattr(tune, "_better", lambda a, b, target: a.settings.max_group == 2
                        and b.settings.max_group != 2)
    info, frames = moving_pattern("gray", 32, 16, count=6)
    start = FAST_SETTINGS.replace(min_group=6, max_group=6)
    target = tune.TuneTarget(max_error=0)

    def seen(result):
        best, trials = result
        return best.settings, [(t.changed, t.settings, t.bytes) for t in trials]

    here = seen(tune.tune(info, [frames], start, target))
    ahead = seen(tune.tune(info, [frames], start, target, executor=Ahead()))
    assert ahead == here
    assert here[0].max_group == 2 and here[1][2][1].min_group == 2
    assert Ahead.runs == 4  # start, max_group (both values), max_group=4 again, refs
