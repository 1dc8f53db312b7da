# SPDX-License-Identifier: MIT
"""Training data: the exact contexts the coder will see, at sampled positions.

Encoder only. Walks a plane slice by slice like ``framecoder._code_plane_rows``
(same availability rules, same features), on source samples. It writes every
sample's ``err`` (source minus base: a cross-plane feature of later planes)
and, at positions picked by a deterministic hash, the row features, the two
sequential features and the target (source minus base).
"""

import numpy as np

from ._jit import kernel
from .context import N_INTER_ROW, N_INTRA_ROW, _base_and_sequential, _cross_row_features, \
    _inter_row_features, _intra_row_features


@kernel
def _gather_plane(src, ctx, ref, err, geom, p, slice_y, inter, skip, log2b, nbx, bd, near, keep,
                  salt, feats, seqs, targets, count):
    """Append sampled rows to ``feats``/``seqs``/``targets`` from ``count``; return the new count.

    Contexts (features, base, ``err``) are read from ``ctx`` and targets are
    ``src`` minus base: ``ctx`` is ``src`` itself, or, to train on what
    near-lossless decoding sees, the reconstruction (``ref`` then compensates it).

    ``feats`` is (n_row_features, capacity) int32, ``seqs`` (n_sequential, capacity) int64;
    ``slice_y`` holds each slice's first plane-0 row, then the height;
    ``keep`` is the kept fraction times 2**32.
    """
    off = geom[p, 0]
    w = geom[p, 1]
    h = geom[p, 2]
    sy = geom[p, 4]
    lbx = log2b - geom[p, 3]
    lby = log2b - geom[p, 4]
    half = np.int64(1) << (bd - 1)
    n_row = N_INTER_ROW if inter else N_INTRA_ROW
    cap = targets.shape[0]
    for s in range(slice_y.shape[0] - 1):
        ys = slice_y[s] >> sy
        ye = min(h, (slice_y[s + 1] + (1 << sy) - 1) >> sy)
        for y in range(ys, ye):
            brow = (y >> lby) * nbx
            for x in range(w):
                i = off + y * w + x
                if inter and skip[brow + (x >> lbx)]:
                    err[i] = 0  # as the coder: a skipped sample equals its base
                    continue
                base, s0, s1, s2 = _base_and_sequential(ctx, ref, i, x, y, w, ys, half, inter,
                                                        near)
                err[i] = np.int64(ctx[i]) - base
                hashed = ((i + salt) * np.int64(2654435761)) & 0xFFFFFFFF
                if hashed < keep and count < cap:
                    if inter:
                        _inter_row_features(ctx, ref, i, x, y, w, h, ys, feats, count)
                    else:
                        _intra_row_features(ctx, i, x, y, w, ys, feats, count)
                    _cross_row_features(err, geom, p, y, x, feats, n_row, count)
                    seqs[0, count] = s0
                    seqs[1, count] = s1
                    if seqs.shape[0] > 2:
                        seqs[2, count] = s2
                    targets[count] = np.int64(src[i]) - base
                    count += 1
    return count
