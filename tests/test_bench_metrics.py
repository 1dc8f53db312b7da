# SPDX-License-Identifier: MIT
"""tools/benchkit: metrics against hand-computed values and reference implementations, the
equal-PSNR interpolation, sources, the cache, totals and tables, the command line, and tiny
end-to-end measurements (in process and through one child process; no framecodec)."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

from benchkit import (  # noqa: E402
    cache,
    cli,
    codecs,
    metrics,
    probes,
    report,
    rows,
    runner,
    sources,
    tables,
)
from benchkit.codecs import image  # noqa: E402

# --- bits_per_sample ---------------------------------------------------------


def test_bits_per_sample_hand_values():
    assert metrics.bits_per_sample(1000, 8000) == 1.0
    assert metrics.bits_per_sample(3, 16) == 1.5
    # one 4x4 yuv420p frame has 16 + 4 + 4 = 24 samples; 6 bytes = 48 bits -> 2 bits/sample
    assert metrics.bits_per_sample(6, 24) == 2.0


def test_bits_per_sample_rejects_empty():
    with pytest.raises(ValueError):
        metrics.bits_per_sample(10, 0)


# --- max_abs_error -------------------------------------------------------------


def test_max_abs_error_identical_is_zero():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert metrics.max_abs_error(a, a.copy()) == 0


def test_max_abs_error_no_unsigned_wraparound():
    a = np.array([[0, 255]], dtype=np.uint8)
    b = np.array([[255, 0]], dtype=np.uint8)
    assert metrics.max_abs_error(a, b) == 255  # uint8 subtraction would give 1


def test_max_abs_error_hand_value_and_16bit():
    a = np.array([[10, 20, 30]], dtype=np.uint8)
    b = np.array([[12, 17, 30]], dtype=np.uint8)
    assert metrics.max_abs_error(a, b) == 3
    c = np.array([[0, 1023]], dtype=np.uint16)
    d = np.array([[1000, 1023]], dtype=np.uint16)
    assert metrics.max_abs_error(c, d) == 1000


def test_max_abs_error_shape_mismatch():
    with pytest.raises(ValueError):
        metrics.max_abs_error(np.zeros((2, 2)), np.zeros((2, 3)))


# --- psnr ----------------------------------------------------------------------


def test_psnr_identical_is_inf():
    a = np.full((4, 4), 7, dtype=np.uint8)
    assert math.isinf(metrics.psnr(a, a.copy()))


def test_psnr_one_sample_off_by_one_8bit():
    a = np.zeros((2, 2), dtype=np.uint8)
    b = a.copy()
    b[0, 0] = 1
    # MSE = 1/4, PSNR = 10*log10(255^2 / 0.25) = 10*log10(260100) = 54.1514 dB
    assert metrics.psnr(a, b, bitdepth=8) == pytest.approx(54.15140352, abs=1e-6)


def test_psnr_mixed_errors_8bit():
    a = np.array([[100, 100], [100, 100]], dtype=np.uint8)
    b = np.array([[101, 98], [103, 96]], dtype=np.uint8)
    # errors 1, 2, 3, 4: MSE = 30/4 = 7.5, PSNR = 10*log10(65025/7.5) = 10*log10(8670) = 39.3802 dB
    assert metrics.psnr(a, b) == pytest.approx(39.38019097, abs=1e-6)


def test_psnr_10bit_peak_is_1023():
    a = np.full((3, 5), 500, dtype=np.uint16)
    b = a + 2
    # MSE = 4, PSNR = 10*log10(1023^2 / 4) = 20*log10(511.5) = 54.1769 dB
    assert metrics.psnr(a, b, bitdepth=10) == pytest.approx(54.17691276, abs=1e-6)


def test_psnr_full_scale_error_is_zero_db():
    a = np.zeros((2, 2), dtype=np.uint8)
    b = np.full((2, 2), 255, dtype=np.uint8)  # MSE = 255^2, no uint8 wrap-around
    assert metrics.psnr(a, b) == pytest.approx(0.0, abs=1e-12)


def test_psnr_from_sse_matches_psnr():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    sse = metrics.sum_squared_error(a, b)
    assert metrics.psnr_from_sse(sse, a.size, 8) == pytest.approx(metrics.psnr(a, b, 8))


# --- PSNR-YUV ------------------------------------------------------------------------


def test_plane_weights():
    assert metrics.plane_weights([(144, 176), (72, 88), (72, 88)], "yuv") == [6, 1, 1]
    # odd sizes: chroma is not exactly a quarter of luma
    assert metrics.plane_weights([(143, 175), (72, 88), (72, 88)], "yuv") != [6, 1, 1]
    assert metrics.plane_weights([(268, 274)] * 3, "yuv") == [1, 1, 1]  # 4:4:4
    assert metrics.plane_weights([(10, 10)] * 3, "rgb") == [1, 1, 1]
    assert metrics.plane_weights([(10, 10)], "gray") == [1]
    assert metrics.plane_weights([(4, 8), (4, 4), (4, 4)], "yuv") == [1, 0.5, 0.5]  # 4:2:2
    assert metrics.plane_weights([(8, 8), (4, 4), (4, 4), (8, 8)], "yuv") == [6, 1, 1, 0]  # alpha


def test_psnr_yuv_weights_mse_6_1_1():
    # MSE Y = 1, U = 4, V = 0 over 4, 1 and 1 samples; weighted MSE = (6*1 + 1*4 + 0) / 8 = 1.25
    # PSNR = 10*log10(65025 / 1.25) = 10*log10(52020) = 47.16170 dB
    assert metrics.psnr_yuv([4, 4, 0], [4, 1, 1], [6, 1, 1]) == pytest.approx(47.16170348, abs=1e-6)


def test_psnr_yuv_444_equal_weights_and_agreement_with_db_formula():
    # 1:1:1, MSE 2, 2, 2: both definitions give 10*log10(65025/2)
    expect = 10 * math.log10(65025 / 2)
    assert metrics.psnr_yuv([8, 8, 8], [4, 4, 4], [1, 1, 1]) == pytest.approx(expect)
    psnrs = [metrics.psnr_from_sse(8, 4)] * 3
    assert metrics.psnr_yuv_db_weighted(psnrs, [1, 1, 1]) == pytest.approx(expect)
    # unequal MSE: the MSE-weighted value is never above the dB-weighted one
    sse, n, w = [10, 40, 3], [4, 1, 1], [6, 1, 1]
    db = metrics.psnr_yuv_db_weighted([metrics.psnr_from_sse(s, k) for s, k in zip(sse, n)], w)
    assert metrics.psnr_yuv(sse, n, w) <= db


def test_psnr_yuv_db_weighted_hand_value_and_infinities():
    assert metrics.psnr_yuv_db_weighted([40, 45, 50], [6, 1, 1]) == pytest.approx(41.875)
    assert metrics.psnr_yuv_db_weighted([math.inf] * 3, [6, 1, 1]) == math.inf
    assert metrics.psnr_yuv_db_weighted([40, math.inf, 50], [6, 1, 1]) is None
    # the MSE-weighted PSNR stays finite when only a chroma plane is exact
    assert math.isfinite(metrics.psnr_yuv([4, 0, 0], [4, 1, 1], [6, 1, 1]))
    assert metrics.psnr_yuv([0, 0, 0], [4, 1, 1], [6, 1, 1]) == math.inf


def test_psnr_yuv_ignores_zero_weight_alpha():
    assert metrics.psnr_yuv([4, 0, 0, 99], [4, 4, 4, 4], [1, 1, 1, 0]) == pytest.approx(
        10 * math.log10(65025 / (1 / 3)))


# --- SSIM ------------------------------------------------------------------------------


def _ssim_reference(a, b, bitdepth=8):
    """Straightforward SSIM: every 11x11 window position, 2-D Gaussian weights, no tricks."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    x = np.arange(11) - 5.0
    g1 = np.exp(-x * x / (2 * 1.5 ** 2))
    w = np.outer(g1, g1)
    w /= w.sum()
    peak = 2 ** bitdepth - 1
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va = (w * (pa - ma) ** 2).sum()
            vb = (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            values.append((2 * ma * mb + c1) * (2 * cov + c2)
                          / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_identical_is_one():
    a = np.random.default_rng(3).integers(0, 256, (20, 30), dtype=np.uint8)
    assert metrics.ssim(a, a.copy()) == 1.0


def test_ssim_flat_planes_hand_value():
    # Flat planes: no variance, SSIM = (2*100*110 + C1) / (100^2 + 110^2 + C1), C1 = 2.55^2
    a = np.full((16, 16), 100, dtype=np.uint8)
    b = np.full((16, 16), 110, dtype=np.uint8)
    c1 = 2.55 ** 2
    assert metrics.ssim(a, b) == pytest.approx((22000 + c1) / (22100 + c1), abs=1e-12)
    assert metrics.ssim(a, b) == pytest.approx(0.99547644, abs=1e-8)


def test_ssim_matches_reference_implementation():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (17, 23), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, b) == pytest.approx(_ssim_reference(a, b), abs=1e-10)
    c = np.clip(a.astype(int) // 2 + 60, 0, 255).astype(np.uint8)  # contrast and level change
    assert metrics.ssim(a, c) == pytest.approx(_ssim_reference(a, c), abs=1e-10)
    assert metrics.ssim(a, b) == pytest.approx(metrics.ssim(b, a), abs=1e-12)  # symmetric
    assert metrics.ssim(a, 255 - a) < 0  # anti-correlated


def test_ssim_10bit_uses_its_peak():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 1024, (12, 12), dtype=np.uint16)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 1023).astype(np.uint16)
    assert metrics.ssim(a, b, 10) == pytest.approx(_ssim_reference(a, b, 10), abs=1e-10)


