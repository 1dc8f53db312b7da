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
        for _ in range(5):
            self._shift_low()
        return bytes(self.out)


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
