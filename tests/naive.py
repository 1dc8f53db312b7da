# SPDX-License-Identifier: MIT
"""Slow pure-Python references for the kernels: the tests' oracles."""

from __future__ import annotations

import numpy as np


def adapt(probs, ctx, bit):
    """FORMAT.md 6.1: both estimates a step towards ``bit``, longer while young."""
    seen, rates = int(probs[ctx, 2]), int(probs[ctx, 3])
    fast_shift = min(rates & 15, (seen + 1).bit_length())
    slow_shift = min(rates >> 4, (seen + 1).bit_length())
    if bit:
        probs[ctx, 0] += (65536 - probs[ctx, 0]) >> fast_shift
        probs[ctx, 1] += (65536 - probs[ctx, 1]) >> slow_shift
    else:
        probs[ctx, 0] -= probs[ctx, 0] >> fast_shift
        probs[ctx, 1] -= probs[ctx, 1] >> slow_shift
    probs[ctx, 2] = min(seen + 1, 255)


# Mixing (FORMAT.md 6.5.6), from the spec's definitions
KNOTS = [22, 36, 60, 98, 162, 267, 439, 720, 1179, 1921, 3108, 4971, 7812, 11955, 17625,
         24743, 32768, 40793, 47911, 53581, 57724, 60565, 62428, 63615, 64357, 64816, 65097,
         65269, 65374, 65438, 65476, 65500, 65514]


def squash(x: int) -> int:
    x = min(max(x, -2047), 2047)
    w, j = x & 127, (x >> 7) + 16
    return (KNOTS[j] * (128 - w) + KNOTS[j + 1] * w + 64) >> 7


def _stretch() -> list[int]:
    out = []
    for q in range(4096):
        out.append(next((x for x in range(-2047, 2048) if squash(x) >> 4 >= q), 2047))
    return out


STRETCH = _stretch()


def _exp_table() -> dict[int, int]:
    e = {0: 1 << 20}
    for ls in range(1, 161):
        e[ls] = (e[ls - 1] * 61565 + 32768) >> 16
    for ls in range(-1, -65, -1):
        e[ls] = (e[ls + 1] * 69763 + 32768) >> 16
    return e


E = _exp_table()


