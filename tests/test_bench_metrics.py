# SPDX-License-Identifier: MIT
"""Metric helpers of tools/bench.py against hand-computed values, plus a tiny end-to-end check."""

from __future__ import annotations

import importlib.util
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

BENCH_PATH = Path(__file__).resolve().parent.parent / "tools" / "bench.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("framecodec_bench", BENCH_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


# --- bits_per_sample ---------------------------------------------------------


def test_bits_per_sample_hand_values():
    assert bench.bits_per_sample(1000, 8000) == 1.0
    assert bench.bits_per_sample(3, 16) == 1.5
    # one 4x4 yuv420p frame has 16 + 4 + 4 = 24 samples; 6 bytes = 48 bits -> 2 bits/sample
    assert bench.bits_per_sample(6, 24) == 2.0


def test_bits_per_sample_rejects_empty():
    with pytest.raises(ValueError):
        bench.bits_per_sample(10, 0)


# --- max_abs_error -------------------------------------------------------------


def test_max_abs_error_identical_is_zero():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert bench.max_abs_error(a, a.copy()) == 0


def test_max_abs_error_no_unsigned_wraparound():
    a = np.array([[0, 255]], dtype=np.uint8)
    b = np.array([[255, 0]], dtype=np.uint8)
    assert bench.max_abs_error(a, b) == 255  # uint8 subtraction would give 1


def test_max_abs_error_hand_value_and_16bit():
    a = np.array([[10, 20, 30]], dtype=np.uint8)
    b = np.array([[12, 17, 30]], dtype=np.uint8)
    assert bench.max_abs_error(a, b) == 3
    c = np.array([[0, 1023]], dtype=np.uint16)
    d = np.array([[1000, 1023]], dtype=np.uint16)
    assert bench.max_abs_error(c, d) == 1000


def test_max_abs_error_shape_mismatch():
    with pytest.raises(ValueError):
        bench.max_abs_error(np.zeros((2, 2)), np.zeros((2, 3)))


# --- psnr ----------------------------------------------------------------------


def test_psnr_identical_is_inf():
    a = np.full((4, 4), 7, dtype=np.uint8)
    assert math.isinf(bench.psnr(a, a.copy()))


def test_psnr_one_sample_off_by_one_8bit():
    a = np.zeros((2, 2), dtype=np.uint8)
    b = a.copy()
    b[0, 0] = 1
    # MSE = 1/4, PSNR = 10*log10(255^2 / 0.25) = 10*log10(260100) = 54.1514 dB
    assert bench.psnr(a, b, bitdepth=8) == pytest.approx(54.15140352, abs=1e-6)


def test_psnr_mixed_errors_8bit():
    a = np.array([[100, 100], [100, 100]], dtype=np.uint8)
    b = np.array([[101, 98], [103, 96]], dtype=np.uint8)
    # errors 1, 2, 3, 4: MSE = 30/4 = 7.5, PSNR = 10*log10(65025/7.5) = 10*log10(8670) = 39.3802 dB
    assert bench.psnr(a, b) == pytest.approx(39.38019097, abs=1e-6)


def test_psnr_10bit_peak_is_1023():
    a = np.full((3, 5), 500, dtype=np.uint16)
    b = a + 2
    # MSE = 4, PSNR = 10*log10(1023^2 / 4) = 20*log10(511.5) = 54.1769 dB
    assert bench.psnr(a, b, bitdepth=10) == pytest.approx(54.17691276, abs=1e-6)


def test_psnr_full_scale_error_is_zero_db():
    a = np.zeros((2, 2), dtype=np.uint8)
    b = np.full((2, 2), 255, dtype=np.uint8)  # MSE = 255^2, no uint8 wrap-around
    assert bench.psnr(a, b) == pytest.approx(0.0, abs=1e-12)


def test_psnr_from_sse_matches_psnr():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    sse = bench.sum_squared_error(a, b)
    assert bench.psnr_from_sse(sse, a.size, 8) == pytest.approx(bench.psnr(a, b, 8))


# --- plane copies and a tiny end-to-end run ---------------------------------------


def _source(w=35, h=19, n=3, pix_fmt="yuv420p"):
    rng = np.random.default_rng(0)
    cw, ch = (w + 1) // 2, (h + 1) // 2
    frames = [
        [rng.integers(0, 256, (h, w), dtype=np.uint8),
         rng.integers(0, 256, (ch, cw), dtype=np.uint8),
         rng.integers(0, 256, (ch, cw), dtype=np.uint8)]
        for _ in range(n)
    ]
    return bench.Source(Path("synthetic.mkv"), "synthetic", pix_fmt, w, h, 8, Fraction(25), frames)


def test_plane_copy_round_trip_honours_line_size():
    src = _source()
    frame = bench.planes_to_frame(src.frames[0], src.pix_fmt, src.width, src.height)
    assert frame.planes[0].line_size > src.width  # padded rows
    back = bench.frame_to_planes(frame)
    assert [p.shape for p in back] == [(19, 35), (10, 18), (10, 18)]
    assert all(np.array_equal(a, b) for a, b in zip(src.frames[0], back))


def test_check_counts_frames_and_bound():
    src = _source(n=2)
    check = bench.Check(src)
    check.add(src.frames[0])
    bad = [p.copy() for p in src.frames[1]]
    bad[2][1, 1] ^= 4  # error of exactly 4 in one chroma sample
    check.add(bad)
    check.finish()
    assert check.max_error == 4
    assert check.frame_max_errors == [0, 4]
    assert not check.ok(0) and not check.ok(3) and check.ok(4)

    short = bench.Check(src)
    short.add(src.frames[0])
    short.finish()
    assert short.problem and not short.ok(255)


@pytest.mark.parametrize("near", [0, 2])
def test_jpegls_row_on_synthetic_frames(near):
    pytest.importorskip("imagecodecs")
    src = _source()
    row = bench.run_jpegls(src, near)
    assert row.ok and row.measured_max_error <= near
    assert row.bytes > 0 and row.samples == 3 * (35 * 19 + 2 * 18 * 10)


def test_ffv1_row_on_synthetic_frames(tmp_path):
    src = _source(w=65, h=49)  # FFV1 refuses 4 slices on some tiny odd sizes such as 35x19
    row = bench.run_reference(bench.REFERENCE_CODECS["ffv1"], src, tmp_path)
    assert row.ok and row.measured_max_error == 0
    assert row.bytes == (tmp_path / "synthetic.ffv1.mkv").stat().st_size
