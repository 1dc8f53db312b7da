# SPDX-License-Identifier: MIT
"""Resuming an interrupted encode: same bytes as an uninterrupted run, never a mixed file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import framecodec
from framecodec import cli
from framecodec.encoder.journal import Journal, JournalMismatch, journal_path, open_journal
from framecodec.errors import InputError, UsageError
from helpers import FAST, SAMPLE, moving_pattern, write_clip

CONFIG = "hidden = [8, 8]\ntrain_steps = 40\ntrain_samples = 6000\n"  # FAST as a file


class Interrupt(KeyboardInterrupt):
    pass


def stop_after(groups: int):
    """An ``on_group`` that interrupts the encode (as Ctrl-C would) after ``groups`` groups."""
    seen = []

    def on_group(frames: int, written: int) -> None:
        seen.append(frames)
        if len(seen) == groups:
            raise Interrupt

    return on_group


def interrupted(src, out, groups: int, **options) -> None:
    with pytest.raises(Interrupt) as caught:
        framecodec.encode(src, out, on_group=stop_after(groups), **options)
    assert "--resume" in "".join(caught.value.__notes__)
    assert not out.exists() and len(list(journal_path(out).glob("*.group"))) >= groups


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted encode of the sample, and the command line that made it."""
    where = tmp_path_factory.mktemp("journal")
    (where / "fast.toml").write_text(CONFIG)
    argv = ["encode", str(SAMPLE), "--config", str(where / "fast.toml"), "--group-size", "3",
            "--frames", "0:18"]
    assert cli.main([*argv, "-o", str(where / "whole.fcv"), "-q"]) == 0
    return argv, (where / "whole.fcv").read_bytes()


