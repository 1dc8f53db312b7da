# SPDX-License-Identifier: MIT
"""The command line: outputs, summaries, and one clear line for each bad input."""

from __future__ import annotations

import json
import re
import shutil

import pytest

import framecodec
from framecodec import cli
from helpers import FAST, SAMPLE, assert_frames_equal, read_frames


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "s.fcv"
    framecodec.encode(SAMPLE, path, settings=FAST, frames=(0, 4), group_size=2)
    return path


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_encode_prints_summary(tmp_path, capsys):
    out = tmp_path / "c.fcv"
    code, stdout, _ = run(capsys, "encode", SAMPLE, "-o", out, "--frames", "0:2", "-q")
    assert code == 0 and out.exists() and stdout == ""
    code, stdout, _ = run(capsys, "encode", SAMPLE, "-o", out, "--frames", "0:2", "-y")
    assert code == 0
    assert "bits/sample" in stdout and "max error 0" in stdout and "fps" in stdout


def test_no_overwrite_without_y(tmp_path, capsys, coded):
    target = tmp_path / "exists.fcv"
    target.write_bytes(b"keep me")
    code, _, err = run(capsys, "encode", SAMPLE, "-o", target)
    assert code == 2 and "exists" in err and "-y" in err
    assert target.read_bytes() == b"keep me"
    code, _, err = run(capsys, "decode", coded, "-o", target)
    assert code == 2 and target.read_bytes() == b"keep me"


@pytest.mark.parametrize("ext", ["y4m", "mkv"])
def test_decode_exact_outputs(tmp_path, capsys, coded, ext):
    out = tmp_path / f"out.{ext}"
    code, stdout, _ = run(capsys, "decode", coded, "-o", out)
    assert code == 0 and "4 frames" in stdout
    _, got = read_frames(out)
    _, want = read_frames(SAMPLE, 0, 4)
    assert_frames_equal(got, want)


def test_decode_mp4(tmp_path, capsys, coded):
    out = tmp_path / "out.mp4"
    assert run(capsys, "decode", coded, "-o", out)[0] == 0
    info, frames = read_frames(out)
    assert len(frames) == 4 and info.pix_fmt == "yuv420p"
    lossless = tmp_path / "lossless.mp4"
    assert run(capsys, "decode", coded, "-o", lossless, "--lossless")[0] == 0
    assert_frames_equal(read_frames(lossless)[1], read_frames(SAMPLE, 0, 4)[1])


def test_decode_frame_range(tmp_path, capsys, coded):
    out = tmp_path / "part.y4m"
    assert run(capsys, "decode", coded, "-o", out, "--frames", "1:3")[0] == 0
    assert_frames_equal(read_frames(out)[1], read_frames(SAMPLE, 1, 3)[1])


def test_info(capsys, coded):
    code, stdout, _ = run(capsys, "info", coded)
    assert code == 0 and "176x144 yuv420p" in stdout and "identity" in stdout
    code, stdout, _ = run(capsys, "info", coded, "--json")
    report = json.loads(stdout)
    assert report["stream"]["frames"] == 4 and len(report["groups"]) == 2
    assert all(g["model_bytes"] > 0 for g in report["groups"])


def test_verify(tmp_path, capsys, coded):
    code, stdout, _ = run(capsys, "verify", coded, SAMPLE)
    assert code == 0 and "sound" in stdout and "[0, 0, 0]" in stdout
    damaged = tmp_path / "d.fcv"
    data = bytearray(coded.read_bytes())
    data[len(data) // 2] ^= 1
    damaged.write_bytes(bytes(data))
    code, stdout, _ = run(capsys, "verify", damaged)
    assert code == 1 and "NOT sound" in stdout


def test_bad_inputs(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    cut = tmp_path / "cut.fcv"
    cut.write_bytes(b"\x8bFCV\r\n\x1a\n" + b"\x00" * 10)
    cases = [
        (["encode", tmp_path / "missing.mp4"], "missing.mp4"),
        (["encode", tmp_path], str(tmp_path.name)),
        (["encode", text], "notes.mp4"),
        (["decode", tmp_path / "missing.fcv", "-o", tmp_path / "o.mkv"], "missing.fcv"),
        (["decode", text, "-o", tmp_path / "o.mkv"], "not a .fcv file"),
        (["decode", cut, "-o", tmp_path / "o.mkv"], "truncated"),
        (["encode", SAMPLE, "-o", tmp_path / "x.fcv", "--max-error", "-1"], "max_error"),
        (["encode", SAMPLE, "-o", tmp_path / "x.fcv", "--frames", "5:2"], "frame range"),
        (["info", text], "not a .fcv file"),
    ]
    for argv, needle in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert needle in err, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o.mkv").exists() and not (tmp_path / "x.fcv").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_output_is_not_the_input(tmp_path, capsys):
    src = tmp_path / "a.mkv"
    shutil.copy(SAMPLE, src)
    code, _, err = run(capsys, "encode", src, "-o", src, "-y")
    assert code == 2 and "input" in err


def test_encode_progress_knows_its_total(tmp_path, capsys):
    """The bar counts frames against the clip's length (from its duration when the
    container states no count, as Matroska does), with an ETA; -q silences it."""
    out = tmp_path / "p.fcv"
    assert cli.main(["encode", str(SAMPLE), "-o", str(out), "--frames", "0:4", "--group-size",
                     "2", "--preset", "fast"]) == 0
    err = capsys.readouterr().err
    assert "2/4 [" in err and "0frame [" not in err  # counted against the total
    assert re.search(r"2/4 \[\d\d:\d\d<\d\d:\d\d", err)  # elapsed<remaining
    assert cli.main(["encode", str(SAMPLE), "-o", str(out), "-y", "--frames", "0:4",
                     "--group-size", "2", "--preset", "fast", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_out_of_memory_is_one_line(capsys, coded, monkeypatch):
    from framecodec import report

    def starved(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(report, "describe", starved)
    code, _, err = run(capsys, "info", coded)
    assert code == 2 and err.count("\n") == 1 and "out of memory" in err


def test_info_names_the_frame_hashes(capsys, coded):
    code, stdout, _ = run(capsys, "info", coded)
    assert code == 0 and "MD5 of the source frames, as yuv420p" in stdout


def test_intra_only_codes_every_frame_intra_and_round_trips(tmp_path, capsys):
    """--intra-only: no frame predicts from another (every payload's kind is intra), the
    group still shares one model, and the frames come back exactly."""
    from framecodec.format.container import FcvReader
    from framecodec.format.group import INTRA
    out = tmp_path / "i.fcv"
    args = ["encode", SAMPLE, "--frames", "0:6", "--preset", "fast", "-q", "--group-size", "6"]
    assert run(capsys, *args, "-o", out, "--intra-only")[0] == 0
    with FcvReader(out) as reader:
        assert len(reader.groups) == 1
        kinds = [record.payload[0] for record in reader.read_group(0)[1]]
    assert kinds == [INTRA] * 6
    assert_frames_equal(list(framecodec.decode_frames(out)), read_frames(SAMPLE, 0, 6)[1])
    # without the flag the same frames use motion: most are inter
    assert run(capsys, *args, "-o", tmp_path / "v.fcv")[0] == 0
    with FcvReader(tmp_path / "v.fcv") as reader:
        assert [r.payload[0] for r in reader.read_group(0)[1]].count(INTRA) < 6
