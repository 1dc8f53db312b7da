# SPDX-License-Identifier: MIT
"""tools/benchkit: metrics against hand-computed values and reference implementations, the
equal-PSNR interpolation, the cache, and tiny end-to-end measurements (no framecodec)."""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

from benchkit import cache, codecs, metrics, probes, rows, runner, sources, tables  # noqa: E402
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
