# SPDX-License-Identifier: MIT
"""Slow pure-Python references for the kernels: the tests' oracles."""

from __future__ import annotations

import numpy as np


class NaiveRangeEncoder:
    """The binary coder of kernels/rangecoder.py, written plainly."""

    def __init__(self):
        self.low, self.range, self.cache, self.cache_size = 0, 0xFFFFFFFF, 0, 1
        self.out = bytearray()

    def _shift_low(self):
        if self.low < 0xFF000000 or self.low > 0xFFFFFFFF:
            carry = self.low >> 32
            temp = self.cache
            while True:
                self.out.append((temp + carry) & 0xFF)
                temp = 0xFF
                self.cache_size -= 1
                if self.cache_size == 0:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.cache_size += 1
        self.low = (self.low & 0x00FFFFFF) << 8

    def bit(self, probs, ctx, bit):
        p = (int(probs[ctx, 0]) + int(probs[ctx, 1])) >> 1
        bound = (self.range >> 16) * p
        if bit:
            self.range = bound
            probs[ctx, 0] += (65536 - probs[ctx, 0]) >> 4
            probs[ctx, 1] += (65536 - probs[ctx, 1]) >> 7
        else:
            self.low += bound
            self.range -= bound
            probs[ctx, 0] -= probs[ctx, 0] >> 4
            probs[ctx, 1] -= probs[ctx, 1] >> 7
        while self.range < (1 << 24):
            self.range <<= 8
            self._shift_low()

    def signed(self, probs, base, v, sign_ctx, max_exp):
        """Exp-Golomb binarisation of kernels/symbols.py."""
        self.bit(probs, base, 1 if v == 0 else 0)
        if v == 0:
            return
        self.bit(probs, base + 1 + sign_ctx, 1 if v < 0 else 0)
        a = abs(v)
        e = a.bit_length() - 1
        for i in range(e):
            self.bit(probs, base + 5 + min(i, 15), 1)
        if e < max_exp:
            self.bit(probs, base + 5 + min(e, 15), 0)
        for j in range(e - 1, -1, -1):
            self.bit(probs, base + 21 + min(j, 15), (a >> j) & 1)

    def finish(self) -> bytes:
        """The stored substream: the interval's value with the most trailing
        zero bits, at most 4 trailing zero bytes dropped, the first byte (0) dropped."""
        top = self.low + self.range
        self.low = next(v for k in range(32, -1, -1)
                        if (v := -(-self.low // (1 << k)) * (1 << k)) < top)
        for _ in range(5):
            self._shift_low()
        out = bytes(self.out)
        assert out[0] == 0
        stripped = out.rstrip(b"\0")
        return out[1:max(len(stripped), len(out) - 4, 1)]


def mlp_outputs(flat: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """The row network of kernels/mlp.py, one sample at a time in Python ints."""
    f = [int(v) for v in flat]
    n_in, n_h1, n_h2, n_seq, s1, s2 = f[:6]
    n_out = 2 + 2 * n_seq
    pos = 16

    def dense(x, n_a, n_b, shift, relu, out_shifts=None):
        nonlocal pos
        w = f[pos:pos + n_a * n_b]
        b = f[pos + n_a * n_b:pos + n_a * n_b + n_b]
        pos += n_a * n_b + n_b
        y = []
        for j in range(n_b):
            acc = b[j] + sum(w[i * n_b + j] * x[i] for i in range(n_a))
            if relu:
                y.append(min(max(acc >> shift, 0), (1 << 15) - 1))
            else:
                y.append(acc >> out_shifts[j])
        return y

    rows = []
    for sample in feats:
        h = dense([int(v) for v in sample], n_in, n_h1, s1, True)
        if n_h2:
            h = dense(h, n_h1, n_h2, s2, True)
        rows.append(dense(h, n_h2 or n_h1, n_out, 0, False, f[8:8 + n_out]))
        pos = 16
    return np.array(rows, dtype=np.int64)


def bilinear(prev: np.ndarray, x: int, y: int, mvx: int, mvy: int, fbx: int, fby: int) -> int:
    """Motion-compensated sample of kernels/motion.py: clamped bilinear interpolation."""
    h, w = prev.shape
    xq, yq = (x << fbx) + mvx, (y << fby) + mvy
    xi, yi = xq >> fbx, yq >> fby
    fx, fy = xq - (xi << fbx), yq - (yi << fby)
    sx, sy = 1 << fbx, 1 << fby

    def at(yy, xx):
        return int(prev[min(max(yy, 0), h - 1), min(max(xx, 0), w - 1)])

    if fx == 0 and fy == 0:
        return at(yi, xi)
    total = ((sx - fx) * (sy - fy) * at(yi, xi) + fx * (sy - fy) * at(yi, xi + 1)
             + (sx - fx) * fy * at(yi + 1, xi) + fx * fy * at(yi + 1, xi + 1))
    shift = fbx + fby
    return (total + (1 << (shift - 1))) >> shift


def h264_qpel(prev: np.ndarray, x: int, y: int, mvx: int, mvy: int, maxval: int) -> int:
    """H.264 luma sample interpolation (ITU-T H.264, 8.4.2.2.1), spelled out with its
    letters: G is the integer sample, b/h/m/s half samples, j the centre."""
    hgt, wid = prev.shape

    def px(yy, xx):
        return int(prev[min(max(yy, 0), hgt - 1), min(max(xx, 0), wid - 1)])

    def clip(v):
        return min(max(v, 0), maxval)

    def tap(v):
        return v[0] - 5 * v[1] + 20 * v[2] + 20 * v[3] - 5 * v[4] + v[5]

    xi, yi, fx, fy = (4 * x + mvx) >> 2, (4 * y + mvy) >> 2, (4 * x + mvx) & 3, (4 * y + mvy) & 3
    G, H, M, N = px(yi, xi), px(yi, xi + 1), px(yi + 1, xi), px(yi + 1, xi + 1)
    b1 = tap([px(yi, xi + k) for k in range(-2, 4)])
    h1 = tap([px(yi + k, xi) for k in range(-2, 4)])
    m1 = tap([px(yi + k, xi + 1) for k in range(-2, 4)])
    s1 = tap([px(yi + 1, xi + k) for k in range(-2, 4)])
    j1 = tap([tap([px(yi + r, xi + k) for r in range(-2, 4)]) for k in range(-2, 4)])
    b, h, m, s = (clip((v + 16) >> 5) for v in (b1, h1, m1, s1))
    j = clip((j1 + 512) >> 10)

    def avg(a, c):
        return (a + c + 1) >> 1

    table = {
        (0, 0): G, (1, 0): avg(G, b), (2, 0): b, (3, 0): avg(H, b),
        (0, 1): avg(G, h), (1, 1): avg(b, h), (2, 1): avg(b, j), (3, 1): avg(b, m),
        (0, 2): h, (1, 2): avg(h, j), (2, 2): j, (3, 2): avg(j, m),
        (0, 3): avg(M, h), (1, 3): avg(h, s), (2, 3): avg(j, s), (3, 3): avg(m, s),
    }
    return table[(fx, fy)]
