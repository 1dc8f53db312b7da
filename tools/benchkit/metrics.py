# SPDX-License-Identifier: MIT
"""Size and fidelity figures of a coded point, and a point's size against a ladder's.

Free of I/O and codecs, so that every figure the report prints can be checked against a hand
computation (tests/test_bench_metrics.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence

import numpy as np


def bits_per_sample(nbytes: int, samples: int) -> float:
    """Compressed bits per coded sample (all planes counted, e.g. 1.5*w*h per 4:2:0 frame)."""
    if samples <= 0:
        raise ValueError("samples must be positive")
    return nbytes * 8 / samples


def max_abs_error(ref: np.ndarray, test: np.ndarray) -> int:
    """Largest |ref - test| over all samples, computed without unsigned wrap-around."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {test.shape}")
    if ref.size == 0:
        return 0
    return int(np.max(np.abs(ref.astype(np.int64) - test.astype(np.int64))))


def sum_squared_error(ref: np.ndarray, test: np.ndarray) -> int:
    diff = np.asarray(ref).astype(np.int64) - np.asarray(test).astype(np.int64)
    return int(np.sum(diff * diff))


def psnr_from_sse(sse: float, samples: int, bitdepth: int = 8) -> float:
    """PSNR in dB with peak 2**bitdepth - 1; ``inf`` when there is no error."""
    if samples <= 0:
        raise ValueError("samples must be positive")
    if sse == 0:
        return math.inf
    peak = (1 << bitdepth) - 1
    return 10.0 * math.log10(peak * peak * samples / sse)


def psnr(ref: np.ndarray, test: np.ndarray, bitdepth: int = 8) -> float:
    """PSNR of one plane (or any array) in dB, peak = 2**bitdepth - 1; ``inf`` if identical."""
    ref = np.asarray(ref)
    test = np.asarray(test)
    if ref.shape != test.shape:
        raise ValueError(f"shape mismatch: {ref.shape} vs {test.shape}")
    return psnr_from_sse(sum_squared_error(ref, test), ref.size, bitdepth)


def plane_weights(plane_shapes: Sequence[Sequence[int]], family: str = "yuv") -> list[float]:
    """Weights of the planes in PSNR-YUV and SSIM-YUV.

    4:2:0 (chroma planes a quarter of the luma plane): 6:1:1, the JCT-VC/JVET convention.
    4:4:4 YUV and RGB: 1:1:1. Other subsamplings (4:2:2, 4:1:1, ...): weights proportional to
    the sample counts. A single plane: 1. A fourth (alpha) plane gets weight 0: its PSNR is
    reported per plane but it does not enter the combined figure.
    """
    shapes = [tuple(s) for s in plane_shapes]
    if not shapes:
        return []
    if len(shapes) == 1:
        return [1.0]
    colour = shapes[:3]
    area = [h * w for h, w in colour]
    if family == "yuv" and len(colour) == 3 and area[1] == area[2] and area[1] * 4 == area[0]:
        weights = [6.0, 1.0, 1.0]
    elif len(set(area)) == 1:
        weights = [1.0] * len(colour)
    else:
        weights = [a / area[0] for a in area]
    return weights + [0.0] * (len(shapes) - len(colour))


def psnr_yuv(sse: Sequence[float], samples: Sequence[int], weights: Sequence[float],
             bitdepth: int = 8) -> float:
    """Combined PSNR from the per-plane squared errors: 10*log10(peak^2 / sum(w*MSE)/sum(w)).

    The plane weights (6:1:1 for 4:2:0, 1:1:1 for 4:4:4) weight the planes' MSE rather than
    their dB values, so that a plane coded exactly (MSE 0, PSNR inf) does not make the whole
    point infinite; with equal MSE in every plane it equals the dB-weighted JCT-VC formula
    (psnr_yuv_db_weighted), and it is never above it. ``inf`` when every weighted plane is exact.
    """
    if not (len(sse) == len(samples) == len(weights)) or not sse:
        raise ValueError("need one sse, sample count and weight per plane")
    total = sum(weights)
    if total <= 0:
        raise ValueError("weights must not all be zero")
    mse = sum(w * s / n for w, s, n in zip(weights, sse, samples) if w) / total
    if mse == 0:
        return math.inf
    peak = (1 << bitdepth) - 1
    return 10.0 * math.log10(peak * peak / mse)