def _start(argv, out: Path) -> subprocess.Popen:
    """The encode in a process of its own, with Ctrl-C's default meaning: a test run
    started in the background (where a shell ignores SIGINT, and children inherit
    that) must not make the child deaf to the signal the test sends."""
    return subprocess.Popen([sys.executable, "-m", "framecodec", *argv, "-o", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_groups(process: subprocess.Popen, out: Path, count: int) -> None:
    deadline = time.monotonic() + 240
    while len(list(journal_path(out).glob("*.group"))) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no journaled groups"
        time.sleep(0.05)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_resume_after_kill_or_ctrl_c_writes_the_same_bytes(tmp_path, capsys, reference, how):
    argv, whole = reference
    out = tmp_path / "r.fcv"
    process = _start(argv, out)
    _wait_for_groups(process, out, 2)
    process.send_signal(how)
    _, err = process.communicate(timeout=120)
    if how == signal.SIGINT:
        assert process.returncode == 130
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "interrupted" in err and "--resume" in err and str(journal_path(out)) in err
    assert not out.exists()
    done = len(list(journal_path(out).glob("*.group")))
    assert done >= 2
    assert cli.main([*argv, "-o", str(out)]) == 2  # without --resume: refused, journal kept
    assert "--resume" in capsys.readouterr().err and journal_path(out).is_dir()
    assert cli.main([*argv, "-o", str(out), "--resume"]) == 0
    assert f"{done} groups from the journal" in capsys.readouterr().out
    assert out.read_bytes() == whole
    assert not journal_path(out).exists()


def test_mismatched_journal_is_refused_and_kept(tmp_path):
    info, frames = moving_pattern("yuv420p", 352, 288, count=16)
    src = write_clip(tmp_path / "s.y4m", info, frames)  # 2.4 MB: frames at fixed offsets
    out = tmp_path / "s.fcv"
    interrupted(src, out, 5, settings=FAST, group_size=2)
    journal = journal_path(out)
    kept = sorted(p.read_bytes() for p in journal.iterdir())

    with pytest.raises(JournalMismatch, match=r"settings\.train_steps: 40 in the journal, 41"):
        framecodec.encode(src, out, settings=FAST.replace(train_steps=41), group_size=2,
                          resume=True)
    with pytest.raises(JournalMismatch, match=r"frames: \[0, None\] in the journal, \[0, 9\]"):
        framecodec.encode(src, out, settings=FAST, group_size=2, frames=(0, 9), resume=True)
    other = write_clip(tmp_path / "o.y4m", *moving_pattern("yuv420p", 352, 288, 16, seed=1))
    with pytest.raises(JournalMismatch, match="source"):
        framecodec.encode(other, out, settings=FAST, group_size=2, resume=True)
    # frame 8 lies beyond the sampled first MiB and before the last: only its
    # group's digest tells the source changed
    data = bytearray(src.read_bytes())
    at = -1
    for _ in range(9):  # the header of frame 8
        at = data.index(b"FRAME", at + 1)
    assert (1 << 20) < at and at + 200 < len(data) - (1 << 20)
    data[at + 100:at + 200] = bytes(255 - b for b in data[at + 100:at + 200])
    src.write_bytes(data)
    with pytest.raises(JournalMismatch, match=r"group 4 \(frames 8-9\).*other frames"):
        framecodec.encode(src, out, settings=FAST, group_size=2, resume=True)
    assert sorted(p.read_bytes() for p in journal.iterdir()) == kept, "refusals touched it"
    assert not out.exists()

    framecodec.encode(src, out, settings=FAST, group_size=2, overwrite=True)  # -y: start over
    assert not journal.exists()
    fresh = tmp_path / "fresh.fcv"
    framecodec.encode(src, fresh, settings=FAST, group_size=2)
    assert out.read_bytes() == fresh.read_bytes()


def test_resumed_encode_with_audio_writes_the_golden_bytes(tmp_path):
    """The multi-group golden vector with audio, interrupted and resumed: its committed file."""
    sys.path.insert(0, str(Path(__file__).parent / "golden"))
    import vectors

    name = "multigroup-audio"
    src, settings = vectors.INPUTS / vectors.VECTORS[name][0], vectors.settings_for(name)
    out = tmp_path / "v.fcv"
    interrupted(src, out, 2, settings=settings)
    result = framecodec.encode(src, out, settings=settings, resume=True)
    assert result.run.resumed >= 2
    assert out.read_bytes() == (vectors.HERE / f"{name}.fcv").read_bytes()


def test_damaged_or_missing_groups_are_coded_again(tmp_path):
    out = tmp_path / "s.fcv"
    interrupted(SAMPLE, out, 3, settings=FAST, group_size=2, frames=(0, 10))
    groups = sorted(journal_path(out).glob("*.group"))
    data = bytearray(groups[1].read_bytes())
    data[-5] ^= 0xFF
    groups[1].write_bytes(data)
    groups[2].unlink()
    result = framecodec.encode(SAMPLE, out, settings=FAST, group_size=2, frames=(0, 10),
                               resume=True)
    assert result.run.resumed == len(groups) - 2
    whole = tmp_path / "whole.fcv"
    framecodec.encode(SAMPLE, whole, settings=FAST, group_size=2, frames=(0, 10))
    assert out.read_bytes() == whole.read_bytes()


def test_groups_handed_over_out_of_order_are_written_in_order(tmp_path, monkeypatch):
    """An executor that hands groups over as they finish (here: last first) has each
    journaled at once and read back from disk in its turn: the same file."""
    from framecodec.encoder import pipeline
    from framecodec.encoder.jobs import LocalExecutor

    class Backwards(LocalExecutor):
        def run_unordered(self, jobs):
            return reversed(list(self.run(jobs)))

    whole = tmp_path / "whole.fcv"
    framecodec.encode(SAMPLE, whole, settings=FAST, group_size=2, frames=(0, 8))
    monkeypatch.setattr(pipeline, "LocalExecutor", Backwards)
    read_back = []
    original = Journal._read_back
    monkeypatch.setattr(Journal, "_read_back",
                        lambda self, index: read_back.append(index) or original(self, index))
    out = tmp_path / "out.fcv"
    framecodec.encode(SAMPLE, out, settings=FAST, group_size=2, frames=(0, 8))
    assert out.read_bytes() == whole.read_bytes()
    assert read_back == [1, 2, 3]  # group 0 came last and was handed on directly


def test_resume_without_a_journal_is_a_plain_encode(tmp_path):
    out = tmp_path / "s.fcv"
    result = framecodec.encode(SAMPLE, out, settings=FAST, frames=(0, 3), resume=True)
    assert result.run.resumed == 0 and out.exists() and not journal_path(out).exists()


def test_one_encode_at_a_time_per_output(tmp_path):
    out = tmp_path / "s.fcv"
    first = open_journal(out, {"journal": 1}, resume=False, overwrite=False)
    try:
        with pytest.raises(UsageError, match="in use by another encode"):
            open_journal(out, {"journal": 1}, resume=True, overwrite=False)
    finally:
        first.remove()
    assert not journal_path(out).exists()


def test_damaged_input_leaves_neither_output_nor_journal(tmp_path):
    info, frames = moving_pattern("yuv420p", 64, 48, count=12)
    good = write_clip(tmp_path / "good.mkv", info, frames)
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0x5A for b in data[middle:middle + 64])
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(data)
    out = tmp_path / "bad.fcv"
    with pytest.raises(InputError, match="frame"):
        framecodec.encode(bad, out, settings=FAST, group_size=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mkv", "good.mkv"]
