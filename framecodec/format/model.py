# SPDX-License-Identifier: MIT
"""A group's network as the decoder sees it: integers only (no floats).

``IntNet`` is one predictor (one plane, one frame kind) in the flat int32 form
the kernels read (kernels/mlp.py documents the layout). ``GroupModel`` holds
the intra and inter predictors of every plane and serialises them for the
group header. ``outputs``/``predict`` are vectorised numpy twins of the
kernels, used by the encoder to place context thresholds and by tests as
oracles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CorruptError
from ..kernels.context import MAX_ROW_FEATURES, MAX_SEQ, n_row_features, n_sequential
from ..kernels.mlp import BIAS_MAX, COEF_FRAC, HEADER, HIDDEN_MAX, MAX_BUCKETS, MAX_HIDDEN, \
    OUT_WEIGHT_MAX, WEIGHT_MAX
from .records import RecordReader, RecordWriter

__all__ = ["IntNet", "GroupModel"]

# record classes of the model record (records.py): (class, largest exponent)
_PRESENCE = (0, 1)
_HEADER_CLASS = (1, 8)
_HIDDEN_WEIGHTS = (2, 7)
_HIDDEN_BIASES = (3, 30)
_OUT_WEIGHTS = (4, 15)
_OUT_BIASES = (5, 30)
_THRESHOLDS = (6, 32)
N_RECORD_CLASSES = 7


def _int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer matrices, exactly, as int64. In float64 (BLAS, ten times
    numpy's integer product) when no sum can reach 2**53, the largest integer
    float64 holds exactly; in int64 otherwise."""
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[-1]
    if bound < 2.0 ** 53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a.astype(np.int64) @ b.astype(np.int64)