def test_ssim_plane_smaller_than_window_uses_global_statistics():
    a = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    b = a + 2
    x, y = a.astype(float), b.astype(float)
    c1, c2 = 2.55 ** 2, 7.65 ** 2
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    expect = ((2 * x.mean() * y.mean() + c1) * (2 * cov + c2)
              / ((x.mean() ** 2 + y.mean() ** 2 + c1) * (x.var() + y.var() + c2)))
    assert metrics.ssim(a, b) == pytest.approx(expect, abs=1e-12)


# --- size at equal PSNR ----------------------------------------------------------------

LADDER = [(40.0, 1000), (45.0, 2000), (50.0, 8000)]


def test_size_at_psnr_inside_range_interpolates_log_size():
    # halfway between 40 dB / 1000 and 45 dB / 2000 in log size: sqrt(1000 * 2000)
    assert metrics.size_at_psnr(LADDER, 42.5) == pytest.approx(math.sqrt(2e6))
    assert metrics.size_at_psnr(LADDER, 47.5) == pytest.approx(4000)
    assert metrics.size_at_psnr(LADDER, 46.0) == pytest.approx(2000 * 4 ** 0.2)


def test_size_at_psnr_endpoints_and_outside_range():
    assert metrics.size_at_psnr(LADDER, 40.0) == pytest.approx(1000)
    assert metrics.size_at_psnr(LADDER, 50.0) == pytest.approx(8000)
    assert metrics.size_at_psnr(LADDER, 39.99) is None
    assert metrics.size_at_psnr(LADDER, 50.01) is None
    assert metrics.size_at_psnr(LADDER, math.inf) is None  # a lossless target
    assert metrics.size_at_psnr([], 45.0) is None
    assert metrics.size_at_psnr([(45.0, 500)], 45.0) == 500
    assert metrics.size_at_psnr([(45.0, 500)], 45.1) is None


