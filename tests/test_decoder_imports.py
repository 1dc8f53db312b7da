# SPDX-License-Identifier: MIT
"""The decoder path never imports torch or the encoder: decoding works where torch cannot load."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import framecodec
from helpers import BLOCK_TORCH, FAST, SAMPLE


def test_decode_without_torch(tmp_path):
    coded = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, coded, settings=FAST, frames=(0, 3))
    script = BLOCK_TORCH + textwrap.dedent(f"""
        import framecodec
        from framecodec import report
        frames = list(framecodec.decode_frames({str(coded)!r}))
        framecodec.decode({str(coded)!r}, {str(tmp_path / 'out.mkv')!r})
        assert report.verify({str(coded)!r}).sound
        report.describe({str(coded)!r})
        assert "torch" not in sys.modules
        loaded = sorted(m for m in sys.modules if m.startswith("framecodec.encoder"))
        assert not loaded, loaded
        assert "framecodec.kernels.gather" not in sys.modules  # the encoder's kernels
        assert "framecodec.kernels.search" not in sys.modules
        assert "framecodec.kernels.training" not in sys.modules
        print(len(frames))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


def test_cli_decode_loads_no_encoder(tmp_path):
    """The command line too: ``decode``, ``info`` and ``verify`` load no encoder module."""
    coded = tmp_path / "s.fcv"
    framecodec.encode(SAMPLE, coded, settings=FAST, frames=(0, 2))
    script = textwrap.dedent(f"""
        import sys
        from framecodec import cli
        for argv in (["decode", {str(coded)!r}, "-o", {str(tmp_path / 'o.y4m')!r}, "-q"],
                     ["info", {str(coded)!r}], ["verify", {str(coded)!r}]):
            assert cli.main(argv) == 0, argv
        loaded = sorted(m for m in sys.modules
                        if m.startswith("framecodec.encoder") or m.split(".")[0] == "torch")
        assert not loaded, loaded
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