def psnr_yuv_db_weighted(plane_psnrs: Sequence[float], weights: Sequence[float]) -> float | None:
    """The JCT-VC formula: (6*PSNR_Y + PSNR_U + PSNR_V) / 8 for 4:2:0 (weights as given).

    ``inf`` when every weighted plane is exact, ``None`` when only some are (undefined).
    """
    used = [(w, p) for w, p in zip(weights, plane_psnrs) if w]
    if not used:
        raise ValueError("weights must not all be zero")
    if all(math.isinf(p) for _, p in used):
        return math.inf
    if any(math.isinf(p) for _, p in used):
        return None
    return sum(w * p for w, p in used) / sum(w for w, _ in used)


SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


@functools.cache
def _gaussian(n: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with ``g`` in both directions, 'valid' region only."""
    n = len(g)
    h, w = img.shape
    rows = g[0] * img[0:h - n + 1, :]
    for k in range(1, n):
        rows += g[k] * img[k:h - n + 1 + k, :]
    out = g[0] * rows[:, 0:w - n + 1]
    for k in range(1, n):
        out += g[k] * rows[:, k:w - n + 1 + k]
    return out


def ssim(ref: np.ndarray, test: np.ndarray, bitdepth: int = 8) -> float:
    """Mean SSIM of one plane (Wang, Bovik, Sheikh & Simoncelli 2004).

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 2**bitdepth - 1, the mean of
    the SSIM map over the 'valid' window positions, no downsampling. A plane smaller than the
    window in either direction is treated as one window with uniform weights.
    """
    a = np.asarray(ref)
    b = np.asarray(test)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("empty plane")
    if np.array_equal(a, b):
        return 1.0
    peak = (1 << bitdepth) - 1
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if min(x.shape) < SSIM_WINDOW:
        mx, my = x.mean(), y.mean()
        sxx, syy = ((x - mx) ** 2).mean(), ((y - my) ** 2).mean()
        sxy = ((x - mx) * (y - my)).mean()
        return float((2 * mx * my + c1) * (2 * sxy + c2)
                     / ((mx * mx + my * my + c1) * (sxx + syy + c2)))
    g = _gaussian()
    mx = _filter_valid(x, g)
    my = _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def rd_frontier(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (psnr, bytes) points no other point beats on both counts, by increasing PSNR.

    Non-finite PSNRs and non-positive sizes are dropped. A point that has no more PSNR than a
    smaller point is dominated and dropped, so the result increases strictly in both PSNR and
    size and a size can be interpolated at any PSNR inside it.
    """
    pts = sorted((float(p), float(b)) for p, b in points if math.isfinite(p) and b > 0)
    frontier: list[tuple[float, float]] = []
    for p, b in reversed(pts):  # highest PSNR first; going down, sizes must fall strictly
        if frontier and b >= frontier[-1][1]:
            continue
        if frontier and p == frontier[-1][0]:
            frontier[-1] = (p, b)  # same PSNR, smaller: keep the smaller
            continue
        frontier.append((p, b))
    return frontier[::-1]


def size_at_psnr(points: Iterable[tuple[float, float]], target: float) -> float | None:
    """Size of a codec's ladder at ``target`` PSNR: log(size) interpolated piecewise linearly.

    ``points`` are (PSNR dB, bytes) of the ladder (e.g. x264 at CRF 1..28); dominated points are
    dropped first (see rd_frontier). ``None`` when ``target`` is not finite or lies outside the
    ladder's PSNR range: no extrapolation.
    """
    f = rd_frontier(points)
    if not f or target is None or not math.isfinite(target):
        return None
    if target < f[0][0] or target > f[-1][0]:
        return None
    if len(f) == 1:
        return f[0][1]
    for (p0, b0), (p1, b1) in zip(f, f[1:]):
        if p0 <= target <= p1:
            t = (target - p0) / (p1 - p0)
            return math.exp(math.log(b0) + t * (math.log(b1) - math.log(b0)))
    return None  # unreachable: target is inside [f[0], f[-1]]


def geometric_mean(values: Sequence[float]) -> float | None:
    vals = [v for v in values if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))