@dataclass
class IntNet:
    """Integer weights of one predictor; ``flat`` is what kernels consume."""

    flat: np.ndarray  # int32

    @property
    def n_in(self) -> int:
        return int(self.flat[0])

    @property
    def hidden(self) -> tuple[int, int]:
        return int(self.flat[1]), int(self.flat[2])

    @staticmethod
    def build(w1, b1, s1, w2, b2, s2, w3, b3, out_shifts, thresholds) -> IntNet:
        """Assemble from integer arrays; ``w*`` are [n_in][n_out] (input-major)."""
        n_in, n_h1 = w1.shape
        n_h2 = 0 if w2 is None else w2.shape[1]
        n_out = w3.shape[1]
        header = np.zeros(HEADER, np.int64)
        header[:7] = [n_in, n_h1, n_h2, (n_out - 2) // 2, s1, s2, len(thresholds)]
        header[8:8 + n_out] = out_shifts
        parts = [header, w1.ravel(), b1]
        if n_h2:
            parts += [w2.ravel(), b2]
        parts += [w3.ravel(), b3, np.asarray(thresholds, np.int64)]
        flat = np.concatenate([np.asarray(p, np.int64) for p in parts])
        return IntNet(flat.astype(np.int32))

    def layers(self):
        """Split ``flat`` into (W1, B1, W2|None, B2|None, W3, B3, thresholds)."""
        f = self.flat.astype(np.int64)
        n_in, n_h1, n_h2, n_seq = (int(v) for v in f[:4])
        n_out = 2 + 2 * n_seq
        pos = HEADER

        def take(n):
            nonlocal pos
            out = f[pos:pos + n]
            pos += n
            return out

        w1 = take(n_in * n_h1).reshape(n_in, n_h1)
        b1 = take(n_h1)
        w2 = b2 = None
        if n_h2:
            w2 = take(n_h1 * n_h2).reshape(n_h1, n_h2)
            b2 = take(n_h2)
        n_last = n_h2 or n_h1
        w3 = take(n_last * n_out).reshape(n_last, n_out)
        b3 = take(n_out)
        thr = take(int(f[6]))
        return w1, b1, w2, b2, w3, b3, thr

    def outputs(self, feats: np.ndarray) -> np.ndarray:
        """Network outputs (n, n_out) for int features (n, n_in); the kernel's twin."""
        w1, b1, w2, b2, w3, b3, _ = self.layers()
        f = self.flat
        h = np.clip((_int_matmul(feats, w1) + b1) >> int(f[4]), 0, HIDDEN_MAX)
        if w2 is not None:
            h = np.clip((_int_matmul(h, w2) + b2) >> int(f[5]), 0, HIDDEN_MAX)
        shifts = f[8:8 + w3.shape[1]].astype(np.int64)
        return (_int_matmul(h, w3) + b3) >> shifts

    @property
    def n_seq(self) -> int:
        return int(self.flat[3])

    def predict(self, feats: np.ndarray, seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, ls) in 1/16 units for row features (n, n_in) and sequential ones (n, n_seq)."""
        o = self.outputs(feats)
        k = self.n_seq
        s = seqs[:, :k].astype(np.int64)
        mu = o[:, 0] + ((o[:, 2:2 + k] * s).sum(1) >> COEF_FRAC)
        ls = o[:, 1] + ((o[:, 2 + k:2 + 2 * k] * np.abs(s)).sum(1) >> COEF_FRAC)
        return mu, ls

    def buckets(self, ls: np.ndarray) -> np.ndarray:
        thr = self.layers()[-1]
        return np.searchsorted(thr, ls, side="right")

    def with_thresholds(self, thresholds) -> IntNet:
        w1, b1, w2, b2, w3, b3, _ = self.layers()
        f = self.flat
        return IntNet.build(w1, b1, f[4], w2, b2, f[5], w3, b3, f[8:8 + w3.shape[1]], thresholds)

    def write(self, rec: RecordWriter) -> None:
        """The 16 header fields, then per layer its weights and biases, then the
        thresholds (the first, then the gaps), each array in its record class."""
        f = self.flat
        if f[:HEADER].min() < 0 or f[:HEADER].max() > 255:
            raise ValueError("network header field out of range")
        w1, b1, w2, b2, w3, b3, thr = self.layers()
        rec.ints(*_HEADER_CLASS, f[:HEADER])
        for w, b in ((w1, b1), (w2, b2)):
            if w is not None:
                rec.ints(*_HIDDEN_WEIGHTS, w).ints(*_HIDDEN_BIASES, b)
        rec.ints(*_OUT_WEIGHTS, w3).ints(*_OUT_BIASES, b3)
        rec.ints(*_THRESHOLDS, np.diff(thr, prepend=0))

    @staticmethod
    def read(rec: RecordReader) -> IntNet:
        """Read one network written by ``write``; validates before returning."""
        header = rec.ints(*_HEADER_CLASS, HEADER)
        n_in, n_h1, n_h2, n_seq = (int(v) for v in header[:4])
        if not (1 <= n_in <= MAX_ROW_FEATURES and 1 <= n_h1 <= MAX_HIDDEN
                and 0 <= n_h2 <= MAX_HIDDEN and 2 <= n_seq <= MAX_SEQ
                and 0 <= header[6] < MAX_BUCKETS):
            raise CorruptError("network shape out of range")
        n_out = 2 + 2 * n_seq
        parts = [header]
        for n_a, n_b in [(n_in, n_h1)] + ([(n_h1, n_h2)] if n_h2 else []):
            parts += [rec.ints(*_HIDDEN_WEIGHTS, n_a * n_b), rec.ints(*_HIDDEN_BIASES, n_b)]
        parts += [rec.ints(*_OUT_WEIGHTS, (n_h2 or n_h1) * n_out),
                  rec.ints(*_OUT_BIASES, n_out),
                  np.cumsum(rec.ints(*_THRESHOLDS, int(header[6])))]
        flat = np.concatenate(parts)
        if np.abs(flat).max() > np.iinfo(np.int32).max:
            raise CorruptError("network value out of range")
        net = IntNet(flat.astype(np.int32))
        net.validate()
        return net

    def validate(self) -> None:
        """Refuse shapes, shifts and magnitudes the kernels were not written for."""
        f = self.flat.astype(np.int64)
        if f.shape[0] < HEADER:
            raise CorruptError("network record too short")
        n_in, n_h1, n_h2, n_seq, s1, s2, n_thr = (int(v) for v in f[:7])
        if not (1 <= n_in <= MAX_ROW_FEATURES and 1 <= n_h1 <= MAX_HIDDEN
                and 0 <= n_h2 <= MAX_HIDDEN and 2 <= n_seq <= MAX_SEQ):
            raise CorruptError("network shape out of range")
        n_out = 2 + 2 * n_seq
        if not all(0 <= s <= 31 for s in [s1, s2, *f[8:8 + n_out]]):
            raise CorruptError("network shift out of range")
        if f[7] != 0 or any(f[8 + n_out:HEADER]) or (n_h2 == 0 and s2 != 0):
            raise CorruptError("network reserved header fields are not zero")
        if not 0 <= n_thr < MAX_BUCKETS:
            raise CorruptError("too many coding contexts")
        n_last = n_h2 or n_h1
        expect = HEADER + n_in * n_h1 + n_h1 + (n_h1 * n_h2 + n_h2 if n_h2 else 0) \
            + n_last * n_out + n_out + n_thr
        if f.shape[0] != expect:
            raise CorruptError("network record size does not match its shape")
        w1, b1, w2, b2, w3, b3, thr = self.layers()
        if thr.size and np.any(np.diff(thr) <= 0):
            raise CorruptError("network context thresholds are not increasing")
        hidden = [w1] + ([w2] if w2 is not None else [])
        if any(np.abs(w).max(initial=0) > WEIGHT_MAX for w in hidden) \
                or np.abs(w3).max(initial=0) > OUT_WEIGHT_MAX or any(
                np.abs(b).max(initial=0) > BIAS_MAX for b in (b1, b3, b2) if b is not None):
            raise CorruptError("network weight out of range")


@dataclass
class GroupModel:
    """Predictors of a group: ``intra[p]`` and ``inter[p]`` per plane (None if unused)."""

    intra: list[IntNet | None] = field(default_factory=list)
    inter: list[IntNet | None] = field(default_factory=list)

    def complete(self, inter: bool, palette_planes=frozenset()) -> bool:
        """Whether every sample-coded plane has a network of this kind."""
        nets = self.inter if inter else self.intra
        return bool(nets) and all(n is not None for p, n in enumerate(nets)
                                  if p not in palette_planes)

    def kernel_nets(self, inter: bool, palette_planes=frozenset()) -> tuple[np.ndarray,
                                                                              np.ndarray]:
        """Concatenated flat nets and their offsets, the kernels' arguments.

        Palette-coded planes have no network; a placeholder keeps the offsets."""
        nets = self.inter if inter else self.intra
        if not self.complete(inter, palette_planes):
            raise CorruptError(f"group has no {'inter' if inter else 'intra'} model")
        flats = [n.flat if n is not None else _placeholder(inter, p) for p, n in enumerate(nets)]
        offsets = np.cumsum([0] + [f.shape[0] for f in flats]).astype(np.int64)
        return np.concatenate(flats), offsets

    def to_bytes(self, warm_up: bool = True) -> bytes:
        """u8 plane count, then one record (records.py): per kind (intra, inter)
        and plane a presence flag and, if present, the network. ``warm_up``: as
        ``from_bytes``."""
        rec = RecordWriter(N_RECORD_CLASSES, warm_up)
        for nets in (self.intra, self.inter):
            for net in nets:
                rec.ints(*_PRESENCE, [net is not None])
                if net is not None:
                    net.write(rec)
        return bytes([len(self.intra)]) + rec.getvalue()

    @staticmethod
    def from_bytes(data: bytes, n_planes: int, warm_up: bool = True) -> GroupModel:
        """``warm_up``: whether the record's models count their first decisions (files
        of format 2.5 on)."""
        if len(data) < 1 or data[0] != n_planes:
            raise CorruptError("model record plane count does not match the stream")
        rec = RecordReader(data[1:], N_RECORD_CLASSES, "model record", warm_up)
        model = GroupModel()
        for inter, nets in ((False, model.intra), (True, model.inter)):
            for p in range(n_planes):
                present = int(rec.ints(*_PRESENCE, 1)[0])
                if present not in (0, 1):
                    raise CorruptError("model record presence flag is not 0 or 1")
                net = IntNet.read(rec) if present else None
                if net is not None and (net.n_in != n_row_features(inter, p)
                                        or net.n_seq != n_sequential(inter)):
                    raise CorruptError("network input count does not match its plane")
                nets.append(net)
        rec.finish()
        return model


def _placeholder(inter: bool, plane: int) -> np.ndarray:
    """A valid network for a plane that is never sample-coded (a palette plane)."""
    n_in, n_out = n_row_features(inter, plane), 2 + 2 * n_sequential(inter)
    return IntNet.build(np.zeros((n_in, 1)), np.zeros(1), 0, None, None, 0,
                        np.zeros((1, n_out)), np.zeros(n_out), np.zeros(n_out), []).flat