def test_size_at_psnr_order_and_non_finite_points_do_not_matter():
    shuffled = [LADDER[2], (math.inf, 99999), LADDER[0], LADDER[1], (float("nan"), 5)]
    for target in (40.0, 41.0, 44.9, 48.0, 50.0):
        assert metrics.size_at_psnr(shuffled, target) == pytest.approx(
            metrics.size_at_psnr(LADDER, target))


def test_rd_frontier_drops_dominated_points():
    # (47 dB, 9000 bytes) is beaten by (50 dB, 8000 bytes); (44, 2500) by (45, 2000);
    # two points at 45 dB: the smaller one is kept.
    ladder = LADDER + [(47.0, 9000), (44.0, 2500), (45.0, 2100)]
    assert metrics.rd_frontier(ladder) == LADDER
    assert metrics.size_at_psnr(ladder, 47.0) == pytest.approx(2000 * 4 ** 0.4)


def test_size_at_psnr_is_monotonic_in_the_target():
    ladder = [(35.2, 3846), (38.0, 5364), (40.6, 7680), (43.5, 11301), (46.1, 16392),
              (49.0, 25111), (48.5, 26000), (53.0, 37300), (55.8, 47397)]
    targets = np.linspace(35.2, 55.8, 200)
    sizes = [metrics.size_at_psnr(ladder, float(t)) for t in targets]
    assert all(s is not None for s in sizes)
    assert all(b >= a for a, b in zip(sizes, sizes[1:]))


def _row(clip, codec, bytes_, psnr_db, bound=None):
    r = rows.Row(clip, codec, bound, 1, 100, bytes=bytes_, psnr_yuv_db=psnr_db, exact=False,
                 ok=True, setting=f"{codec}-{bytes_}")
    return r


def test_equal_psnr_against_a_ladder():
    measured = [_row("c", "x264crf", b, p) for p, b in LADDER]
    inside = _row("c", "framecodec", 3000, 42.5, bound=1)
    above = _row("c", "framecodec", 3000, 51.0, bound=1)
    other_clip = _row("d", "framecodec", 3000, 42.5, bound=1)
    measured += [inside, above, other_clip]
    e = rows.equal_psnr(measured, inside, "x264crf")
    assert e["ladder_bytes"] == pytest.approx(math.sqrt(2e6))
    assert e["ratio"] == pytest.approx(3000 / math.sqrt(2e6))
    e = rows.equal_psnr(measured, above, "x264crf")
    assert e["ratio"] is None and "outside" in e["reason"]
    assert rows.equal_psnr(measured, other_clip, "x264crf")["reason"] == "no ladder points"
    summary = rows.equal_psnr_summary(measured, ["c", "d"])
    (entry,) = summary
    assert entry["clips"] == 3 and entry["ladders"]["x264crf"]["clips"] == 1  # 1 inside
    assert entry["ladders"]["x264crf"]["geomean_ratio"] == pytest.approx(3000 / math.sqrt(2e6))


def test_geometric_mean():
    assert metrics.geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert metrics.geometric_mean([]) is None


# --- sources, checks, caching ------------------------------------------------------------