def network_probs(near: int, ls: int, mu: int) -> tuple[int, int]:
    """The stretched network probabilities of a zero and of a negative residual."""
    ls = min(max(ls, -64), 160)
    h, d = 8 * (2 * near + 1), ((mu + 8) & 15) - 8
    upper = squash(((h - d) * E[ls]) >> 16)
    lower = squash(((-h - d) * E[ls]) >> 16)
    zero = min(max(upper - lower, 1), 65535)
    neg = min(max((lower << 16) // (lower + 65536 - upper), 1), 65535)
    return STRETCH[zero >> 4], STRETCH[neg >> 4]


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
        """A model is (fast, slow, seen, fast rate | slow rate << 4): FORMAT.md 6.1."""
        self.code((int(probs[ctx, 0]) + int(probs[ctx, 1])) >> 1, bit)
        adapt(probs, ctx, bit)

    def code(self, p, bit):
        """``bit`` with probability ``p`` (2^-16) that it is 1."""
        bound = (self.range >> 16) * p
        if bit:
            self.range = bound
        else:
            self.low += bound
            self.range -= bound
        while self.range < (1 << 24):
            self.range <<= 8
            self._shift_low()

    def mixed_bit(self, probs, ctx, mixer, xn, bit):
        """A bit of model ``ctx`` mixed with the network's stretched probability ``xn``
        by the mixer whose weights are model ``mixer``'s two estimates (FORMAT.md 6.5.6)."""
        xa = STRETCH[(int(probs[ctx, 0]) + int(probs[ctx, 1])) >> 1 >> 4]
        wa, wn = int(probs[mixer, 0]), int(probs[mixer, 1])
        p = min(max(squash((wa * xa + wn * xn) >> 16), 32), 65504)
        self.code(p, bit)
        adapt(probs, ctx, bit)
        err = (bit << 16) - p
        probs[mixer, 0] = min(max(wa + ((xa * err * 24) >> 20), -(1 << 24)), 1 << 24)
        probs[mixer, 1] = min(max(wn + ((xn * err * 24) >> 20), -(1 << 24)), 1 << 24)

    def signed(self, probs, base, v, sign_ctx, max_exp, zero_ctx=None, sign_model=None,
               mixers=None, net=None):
        """Exp-Golomb binarisation of kernels/symbols.py (zero flag at ``zero_ctx``,
        by default the set's first model; sign at ``sign_model``, by default the
        set's model for ``sign_ctx``); with ``mixers`` (zero's, sign's), both mixed
        with the network's stretched probabilities ``net`` (zero's, sign's)."""
        zero_ctx = base if zero_ctx is None else zero_ctx
        sign_model = base + 1 + sign_ctx if sign_model is None else sign_model
        if mixers is None:
            self.bit(probs, zero_ctx, 1 if v == 0 else 0)
        else:
            self.mixed_bit(probs, zero_ctx, mixers[0], net[0], 1 if v == 0 else 0)
        if v == 0:
            return
        if mixers is None:
            self.bit(probs, sign_model, 1 if v < 0 else 0)
        else:
            self.mixed_bit(probs, sign_model, mixers[1], net[1], 1 if v < 0 else 0)
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


# ------------------------------------------------------------------ contexts and coding
# Written from docs/FORMAT.md 6.5 with 2-D planes and named neighbours, not from
# the kernels' flat buffers: the oracles of kernels/context.py and framecoder.py.


class Planes:
    """A frame as 2-D planes (lists of lists of ints) with each plane's subsampling."""

    def __init__(self, flat: np.ndarray, geom: np.ndarray):
        self.geom = geom
        self.planes = []
        for off, w, h, _, _, _ in geom:
            self.planes.append(flat[off:off + w * h].astype(np.int64).reshape(h, w))

    def __getitem__(self, p):
        return self.planes[p]


def _ints(values):
    return [int(v) for v in values]


def intra_row_features(rec, x, y, ys):
    h, w = rec.shape
    if y <= ys:
        return [0] * 6
    n = rec[y - 1, x]
    two_up = y - 1 > ys
    return [rec[y - 1, x - 1] - n if x > 0 else 0,
            rec[y - 1, x + 1] - n if x + 1 < w else 0,
            rec[y - 2, x] - n if two_up else 0,
            rec[y - 2, x + 1] - n if two_up and x + 1 < w else 0,
            rec[y - 1, x - 2] - n if x > 1 else 0,
            rec[y - 1, x + 2] - n if x + 2 < w else 0]


def inter_row_features(rec, ref, x, y, ys):
    h, w = rec.shape

    def e(yy, xx):
        return rec[yy, xx] - ref[yy, xx]

    temporal = [0] * 6
    if y > ys:
        temporal = [e(y - 1, x), e(y - 1, x - 1) if x > 0 else 0,
                    e(y - 1, x + 1) if x + 1 < w else 0, e(y - 2, x) if y - 1 > ys else 0,
                    e(y - 1, x - 2) if x > 1 else 0, e(y - 1, x + 2) if x + 2 < w else 0]
    r = ref[y, x]
    texture = [ref[y, x - 1] - r if x > 0 else 0, ref[y - 1, x] - r if y > 0 else 0,
               ref[y, x + 1] - r if x + 1 < w else 0, ref[y + 1, x] - r if y + 1 < h else 0]
    return temporal + texture


def colocated_err(err: Planes, q: int, p: int, x: int, y: int) -> int:
    """Sum of err over the samples of plane q that sit where (x, y) of plane p does."""
    plane = err[q]
    hq, wq = plane.shape
    dx = int(err.geom[p, 3] - err.geom[q, 3])
    dy = int(err.geom[p, 4] - err.geom[q, 4])
    if dx >= 0 and dy >= 0:
        return sum(int(plane[min(yy, hq - 1), min(xx, wq - 1)])
                   for yy in range(y << dy, (y << dy) + (1 << dy))
                   for xx in range(x << dx, (x << dx) + (1 << dx)))
    xq = x >> -dx if dx < 0 else x << dx
    yq = y >> -dy if dy < 0 else y << dy
    return int(plane[min(yq, hq - 1), min(xq, wq - 1)])


def row_features(rec: Planes, ref: Planes, err: Planes, p, x, y, ys, inter):
    feats = _ints( inter_row_features(rec[p], ref[p], x, y, ys) if inter else \
        intra_row_features(rec[p], x, y, ys))
    if p >= 1:
        feats.append(colocated_err(err, 0, p, x, y))
    if p >= 2:
        feats.append(colocated_err(err, p - 1, p, x, y))
    return feats


def med(a, b, c):
    return min(a, b) if c >= max(a, b) else (max(a, b) if c <= min(a, b) else a + b - c)


def base_and_sequential(rec, ref, x, y, ys, half, inter, near):
    """(base, sequential features) of one sample of a plane."""
    if inter:
        return int(ref[y, x]), _ints([rec[y, x - 1] - ref[y, x - 1] if x > 0 else 0,
                                      rec[y, x - 2] - ref[y, x - 2] if x > 1 else 0])
    base = int(rec[y - 1, x] if y > ys else (rec[y, x - 1] if x > 0 else half))
    w_med = 0
    if near == 0 and x > 1 and y > ys:
        w_med = rec[y, x - 1] - med(rec[y, x - 2], rec[y - 1, x - 1], rec[y - 1, x - 2])
    return base, _ints([rec[y, x - 1] - base if x > 0 else 0,
                        rec[y, x - 2] - base if x > 1 else 0, w_med])


def activity_level(coded: np.ndarray, x: int, y: int, ys: int) -> int:
    """FORMAT.md 6.5.4: |v| of W plus |v| of N (0 outside the slice or where not
    coded), in four levels."""
    a = (abs(coded[y, x - 1]) if x > 0 else 0) + (abs(coded[y - 1, x]) if y > ys else 0)
    return 0 if a == 0 else 1 if a <= 2 else 2 if a <= 7 else 3


def sign3(v: int) -> int:
    return 0 if v < 0 else 1 if v == 0 else 2


def encode_slice(coder: NaiveRangeEncoder, src: Planes, ref: Planes, geom, nets, probs,
                 y0, y1, inter, skip, log2u, nux, bd, near, levels=4, fine=True, mixing=False,
                 pull=0, shown=None):
    """Code plane-0 rows [y0, y1) and the matching rows of the other planes, sample by
    sample (FORMAT.md 6.5); returns the reconstruction as Planes. ``nets[p]`` is an
    IntNet, ``probs[p]`` its plane's adaptive models (changed in place); ``levels``
    activity levels per bucket (1 before format 2.3); ``fine``: zero flags by
    eighths and signs by the neighbours' signs (format 2.6, several frames);
    ``mixing``: zero flags and signs mixed with the network's (format 2.7, the flag);
    ``pull``: samples with v != 0 kept that far towards their prediction (format 2.10),
    the samples shown then written to ``shown`` (Planes)."""
    size = int(geom[-1, 0] + geom[-1, 1] * geom[-1, 2])
    rec, err = Planes(np.zeros(size, np.int64), geom), Planes(np.zeros(size, np.int64), geom)
    coded = Planes(np.zeros(size, np.int64), geom)  # v of each coded sample, 0 if skipped
    maxval, half, step = (1 << bd) - 1, 1 << (bd - 1), 2 * near + 1
    for p, (_, w, h, sx, sy, _) in enumerate(geom):
        ys, ye = y0 >> sy, min(h, -(-y1 >> sy))
        flat = nets[p].flat
        thresholds = [int(t) for t in nets[p].layers()[-1]]
        n_seq = int(flat[3])
        for y in range(ys, ye):
            for x in range(w):
                if inter and skip[((y << sy) >> log2u) * nux + ((x << sx) >> log2u)]:
                    rec[p][y, x] = ref[p][y, x]
                    err[p][y, x] = 0
                    if shown is not None:
                        shown[p][y, x] = ref[p][y, x]
                    continue
                feats = row_features(rec, ref, err, p, x, y, ys, inter)
                out = mlp_outputs(flat, np.array([feats]))[0]
                base, seq = base_and_sequential(rec[p], ref[p], x, y, ys, half, inter, near)
                mu = int(out[0]) + (sum(int(out[2 + j]) * seq[j] for j in range(n_seq)) >> 8)
                ls = int(out[1]) + (sum(int(out[2 + n_seq + j]) * abs(seq[j])
                                        for j in range(n_seq)) >> 8)
                pred = min(max(base + ((mu + 8) >> 4), 0), maxval)
                bucket = sum(1 for t in thresholds if ls >= t)
                if levels > 1:
                    bucket = levels * bucket + activity_level(coded[p], x, y, ys)
                e = int(src[p][y, x]) - pred
                if near == 0:
                    v = ((e + half) & maxval) - half
                    r = (pred + v) & maxval
                    if shown is not None:
                        shown[p][y, x] = r
                else:
                    v = (e + near) // step if e >= 0 else -((near - e) // step)
                    r = min(max(pred + v * step, 0), maxval)
                    if shown is not None:
                        shown[p][y, x] = r
                    if v:
                        r = min(max(pred + v * step - (pull if v > 0 else -pull), 0), maxval)
                quarter = ((mu + 8) & 15) >> 2
                zero_ctx, sign_model = bucket * 37, bucket * 37 + 1 + quarter
                if near == 0 and fine:
                    zero_ctx = 64 * 37 + bucket * 8 + (((mu + 8) & 15) >> 1)
                elif near == 0:
                    zero_ctx = 64 * 37 + bucket * 4 + quarter
                if fine:
                    w_sign = sign3(coded[p][y, x - 1] if x > 0 else 0)
                    n_sign = sign3(coded[p][y - 1, x] if y > ys else 0)
                    sign_model = 64 * 37 + 64 * 8 + (bucket * 4 + quarter) * 9 \
                        + 3 * w_sign + n_sign
                mixers = net = None
                if mixing:
                    mixers = (5184 + 2 * bucket, 5184 + 2 * bucket + 1)
                    net = network_probs(near, ls, mu)
                coder.signed(probs[p], bucket * 37, v, quarter, bd - 1, zero_ctx, sign_model,
                             mixers, net)
                coded[p][y, x] = v
                rec[p][y, x] = r
                err[p][y, x] = r - base
    return rec


def coarse_search(cur: np.ndarray, prev: np.ndarray, w: int, h: int, log2b: int, nbx: int,
                  nby: int, search: int) -> np.ndarray:
    """kernels/search.py's coarse search: 4x4 sums, every position within search/4 with
    clamped (edge-repeated) reference samples, cost SAD + 16 per step, first best kept."""
    ow, oh = (w + 3) >> 2, (h + 3) >> 2

    def sums(plane):
        p = plane.reshape(h, w).astype(np.int64)
        ys = np.minimum(np.arange(4 * oh), h - 1)
        xs = np.minimum(np.arange(4 * ow), w - 1)
        return p[ys][:, xs].reshape(oh, 4, ow, 4).sum(axis=(1, 3))

    dc, dp = sums(cur), sums(prev)
    bs, r = max((1 << log2b) >> 2, 1), max(search >> 2, 1)
    out = np.zeros((nbx * nby, 2), np.int64)
    for by in range(nby):
        for bx in range(nbx):
            ys = np.arange(by * bs, min(by * bs + bs, oh))
            xs = np.arange(bx * bs, min(bx * bs + bs, ow))
            best = None
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    ref = dp[np.clip(ys + dy, 0, oh - 1)][:, np.clip(xs + dx, 0, ow - 1)]
                    cost = int(np.abs(dc[ys][:, xs] - ref).sum()) + 16 * (abs(dx) + abs(dy))
                    if best is None or cost < best[0]:
                        best = (cost, dx, dy)
            out[by * nbx + bx] = best[1] * 16, best[2] * 16
    return out


def fit_palette(frames, planes, max_entries: int, near: int):
    """encoder/palettes.fit_palette as dictionaries and loops: (entries, colour -> entry)."""
    found: dict[tuple, int] = {}
    for f in frames:
        colours = np.stack([f[p].ravel() for p in planes], 1).tolist()
        seen_here: dict[tuple, int] = {}
        for colour in colours:
            seen_here[tuple(colour)] = seen_here.get(tuple(colour), 0) + 1
        for colour in sorted(seen_here):  # new colours of a frame arrive in colour order
            found[colour] = found.get(colour, 0) + seen_here[colour]
        if len(found) > (max_entries if near == 0 else 64 * max_entries):
            return None
    reps: list[tuple] = []
    owner: dict[tuple, int] = {}
    for colour in sorted(found, key=lambda k: -found[k]):  # stable: ties keep arrival order
        for e, rep in enumerate(reps):
            if max(abs(a - b) for a, b in zip(rep, colour)) <= near:
                owner[colour] = e
                break
        else:
            if len(reps) == max_entries:
                return None
            owner[colour] = len(reps)
            reps.append(colour)
    ranked = sorted(range(len(reps)), key=lambda e: reps[e])
    rank = {e: r for r, e in enumerate(ranked)}
    return [reps[e] for e in ranked], {c: rank[e] for c, e in owner.items()}


def encode_indices(coder: NaiveRangeEncoder, src, ref, w: int, ys: int, ye: int, inter: bool,
                   skip, lut, n_bits: int, probs, recent: list):
    """Rows [ys, ye) of an index plane as FORMAT.md 6.6.3 codes them (one unit per
    2 x 2 positions: ``skip[(y >> 1) * ceil(w / 2) + (x >> 1)]``); ``recent`` is
    the slice's recency list, updated in place ([] before version 2.2; unused
    for palettes of 128 entries or fewer)."""
    idx = np.zeros_like(src)
    nux = -(-w // 2)
    for y in range(ys, ye):
        for x in range(w):
            i = y * w + x
            if inter and skip[(y >> 1) * nux + (x >> 1)]:
                idx[i] = ref[i]
                continue
            avail = [x > 0, y > ys, y > ys and x > 0, y > ys and x + 1 < w, inter]
            cand = [idx[i - 1] if avail[0] else None, idx[i - w] if avail[1] else None,
                    idx[i - w - 1] if avail[2] else None, idx[i - w + 1] if avail[3] else None,
                    ref[i] if avail[4] else None]
            pattern, bit = 0, 0
            for a in range(4):
                for b in range(a + 1, 5):
                    if avail[a] and avail[b] and cand[a] == cand[b]:
                        pattern |= 1 << bit
                    bit += 1
            pattern |= (1 << 10) * avail[1] + (1 << 11) * inter
            v = int(src[i])
            coded = False
            for c in range(5):
                if not avail[c] or any(avail[j] and cand[j] == cand[c] for j in range(c)):
                    continue
                coder.bit(probs, 8 * c + int(lut[pattern, c]), int(cand[c] == v))
                if cand[c] == v:
                    coded = True
                    break
            if not coded and recent and n_bits > 7:
                others = [e for e in recent
                          if e != -1 and not any(avail[c] and cand[c] == e for c in range(5))]
                coder.bit(probs, 71, int(v in others))
                if v in others:
                    node = 1
                    for b in range(6, -1, -1):
                        coder.bit(probs, 72 + node - 1, (others.index(v) >> b) & 1)
                        node = 2 * node + ((others.index(v) >> b) & 1)
                    coded = True
            if not coded:
                node = 1
                for pos in range(n_bits):
                    b = n_bits - 1 - pos
                    bit = (v >> b) & 1
                    coder.bit(probs, 40 + node - 1 if pos < 4 else 55 + min(b, 15), bit)
                    if pos < 4:
                        node = 2 * node + bit
            idx[i] = v
            if recent and n_bits > 7 and recent[0] != v:
                recent.remove(v if v in recent else recent[-1])
                recent.insert(0, v)
    return idx


def unit_row_work(layout, src, mvs, intra, max_error, refs):
    """encoder/slicing.py's work per unit row, in coded samples (floats), written
    with whole-plane numpy operations: per sample 1 + DECISION_COST x the
    decisions of its residual (the median predictor's in intra frames, the
    compensated reference's in inter ones), SKIPPED_COST per sample of a skipped unit."""
    from framecodec.encoder.slicing import DECISION_COST, SKIPPED_COST, _decisions_table
    from framecodec.encoder.motion import compensated

    def decisions(residual):
        return _decisions_table()[(np.abs(residual) + max_error) // (2 * max_error + 1)]

    h, w = layout.shapes[0]
    unit = 1 << layout.log2_unit
    grid = (layout.nuy, unit, layout.nux, unit)

    def per_unit(values):
        padded = np.zeros((layout.nuy * unit, layout.nux * unit))
        padded[:h, :w] = values
        return padded.reshape(grid)

    work = np.zeros(layout.nuy)
    for t in range(len(src)):
        plane = np.asarray(src[t][: h * w]).reshape(h, w).astype(np.int64)
        if intra[t]:
            a, b, c = (np.zeros_like(plane) for _ in range(3))
            a[:, 1:], b[1:, :], c[1:, 1:] = plane[:, :-1], plane[:-1, :], plane[:-1, :-1]
            residual = plane - np.clip(a + b - c, np.minimum(a, b), np.maximum(a, b))
            work += per_unit(1.0 + DECISION_COST * decisions(residual)).sum(axis=(1, 2, 3))
            continue
        ref, skip = compensated(layout, src, t, mvs[t], refs, src[t], max_error)
        residual = plane - ref[: h * w].reshape(h, w).astype(np.int64)
        cost = per_unit(1.0 + DECISION_COST * decisions(residual)).sum(axis=(1, 3))
        skipped = skip.reshape(layout.nuy, layout.nux).astype(bool)
        work += np.where(skipped, SKIPPED_COST * unit * unit, cost).sum(axis=1)
    return work
