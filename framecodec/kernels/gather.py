# SPDX-License-Identifier: MIT
"""Training data: the exact contexts the coder will see, at sampled positions.

Encoder only. Walks a plane slice by slice in the coder's order and
availability rules, on source samples (or on a reconstruction, for the
closed-loop refit), computing features with the coder's own functions
(context.py). It writes every sample's ``err`` (context minus base: a
cross-plane feature of later planes) and, at positions picked by a
deterministic hash, the row features, the sequential features and the target
(source minus base).
"""

import numpy as np

from ._jit import allocating, kernel
from .context import MAX_ROW_FEATURES, _row_features, _sequential


@allocating
def _gather_plane(src, ctx, ref, err, geom, p, slice_y, inter, skip, log2b, nbx, bd, near, keep,
                  salt, feats, seqs, targets, count):
    """Append sampled rows to ``feats``/``seqs``/``targets`` from ``count``; return the new count.

    Contexts (features, base, ``err``) are read from ``ctx`` and targets are
    ``src`` minus base: ``ctx`` is ``src`` itself, or, to train on what
    near-lossless decoding sees, the reconstruction (``ref`` then compensates it).

    ``feats`` is (n_row_features, capacity) int32, ``seqs`` (n_sequential, capacity) int32;
    ``slice_y`` holds each slice's first plane-0 row, then the height;
    ``keep`` is the kept fraction times 2**32.
    """
    full = np.zeros((MAX_ROW_FEATURES, geom[p, 1]), np.int32)
    return _gather_rows(src, ctx, ref, err, geom, p, slice_y, inter, skip, log2b, nbx, bd, near,
                        keep, salt, feats, seqs, targets, count, full)


@kernel
def _gather_rows(src, ctx, ref, err, geom, p, slice_y, inter, skip, log2b, nbx, bd, near, keep,
                 salt, feats, seqs, targets, count, full):
    off = geom[p, 0]
    w = geom[p, 1]
    h = geom[p, 2]
    sy = geom[p, 4]
    sx = geom[p, 3]
    half = np.int64(1) << (bd - 1)
    cap = targets.shape[0]
    n_feats = feats.shape[0]
    for s in range(slice_y.shape[0] - 1):
        ys = slice_y[s] >> sy
        ye = min(h, (slice_y[s + 1] + (1 << sy) - 1) >> sy)
        for y in range(ys, ye):
            brow = ((y << sy) >> log2b) * nbx  # the unit grid, through plane 0
            _row_features(ctx, ref, err, geom, p, y, ys, inter, full)
            for x in range(w):
                i = off + y * w + x
                if inter and skip[brow + ((x << sx) >> log2b)]:
                    err[i] = 0  # as the coder: a skipped sample equals its base
                    continue
                base, s0, s1, s2 = _sequential(ctx, ref, i, x, y, w, ys, half, inter, near)
                err[i] = np.int64(ctx[i]) - base
                hashed = ((i + salt) * np.int64(2654435761)) & 0xFFFFFFFF
                if hashed < keep and count < cap:
                    for f in range(n_feats):
                        feats[f, count] = full[f, x]
                    seqs[0, count] = s0
                    seqs[1, count] = s1
                    if seqs.shape[0] > 2:
                        seqs[2, count] = s2
                    targets[count] = np.int64(src[i]) - base
                    count += 1
    return count