def _source(w=35, h=19, n=3, pix_fmt="yuv420p"):
    rng = np.random.default_rng(0)
    cw, ch = ((w + 1) // 2, (h + 1) // 2) if pix_fmt == "yuv420p" else (w, h)
    frames = [
        [rng.integers(0, 256, (h, w), dtype=np.uint8),
         rng.integers(0, 256, (ch, cw), dtype=np.uint8),
         rng.integers(0, 256, (ch, cw), dtype=np.uint8)]
        for _ in range(n)
    ]
    return sources.Source(Path("synthetic.mkv"), "synthetic", pix_fmt, w, h, 8, Fraction(25),
                          frames)


def _smooth_source(w=64, h=48, n=3, pix_fmt="yuv420p"):
    """Compressible frames: gradients plus a little noise."""
    rng = np.random.default_rng(1)
    cw, ch = ((w + 1) // 2, (h + 1) // 2) if pix_fmt == "yuv420p" else (w, h)

    def plane(hh, ww, k):
        yy, xx = np.mgrid[0:hh, 0:ww]
        return np.clip(40 + 2 * xx + yy + 10 * k + rng.integers(0, 6, (hh, ww)), 0, 255).astype(
            np.uint8)

    frames = [[plane(h, w, k), plane(ch, cw, k), plane(ch, cw, k)] for k in range(n)]
    return sources.Source(Path("smooth.mkv"), "smooth", pix_fmt, w, h, 8, Fraction(25), frames)


def test_plane_copy_round_trip_honours_line_size():
    src = _source()
    frame = sources.planes_to_frame(src.frames[0], src.pix_fmt, src.width, src.height)
    assert frame.planes[0].line_size > src.width  # padded rows
    back = sources.frame_to_planes(frame)
    assert [p.shape for p in back] == [(19, 35), (10, 18), (10, 18)]
    assert all(np.array_equal(a, b) for a, b in zip(src.frames[0], back))


def test_raw_file_round_trip(tmp_path):
    src = _source()
    src.write_raw(tmp_path / "s.raw")
    back = sources.read_raw_frames(tmp_path / "s.raw", src.layout())
    assert len(back) == 3
    assert all(np.array_equal(a, b) for f, g in zip(src.frames, back) for a, b in zip(f, g))


@pytest.mark.parametrize("family,nplanes", [("rgb", 3), ("rgb", 4), ("yuv", 3)])
def test_pack_unpack_round_trip(family, nplanes):
    rng = np.random.default_rng(2)
    planes = [rng.integers(0, 256, (5, 7), dtype=np.uint8) for _ in range(nplanes)]
    layout = {"family": family, "plane_shapes": [[5, 7]] * nplanes}
    assert image.packable(layout)
    packed = image.pack_planes(planes, layout)
    assert packed.shape == (5, 7, nplanes)
    if family == "rgb":  # G, B, R planes -> R, G, B channels
        assert np.array_equal(packed[..., 0], planes[2])
        assert np.array_equal(packed[..., 1], planes[0])
    back = image.unpack_planes(packed, layout)
    assert all(np.array_equal(a, b) for a, b in zip(planes, back))
    assert not image.packable({"family": "yuv", "plane_shapes": [[4, 4], [2, 2], [2, 2]]})


def test_check_counts_frames_and_bound():
    src = _source(n=2)
    check = sources.Check(src)
    check.add(src.frames[0])
    bad = [p.copy() for p in src.frames[1]]
    bad[2][1, 1] ^= 4  # error of exactly 4 in one chroma sample
    check.add(bad)
    check.finish()
    assert check.max_error == 4
    assert check.frame_max_errors == [0, 4]
    assert not check.ok(0) and not check.ok(3) and check.ok(4)
    assert check.ok(None)  # no bound promised: complete and well-formed is enough

    short = sources.Check(src)
    short.add(src.frames[0])
    short.finish()
    assert short.problem and not short.ok(255) and not short.ok(None)


def test_evaluate_reads_what_a_sink_wrote(tmp_path):
    src = _source(n=2)
    sink = sources.RawSink(tmp_path / "d.raw")
    sink(src.frames[0])
    off = [p.astype(np.int16) for p in src.frames[1]]
    off[0] = np.clip(off[0] + 1, 0, 255)
    sink([p.astype(np.uint8) for p in off])
    sink.close()
    m = sources.evaluate(src, tmp_path / "d.raw", sink.manifest, [], 1, want_ssim=True)
    assert m["ok"] and m["measured_max_error"] == 1 and not m["exact"]
    assert m["psnr_db"][1] is None and m["psnr_db"][0] is not None  # chroma exact
    assert 0 < m["ssim_yuv"] < 1 and m["ssim"][1] == 1.0
    sse0 = int(np.sum((off[0] - src.frames[1][0].astype(np.int16)) ** 2))
    assert m["sse"] == [sse0, 0, 0]
    assert src.weights == [1, 180 / 665, 180 / 665]  # 35x19: chroma is not exactly a quarter
    assert m["psnr_yuv_db"] == pytest.approx(metrics.psnr_yuv(m["sse"], m["plane_samples"],
                                                              src.weights), abs=1e-4)


def test_cache_round_trip(tmp_path):
    store = cache.Cache(tmp_path / "c")
    material = {"codec": "x", "clip_sha256": "ab", "frames": 3}
    assert store.get(material, need_memory=False) is None
    store.put(material, {"bytes": 5, "encode_mem": None, "decode_mem": None})
    assert (tmp_path / "c" / ".gitignore").exists()
    assert store.get(material, need_memory=False)["bytes"] == 5
    assert store.get(material, need_memory=True) is None  # in-process entry has no memory
    assert store.get({**material, "frames": 4}, need_memory=False) is None
    assert cache.Cache(tmp_path / "c", read=False).get(material, need_memory=False) is None


def test_short_calls_are_timed_again_and_the_fastest_counts(tmp_path, monkeypatch):
    times = iter([0.3, 0.2])  # the repeats' seconds, after a first run of 0.5
    seen = []

    def fake_run_job(job, kind, isolated, workdir):
        seen.append(job)
        Path(job["coded"]).write_bytes(b"x")  # a repeat's own file, removed after
        return {"bytes": 10, "encode_seconds": next(times), "encode_cpu_seconds": 0.1}

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    job = {"coded": str(tmp_path / "a.fcv"), "decoded": str(tmp_path / "a.raw")}
    Path(job["coded"]).write_bytes(b"first")
    ctx = runner.Context(tmp_path, cache.Cache(None), isolated=False)
    first = {"bytes": 10, "encode_seconds": 0.5, "encode_cpu_seconds": 0.4, "encode_mem": 7}
    runner.retime(first, "encode", job, ctx)
    assert (first["encode_seconds"], first["encode_cpu_seconds"]) == (0.2, 0.1)
    assert first["encode_runs"] == runner.RETIME_RUNS == 3 and first["encode_mem"] == 7
    assert all(j["coded"] != job["coded"] for j in seen)  # the first run's file is kept
    assert Path(job["coded"]).read_bytes() == b"first"
    assert not any(".retime" in p.name for p in tmp_path.iterdir())


def test_timing_runs_sets_the_repeats_and_keys_the_cache(tmp_path, monkeypatch):
    times = iter([0.4, 0.3, 0.1, 0.2])  # four repeats after a first run of 0.5
    monkeypatch.setattr(runner, "run_job", lambda job, kind, isolated, workdir: {
        "bytes": 10, "decode_seconds": next(times), "decode_cpu_seconds": 0.1})
    job = {"coded": str(tmp_path / "a.fcv"), "decoded": str(tmp_path / "a.raw")}
    ctx = runner.Context(tmp_path, cache.Cache(None), isolated=False, timing_runs=5)
    first = {"bytes": 10, "decode_seconds": 0.5, "decode_cpu_seconds": 0.4}
    runner.retime(first, "decode", job, ctx)
    assert first["decode_seconds"] == 0.1 and first["decode_runs"] == 5
    assert next(times, None) is None  # every repeat was run, none more

    keys = []  # the cache material: the default's is unchanged, another count keys its own

    class Store:
        misses = 0

        def get(self, material, need_memory):
            keys.append(material)
            return {"bytes": 1}

    src = SimpleNamespace(kind="video", frame_count=2)
    for runs in (3, 5):
        ctx = runner.Context(tmp_path, Store(), isolated=False, timing_runs=runs)
        runner.measure(codecs.CODECS["ffv1"], codecs.Point(None, 0, "lossless"), src,
                       tmp_path / "r", "1", ctx, "ab")
    assert "timing_runs" not in keys[0] and keys[1]["timing_runs"] == 5
    assert {k: v for k, v in keys[1].items() if k != "timing_runs"} == keys[0]


def test_a_repeat_of_another_size_is_not_used_and_long_calls_run_once(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "run_job", lambda job, kind, isolated, workdir: {
        "bytes": 11, "encode_seconds": 0.1, "encode_cpu_seconds": 0.1})
    job = {"coded": str(tmp_path / "a.fcv"), "decoded": str(tmp_path / "a.raw")}
    ctx = runner.Context(tmp_path, cache.Cache(None), isolated=False)
    short = {"bytes": 10, "encode_seconds": 0.5, "encode_cpu_seconds": 0.5}
    runner.retime(short, "encode", job, ctx)
    assert short["encode_seconds"] == 0.5 and "not used" in short["note"]
    long = {"bytes": 10, "encode_seconds": 2.5, "encode_cpu_seconds": 2.5}
    runner.retime(long, "encode", job, ctx)
    assert long["encode_seconds"] == 2.5 and long["encode_runs"] == 1


def test_mem_probe_measures_an_allocation():
    if not sys.platform.startswith("linux"):
        pytest.skip("VmHWM is Linux only")
    probe = probes.MemProbe(True)
    probe.start()
    block = np.ones(40 << 20, dtype=np.uint8)  # 40 MiB, touched
    probe.stop()
    del block
    m = probe.result()
    assert m["peak_reset"] and m["delta_mb"] >= 39


# --- tiny end-to-end measurements (in process, no cache) --------------------------------


@pytest.mark.parametrize("near", [0, 2])
def test_jpegls_row_on_synthetic_frames(near):
    pytest.importorskip("imagecodecs")
    src = _source()
    row = runner.run_jpegls(src, near)
    assert row.ok and row.measured_max_error <= near
    assert row.bytes > 0 and row.samples == 3 * (35 * 19 + 2 * 18 * 10)
    assert row.exact == (near == 0)


def test_ffv1_row_on_synthetic_frames(tmp_path):
    src = _source(w=65, h=49)  # FFV1 refuses 4 slices on some tiny odd sizes such as 35x19
    row = runner.measure_in_process("ffv1", src, None, tmp_path)
    assert row.ok and row.exact and row.measured_max_error == 0
    assert row.bytes == (tmp_path / "synthetic.ffv1.lossless.t1.mkv").stat().st_size


@pytest.mark.parametrize("key", ["ffv1", "x264", "x265"])
def test_packed_rgb_clip_is_read_as_planes_and_coded_exactly(key, tmp_path):
    """A natively RGB clip (bgr0): the bench reads gbrp planes, the samples framecodec
    reads; FFV1 and x264 code them as bgr0 (libx264rgb) and come back bit-exact."""
    from framecodec.io import source as media

    clip = Path(__file__).resolve().parent.parent / "samples" / "rgb_cvjoint_320x240.mkv"
    src = sources.load_source(clip, 2)
    assert src.pix_fmt == "gbrp" and len(src.frames[0]) == 3
    with media.open_source(clip) as framecodec_source:
        ours = [f.planes for f in framecodec_source.frames(0, 2)]
    assert all((a == b).all() for fa, fb in zip(src.frames, ours) for a, b in zip(fa, fb))
    row = runner.measure_in_process(key, src, None, tmp_path)
    assert row.ok and row.exact and row.measured_max_error == 0, row.note


def test_jxl_row_on_444_and_420(tmp_path):
    pytest.importorskip("imagecodecs")
    for pix_fmt in ("yuv420p", "yuv444p"):
        row = runner.measure_in_process("jxl", _smooth_source(pix_fmt=pix_fmt), None, tmp_path)
        assert row.ok and row.exact, row.note


def test_x264crf_row_is_lossy_with_metrics(tmp_path):
    src = _smooth_source()
    row = runner.measure_in_process("x264crf", src, codecs.Point(20, None, "crf=20"), tmp_path)
    assert row.ok and row.max_error is None and not row.exact
    assert 25 < row.psnr_yuv_db < 70 and 0 < row.ssim_yuv < 1
    assert len(row.psnr_db) == 3 and len(row.ssim) == 3


def test_isolated_measurement_reports_memory(tmp_path):
    """One real child process: the --child protocol and the memory probe."""
    pytest.importorskip("imagecodecs")
    src = _smooth_source()
    raw = tmp_path / "s.raw"
    src.write_raw(raw)
    ctx = runner.Context(tmp_path, cache.Cache(tmp_path / "cache"), isolated=True, cpu=1)
    codec = codecs.CODECS["jpegls"]
    point = codecs.Point(1, 1, "NEAR=1")
    m = runner.measure(codec, point, src, raw, "1", ctx, "fake-hash")
    assert m["ok"] and m["measured_max_error"] == 1 and not m["cached"]
    assert m["encode_mem"]["delta_mb"] >= 0 and m["decode_mem"]["peak_mb"] > 0
    again = runner.measure(codec, point, src, raw, "1", ctx, "fake-hash")
    assert again["cached"] and again["bytes"] == m["bytes"]


def test_tables_render_with_ladders_and_bounded_rows():
    measured = [_row("c", "x264crf", b, p) for p, b in LADDER]
    for r, crf in zip(measured, (28, 20, 12)):
        r.param, r.setting, r.kind = crf, f"crf={crf}", "ladder"
        r.encode_seconds = r.decode_seconds = 1.0
    fc = _row("c", "framecodec", 3000, 42.5, bound=1)
    fc.encode_seconds = fc.decode_seconds = 2.0
    fc.measured_max_error = 1
    lossless = rows.Row("c", "ffv1", 0, 1, 100, bytes=9000, exact=True, ok=True,
                        measured_max_error=0, encode_seconds=1.0, decode_seconds=1.0,
                        setting="lossless")
    measured += [fc, lossless]
    tots = rows.totals(measured, ["c"])
    text = tables.totals_table(tots, measured)
    assert "TOTAL" in text and "x264crf" not in text  # ladders have no bound: not in TOTAL
    rd = tables.rd_table(measured)
    assert "÷x264crf@=PSNR" in rd and "2.121" in rd  # 3000 / sqrt(1000 * 2000)
    speed = tables.speed_table(rows.speed_summary(measured))
    assert "framecodec" in speed and "enc fps" in speed and "train s" not in speed


def test_ladders_extend_from_their_low_fidelity_end():
    x264crf, jpeg = codecs.CODECS["x264crf"], codecs.CODECS["jpeg"]
    assert x264crf.next_point([1, 4, 28, 12]) == codecs.Point(32, None, "crf=32")
    assert x264crf.next_point([49]) == codecs.Point(51, None, "crf=51")
    assert x264crf.next_point([51]) is None
    assert jpeg.next_point([70, 80, 100]) == codecs.Point(60, None, "q=60")
    assert jpeg.next_point([10, 100]) is None
    assert codecs.CODECS["ffv1"].next_point([None]) is None


# --- more hand-computed metrics ----------------------------------------------------------


def test_sum_squared_error_hand_values():
    a = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    b = np.array([[2, 4], [6, 8]], dtype=np.uint8)
    assert metrics.sum_squared_error(a, b) == 1 + 4 + 9 + 16
    # 0 vs 255 twice: 2 * 255^2 = 130050 (uint8 arithmetic would give 2 * 1^2)
    c = np.array([0, 255], dtype=np.uint8)
    assert metrics.sum_squared_error(c, c[::-1]) == 130050
    d = np.array([0], dtype=np.uint16)
    assert metrics.sum_squared_error(d, d + 1023) == 1023 ** 2  # 1046529, 10-bit full scale


def test_psnr_from_sse_hand_values():
    assert metrics.psnr_from_sse(0, 10) == math.inf
    # MSE 1 at 8 bits: 10*log10(255^2) = 48.13080 dB; at 10 bits: 20*log10(1023) = 60.19751 dB
    assert metrics.psnr_from_sse(16, 16, 8) == pytest.approx(48.13080361, abs=1e-6)
    assert metrics.psnr_from_sse(5, 5, 10) == pytest.approx(60.19751267, abs=1e-6)
    with pytest.raises(ValueError):
        metrics.psnr_from_sse(1, 0)


def test_psnr_yuv_10bit_hand_value_and_bad_input():
    # MSE Y = 8/4 = 2, U = 8/1 = 8, V = 0; 6:1:1 -> (12 + 8 + 0) / 8 = 2.5
    # PSNR = 10*log10(1023^2 / 2.5) = 56.21811 dB
    assert metrics.psnr_yuv([8, 8, 0], [4, 1, 1], [6, 1, 1], bitdepth=10) == pytest.approx(
        56.21811259, abs=1e-6)
    with pytest.raises(ValueError):
        metrics.psnr_yuv([1, 2], [4, 4, 4], [1, 1, 1])  # one sse missing
    with pytest.raises(ValueError):
        metrics.psnr_yuv([], [], [])
    with pytest.raises(ValueError):
        metrics.psnr_yuv([1, 1], [4, 4], [0, 0])
    with pytest.raises(ValueError):
        metrics.psnr_yuv_db_weighted([40.0, 41.0], [0, 0])


def test_plane_weights_of_nothing():
    assert metrics.plane_weights([]) == []


def test_ssim_anti_correlated_tiny_plane_hand_value():
    # 2x2, below the window: global statistics. Both means 1, both variances 1, covariance -1:
    # SSIM = (2 + C1)(-2 + C2) / ((2 + C1)(2 + C2)) = (C2 - 2) / (C2 + 2), C2 = (0.03*255)^2
    a = np.array([[0, 2], [0, 2]], dtype=np.uint8)
    b = np.array([[2, 0], [2, 0]], dtype=np.uint8)
    c2 = 7.65 ** 2
    assert metrics.ssim(a, b) == pytest.approx((c2 - 2) / (c2 + 2), abs=1e-12)
    assert metrics.ssim(a, b) == pytest.approx(0.93390888, abs=1e-8)


def test_ssim_rejects_bad_planes():
    with pytest.raises(ValueError):
        metrics.ssim(np.zeros((12, 12)), np.zeros((12, 13)))
    with pytest.raises(ValueError):
        metrics.ssim(np.zeros((0, 4)), np.zeros((0, 4)))


def test_geometric_mean_hand_values_and_what_it_skips():
    assert metrics.geometric_mean([1.0, 10.0, 100.0]) == pytest.approx(10.0)
    assert metrics.geometric_mean([0.5, 2.0]) == pytest.approx(1.0)  # half and double cancel
    # None (no ratio on a clip) and non-positive values are left out: sqrt(4 * 9) = 6
    assert metrics.geometric_mean([None, 0.0, -3.0, 4.0, 9.0]) == pytest.approx(6.0)
    assert metrics.geometric_mean([0.0, None]) is None


def test_rd_frontier_edge_cases():
    assert metrics.rd_frontier([]) == []
    assert metrics.rd_frontier([(math.inf, 100), (float("nan"), 50)]) == []
    assert metrics.rd_frontier([(40, 0), (45, 100)]) == [(45.0, 100.0)]  # no size: dropped
    assert metrics.rd_frontier([(45, 100), (40, 100)]) == [(45.0, 100.0)]  # same size, less PSNR


def test_size_at_psnr_two_points_a_decade_apart():
    # 10 dB and a factor 100 between the points: every 5 dB is a factor 10 in size
    ladder = [(30.0, 100), (40.0, 10000)]
    assert metrics.size_at_psnr(ladder, 35.0) == pytest.approx(1000)
    assert metrics.size_at_psnr(ladder, 32.5) == pytest.approx(10 ** 2.5)


# --- sources -------------------------------------------------------------------------------


def test_plane_names_follow_the_pixel_format_family():
    assert sources.plane_names("gbrp", 3) == ["G", "B", "R"]
    assert sources.plane_names("gbrap10le", 4) == ["G", "B", "R", "A"]
    assert sources.plane_names("gray", 1) == ["Y"]
    assert sources.plane_names("ya8", 2) == ["Y", "A"]
    assert sources.plane_names("yuva420p", 4) == ["Y", "U", "V", "A"]
    assert sources.pix_fmt_family("yuv420p10le") == "yuv"


def test_source_describe_counts_every_sample():
    src = _source()  # 35x19 yuv420p: chroma 18x10, 3 frames
    d = src.describe()
    assert d["samples"] == 3 * (35 * 19 + 2 * 18 * 10) == src.samples
    assert d["plane_shapes"] == [[19, 35], [10, 18], [10, 18]]
    assert d["plane_names"] == ["Y", "U", "V"] and d["frames"] == 3
    assert src.layout()["dtype"] == "|u1"


def test_read_raw_frames_rejects_a_file_of_the_wrong_size(tmp_path):
    src = _source(n=2)
    src.write_raw(tmp_path / "s.raw")
    with open(tmp_path / "s.raw", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="expected"):
        sources.read_raw_frames(tmp_path / "s.raw", src.layout())


def test_load_image_gives_planar_gbr(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7
    (tmp_path / "tiny.png").write_bytes(imagecodecs.png_encode(rgb))
    src = sources.load_image(tmp_path / "tiny.png")
    assert (src.kind, src.pix_fmt, src.width, src.height, src.frame_count) == (
        "image", "gbrp", 3, 2, 1)
    g, b, r = src.frames[0]
    assert np.array_equal(g, rgb[..., 1]) and np.array_equal(b, rgb[..., 2])
    assert np.array_equal(r, rgb[..., 0])


def test_find_clips_by_suffix_and_name_filter(tmp_path):
    for name in ("b.MP4", "a.mkv", "notes.txt", "d_car.y4m", "e.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.mkv").mkdir()  # a directory, not a clip
    assert [p.name for p in sources.find_clips(tmp_path, "")] == ["a.mkv", "b.MP4", "d_car.y4m"]
    assert [p.name for p in sources.find_clips(tmp_path, " car, b")] == ["b.MP4", "d_car.y4m"]
    assert [p.name for p in sources.find_clips(tmp_path, "", sources.IMAGE_SUFFIXES)] == ["e.png"]


# --- timing, cache -------------------------------------------------------------------------


def test_timed_iter_times_only_the_production_of_items():
    timer = probes.Timer()
    items = []
    for item in probes.timed_iter(lambda: iter(range(3)), timer):
        time.sleep(0.1)  # the caller's work: not timed
        items.append(item)
    assert items == [0, 1, 2]
    assert timer.wall < 0.1
    with timer:
        time.sleep(0.05)
    assert timer.wall >= 0.04  # blocks accumulate


def test_file_sha256_is_the_content_hash_and_follows_changes(tmp_path):
    path = tmp_path / "clip.bin"
    path.write_bytes(b"abc")
    assert cache.file_sha256(path) == hashlib.sha256(b"abc").hexdigest()
    path.write_bytes(b"abcd")  # new size: not the memoised hash of the old content
    assert cache.file_sha256(path) == hashlib.sha256(b"abcd").hexdigest()


def test_cache_key_and_file_layout_are_stable(tmp_path):
    """Entries written by earlier runs must still be found: the key and the layout are fixed."""
    key = cache.Cache.key({"b": 2, "a": 1})
    assert key == cache.Cache.key({"a": 1, "b": 2})
    assert key == hashlib.sha256(b'{"a": 1, "b": 2}').hexdigest()
    store = cache.Cache(tmp_path)
    store.put({"a": 1, "b": 2}, {"bytes": 7})
    entry = json.loads((tmp_path / key[:2] / f"{key}.json").read_text())
    assert entry == {"material": {"a": 1, "b": 2}, "measurement": {"bytes": 7}}


# --- rows, totals, speed, tables -----------------------------------------------------------


def _lossless(clip, codec, nbytes, n=0, seconds=1.0):
    return rows.Row(clip, codec, n, 2, 100, bytes=nbytes, ok=True, exact=n == 0,
                    measured_max_error=n, encode_seconds=seconds, decode_seconds=seconds / 2,
                    setting="lossless" if n == 0 else f"NEAR={n}")


def test_totals_are_sums_and_ratios_of_sums():
    measured = [_lossless("c", "ffv1", 1000), _lossless("d", "ffv1", 3000),
                _lossless("c", "x264", 500), _lossless("d", "x264", 1000),
                _lossless("c", "jpegls", 800)]
    tots = {t.codec: t for t in rows.totals(measured, ["c", "d"])}
    x264 = tots["x264"]
    assert (x264.clips, x264.frames, x264.samples, x264.bytes) == (2, 4, 200, 1500)
    assert x264.ratio_ffv1 == pytest.approx(1500 / 4000)  # not the mean of 0.5 and 0.333
    assert x264.ratio_jpegls == pytest.approx(500 / 800)  # only the clip JPEG-LS has
    assert x264.bits_per_sample == pytest.approx(1500 * 8 / 200)
    assert x264.encode_fps == pytest.approx(4 / 2.0) and x264.decode_fps == pytest.approx(4.0)
    assert tots["jpegls"].note == "1/2 clips" and tots["ffv1"].note == ""


def test_speed_summary_is_frames_over_summed_seconds_and_largest_memory():
    a = _lossless("c", "ffv1", 1000, seconds=1.0)
    b = _lossless("d", "ffv1", 1000, seconds=3.0)
    a.encode_mem, b.encode_mem = {"delta_mb": 5.0}, {"delta_mb": 9.5}
    (entry,) = rows.speed_summary([a, b])
    assert entry["frames"] == 4 and entry["encode_fps"] == pytest.approx(4 / 4.0)
    assert entry["decode_fps"] == pytest.approx(4 / 2.0)
    assert entry["encode_mem_mb"] == 9.5 and entry["decode_mem_mb"] is None
    assert entry["threads_all"] is None


def test_markdown_table_pads_and_aligns():
    text = tables.markdown_table(["a", "bb"], [["1", "2"], ["333", "4"]], right={1})
    assert text.split("\n") == ["| a   | bb |", "| --- | -: |", "| 1   |  2 |", "| 333 |  4 |"]
    assert tables.fmt(None, 2) == "–" and tables.fmt(1.23456, 2) == "1.23"


def test_json_safe_turns_non_finite_floats_into_null():
    value = {"a": [1.5, math.inf, {"b": float("nan")}], "c": ("x", -math.inf), "d": 3}
    assert report.json_safe(value) == {"a": [1.5, None, {"b": None}], "c": ["x", None], "d": 3}


# --- runner, command line ------------------------------------------------------------------


def test_apply_measurement_joins_notes_and_flags_multicore_encodes():
    row = rows.Row("c", "x", 0, 2, 100)
    runner.apply_measurement(row, {"bytes": 9, "ok": True, "note": "a", "problem": "b",
                                   "failure": "", "encode_seconds": 1.0,
                                   "encode_cpu_seconds": 1.5, "cached": True})
    assert (row.bytes, row.ok, row.cached) == (9, True, True)
    assert row.note == "a; b; encode used more than one core"
    short = rows.Row("c", "x", 0, 2, 100)  # under half a second the CPU clock is too coarse
    runner.apply_measurement(short, {"encode_seconds": 0.4, "encode_cpu_seconds": 0.8})
    assert short.note == ""


def test_parse_int_list_and_codecs():
    assert cli.parse_int_list("4,1,1,0") == [0, 1, 4]
    for bad in ("", "-1", "1,x"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.parse_int_list(bad)
    assert cli.parse_codecs(" framecodec,FFV1 ") == ["ffv1", "framecodec"]  # canonical order
    with pytest.raises(argparse.ArgumentTypeError):
        cli.parse_codecs("ffv1,h266")


def test_bench_help_lists_every_codec():
    """tools/bench.py finds its package and prints the codec list (the package docstring)."""
    out = subprocess.run([sys.executable, str(TOOLS / "bench.py"), "--help"], check=True,
                         capture_output=True, text=True, cwd=TOOLS.parent).stdout
    lines = out.splitlines()
    for key in codecs.ALL_CODECS:  # "  ffv1        FFV1 -level 3 ..."
        assert any(line.startswith(f"  {key:<12}") for line in lines), key
    assert "--max-error" in out and "Cache (--cache-dir" in out
