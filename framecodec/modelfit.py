# SPDX-License-Identifier: MIT
"""Fitting a group's model: gather contexts from its frames, train, freeze.

Encoder only. For every plane, one intra predictor (trained on the group's
first frame) and one inter predictor (trained on the others, skipped blocks
left out, as the coder leaves them out). Contexts come from the same kernels
the coder uses, on source samples, so training sees what coding will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import train
from .kernels import motion as mo
from .kernels.context import N_SEQ, n_row_features
from .kernels.gather import _gather_plane
from .model import GroupModel

if TYPE_CHECKING:
    from .codec import CodingParams, Layout

__all__ = ["fit_group_nets", "FittedNets", "gather"]


def _keep_fraction(total: int, wanted: int) -> int:
    """The gather kernel keeps a sample when a 32-bit hash falls below this."""
    return int(min(1.0, wanted / max(total, 1)) * (1 << 32))


def gather(layout: Layout, frames: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]],
           inter: bool, wanted: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(row features (n, k), sequential features (n, 2), targets (n,)) per plane,
    from (source, reference, skip) triples."""
    out = []
    per_frame = [layout.shapes[p][0] * layout.shapes[p][1] for p in range(layout.n_planes)]
    for p in range(layout.n_planes):
        cap = int(wanted * 1.25) + 1024
        out.append([np.zeros((n_row_features(inter, p), cap), np.int32),
                    np.zeros((N_SEQ, cap), np.int64), np.zeros(cap, np.int64), 0,
                    _keep_fraction(per_frame[p] * len(frames), wanted)])
    for t, (src, ref, skip) in enumerate(frames):
        err = np.zeros(layout.size, np.int64)
        ref = src if ref is None else ref
        skip = np.zeros(1, np.uint8) if skip is None else skip
        for p in range(layout.n_planes):
            feats, seqs, targets, count, keep = out[p]
            out[p][3] = _gather_plane(src, ref, err, layout.geom, p, layout.slice_y, inter, skip,
                                      layout.log2_block, layout.nbx, layout.bit_depth, keep,
                                      t * 7919 + p * 104729, feats, seqs, targets, count)
    return [(feats[:, :n].T.copy(), seqs[:, :n].T.copy(), targets[:n])
            for feats, seqs, targets, n, _ in out]


@dataclass
class FittedNets:
    """A group's trained float predictors and the data they saw (for freezing)."""

    nets: list
    datasets: list
    n_intra: int
    n_planes: int

    def freeze(self, bit_depth: int, buckets: int) -> GroupModel:
        """Integer networks; context thresholds placed on the training data."""
        frozen = [train.quantize(net, bit_depth=bit_depth, feats=f, seqs=s, buckets=buckets)
                  for net, (f, s, _) in zip(self.nets, self.datasets)]
        n = self.n_intra
        return GroupModel(intra=frozen[:n], inter=frozen[n:] or [None] * self.n_planes)


SMALL, LARGE = (16, 8), (32, 16)  # the two model sizes an automatic choice weighs


def fit_group_nets(layout: Layout, src: list[np.ndarray], mvs: list[np.ndarray],
                   intra: list[bool], params: CodingParams) -> FittedNets:
    """Train the intra predictors on the intra frames, the inter ones on the others.

    With ``params.hidden`` None the model size is chosen per group: the small
    model first; the large one too when the group codes enough samples that
    it could pay for its bigger header; the one with the smaller estimated
    total (ideal code length of the group's samples plus weights) is kept.
    """
    intra_sets = gather(layout, [(src[t], None, None) for t in range(len(src)) if intra[t]],
                        False, params.train_samples)
    inter_frames = []
    for t in range(1, len(src)):
        if intra[t]:
            continue
        ref = np.zeros(layout.size, np.uint16)
        prevs = np.stack([src[t - 1 - r] for r in range(min(params.refs, t))])
        mo._compensate(prevs, layout.geom, layout.n_planes, mvs[t], layout.log2_block,
                       layout.nbx, layout.max_value, ref)
        skip = np.zeros(layout.nbx * layout.nby, np.uint8)
        mo._skip_map(src[t], ref, layout.geom, layout.n_planes, layout.log2_block, layout.nbx,
                     layout.nby, params.max_error, skip)
        inter_frames.append((src[t], ref, skip))
    inter_sets = gather(layout, inter_frames, True, params.train_samples) if inter_frames else []
    datasets = [_non_empty(*data) for data in intra_sets + inter_sets]
    population = _population(layout, sum(intra), inter_frames)

    def fit(hidden):
        settings = train.TrainSettings(hidden=hidden, steps=params.train_steps)
        nets = train.fit_many(datasets, bit_depth=layout.bit_depth, settings=settings)
        bits = sum(n * train.mean_bits(net, *data, bit_depth=layout.bit_depth)
                   for net, data, n in zip(nets, datasets, population))
        weights = sum(_weight_count(d[0].shape[1], hidden) for d in datasets)
        return nets, bits + 8 * weights, bits

    if params.hidden is not None:
        nets, _, _ = fit(params.hidden)
    else:
        nets, total, bits = fit(SMALL)
        extra = 8 * sum(_weight_count(d[0].shape[1], LARGE) - _weight_count(d[0].shape[1], SMALL)
                        for d in datasets)
        if 0.03 * bits > extra:  # a larger model saving 3% would pay for itself
            large, large_total, _ = fit(LARGE)
            if large_total < total:
                nets = large
    return FittedNets(nets, datasets, len(intra_sets), layout.n_planes)


def _weight_count(n_in: int, hidden: tuple[int, int]) -> int:
    h1, h2 = hidden
    last = h2 or h1
    return n_in * h1 + h1 + (h1 * h2 + h2 if h2 else 0) + 6 * last + 6


def _population(layout: Layout, n_intra: int, inter_frames) -> list[int]:
    """Samples coded per plane, intra planes first: what the model's bits scale with."""
    sizes = [h * w for h, w in layout.shapes]
    counts = [n_intra * s for s in sizes]
    if inter_frames:
        block_share = [1.0 - float(skip.mean()) for _, _, skip in inter_frames]
        counts += [int(s * sum(block_share)) for s in sizes]
    return counts


def _non_empty(feats, seqs, targets):
    """A set with at least one row: when every sample is skipped any valid net will do."""
    if feats.shape[0]:
        return feats, seqs, targets
    return (np.zeros((1, feats.shape[1]), np.int64), np.zeros((1, N_SEQ), np.int64),
            np.zeros(1, np.int64))
