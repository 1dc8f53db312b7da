# SPDX-License-Identifier: MIT
"""Fitting a group's model: gather contexts from its frames, train, freeze.

Encoder only. For every plane, one intra predictor (trained on the group's
first frame) and one inter predictor (trained on the others, skipped blocks
left out, as the coder leaves them out). Contexts come from the same kernels
the coder uses, on source samples, so training sees what coding will see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..coding.tables import PaletteTables
from ..format.layout import Layout
from ..format.model import GroupModel
from ..kernels import palette as pk
from ..kernels.context import n_row_features, n_sequential
from ..kernels.gather import _gather_plane
from ..kernels.mlp import OUT_WEIGHT_MAX
from . import train
from .motion import compensated
from .settings import EncodeSettings

__all__ = ["fit_group_nets", "fit_again", "refit_closed_loop", "FittedNets", "gather"]


def _keep_fraction(total: int, wanted: int) -> int:
    """The gather kernel keeps a sample when a 32-bit hash falls below this."""
    return int(min(1.0, wanted / max(total, 1)) * (1 << 32))


def gather(layout: Layout, frames: Iterable[tuple], count: int, inter: bool, wanted: int,
           skip_planes=frozenset(),
           near: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(row features (n, k), sequential features (n, n_seq), targets (n,)) per
    sample-coded plane (palette planes, in ``skip_planes``, are left out and give
    no cross-plane feature, as in the coder), from ``count`` (source, context,
    reference, skip) tuples (context None: the source; reference and skip None
    for intra), taken one at a time so that a lazy iterable keeps one frame's
    reference in memory; ``near`` > 0 gathers what near-lossless coding sees
    (no MED feature)."""
    out = []
    per_frame = [layout.shapes[p][0] * layout.shapes[p][1] for p in range(layout.n_planes)]
    for p in range(layout.n_planes):
        cap = int(wanted * 1.25) + 1024
        out.append([np.zeros((n_row_features(inter, p), cap), np.int32),
                    np.zeros((n_sequential(inter), cap), np.int32), np.zeros(cap, np.int32), 0,
                    _keep_fraction(per_frame[p] * count, wanted)])
    err = np.zeros(layout.size, np.int32)
    for t, (src, ctx, ref, skip) in enumerate(frames):
        ctx = src if ctx is None else ctx
        ref = ctx if ref is None else ref
        skip = np.zeros(1, np.uint8) if skip is None else skip
        for p in range(layout.n_planes):
            if p in skip_planes:
                continue
            feats, seqs, targets, count, keep = out[p]
            out[p][3] = _gather_plane(src, ctx, ref, err, layout.geom, p, layout.slice_y, inter,
                                      skip,
                                      layout.log2_unit, layout.nux, layout.bit_depth, near, keep,
                                      t * 7919 + p * 104729, feats, seqs, targets, count)
    # views, not copies: at 720p the sets are tens of megabytes
    return [(feats[:, :n].T, seqs[:, :n].T, targets[:n])
            for p, (feats, seqs, targets, n, _) in enumerate(out) if p not in skip_planes]


@dataclass
class FittedNets:
    """A group's trained float predictors and the data they saw (for freezing);
    ``planes`` lists the sample-coded planes, in the order of intra then inter nets."""

    nets: list
    datasets: list
    n_intra: int
    n_planes: int
    planes: list[int]
    hidden: tuple[int, int] | None = None
    population: list[int] = field(default_factory=list)  # samples each net will code
    out_weight_max: int = OUT_WEIGHT_MAX  # the largest output weight freezing may use
    _frozen: dict = field(default_factory=dict, repr=False)

    def freeze(self, bit_depth: int, buckets: int) -> GroupModel:
        """Integer networks (None for palette planes); thresholds from the training data.

        Frozen once: every coding of the analysis (trials, bounds) uses the same model."""
        if (bit_depth, buckets) not in self._frozen:
            self._frozen[bit_depth, buckets] = self._freeze(bit_depth, buckets)
        return self._frozen[bit_depth, buckets]

    def release_data(self) -> None:
        """Drop the training sets once frozen: tens of megabytes a model at 720p,
        and a near-lossless analysis weighs several models."""
        if self.nets and not self._frozen:
            raise RuntimeError("training data released before the model was frozen")
        self.datasets = []

    def _freeze(self, bit_depth: int, buckets: int) -> GroupModel:
        if self.nets and not self.datasets:
            raise RuntimeError("training data released before the model was frozen")
        frozen = [train.quantize(net, bit_depth=bit_depth, feats=f, seqs=s, buckets=buckets,
                                 out_weight_max=self.out_weight_max)
                  for net, (f, s, _) in zip(self.nets, self.datasets)]
        k = len(self.planes)
        model = GroupModel(intra=[None] * self.n_planes, inter=[None] * self.n_planes)
        for kind, nets in ((model.intra, frozen[:k]), (model.inter, frozen[k:])):
            for p, net in zip(self.planes, nets):
                kind[p] = net
        return model


TINY, SMALL, LARGE = (8, 8), (16, 8), (32, 16)  # the model sizes an automatic choice weighs

# Output weights of a lossless group's networks are frozen within +-255, not the
# format's +-32767: the finer steps cost record bits and buy no prediction
# (development corpus, 60 frames: -0.07 % in total and every clip smaller;
# every frame its own group: -0.53 %; +-511 and +-127 within 0.05 % of it).
# Near-lossless codings keep the full range: there any change to the networks'
# outputs moves sizes by a few per cent either way (bound 2 at +-4095: animation
# +4.7 %, bikes +2.9 %; at +-8191: +2.9 %, +0.2 %).
LOSSLESS_OUT_WEIGHT_MAX = 255

# Lossless groups train twice as many steps of half as many rows: the same rows
# seen, more updates (the training kernel runs on the rows of a step together,
# so the time grows by less than its step count: 7 % more for the lossless
# corpus encode). Development corpus, 60 frames: -0.94 % lossless and every clip
# smaller; every frame its own group: -0.37 % (four clips, 20 frames). Four
# times the steps at a quarter of the rows: -1.13 %, 24 % more time. Near-
# lossless codings keep the steps they are given: their sizes swing with any
# change to the networks (this one: totals -0.09 %, -0.01 %, +0.48 % at bounds 1,
# 2, 4; the animation clip at bound 4 +12.5 %).
LOSSLESS_STEP_FACTOR = 2

# Lossless groups of several frames draw 5/3 as many training samples (200,000 per
# plane and frame kind by default): with the steps shared out by ``train.step_counts``, the
# largest network would see each of 120,000 rows about ten times, and fit them
# rather than the group (development corpus, 60 frames: -0.51 % lossless at the uniform steps
# of before, and two fifths of the -1.60 % the two changes made together).
# Near-lossless codings keep the samples they are given: at bound 2, -0.10 % in
# total but bikes +0.78 %, carphone +0.36 %, for a longer gathering.
LOSSLESS_SAMPLE_FACTOR = (5, 3)

# Lossless groups whose residuals (before any network) carry this many times
# the large model's extra record, at the least share of them a trained network
# leaves (0.40-0.81 on the corpus), are fitted with the large model alone.
# Calibrated by coding both models in every lossless group of the corpus and
# the extra RGB clips at group sizes 4, 8, 15, 30 and the default (140 groups):
# where both tests passed 1.2 (41 groups) the large model was smaller in every
# one, by 0.1 to 4.8 %; the small one won only where one test was 1.0 or less.
# 2.0 until the measurement: 19 of those groups trained and coded both models,
# among them the animation clip's (a third of its encode).
LARGE_ALONE_MARGIN = 1.2
LEAST_NETWORK_SHARE = 0.4

# The small model's record, as a share of the group's bits, above which the
# tiny model is weighed against it (or, in a mostly intra group, used alone).
TINY_RECORD_SHARE = 0.015

# The share of the training steps the tiny model gets when trained first in a
# mostly intra lossless group (where it is most often coded alone): on the
# screen clip, 2/3 took 9 % off the encode's CPU time for 0.15 % in size (1/2:
# 1.0 %); no other corpus or extra clip has such a group.
TINY_ALONE_STEPS = 2 / 3
# ... and half the rows a step of a lossless training (256). Lossless, 60 frames,
# in every group that takes the tiny model alone: the screen clip -0.70 % (one
# group), +0.71 % (groups of 8), -0.27 % (groups of 20), the animation clip's
# groups of 8 +0.15 %, the terminal recording and the RGB clip the same; the
# screen clip's encode 14 % less wall time (0.72 to 0.62 s, its kernels loaded).
TINY_ALONE_BATCH_DIVISOR = 2


def fit_group_nets(layout: Layout, src: list[np.ndarray], mvs: list[np.ndarray],
                   intra: list[bool], settings: EncodeSettings,
                   skip_planes=frozenset()) -> list[FittedNets]:
    """Train the intra predictors on the intra frames, the inter ones on the others.

    Returns the candidate models, to be coded and compared by the caller (one
    when ``settings.hidden`` fixes the size). Otherwise the small model comes
    first; the tiny one is a candidate too when the small one's record is a
    noticeable share of the group's bits (short or very predictable groups);
    the large one when the group codes enough samples that it could pay for
    its bigger record and its estimated total (ideal code length of the
    training samples plus the record) is smaller. Ideal code lengths
    overstate what a larger network saves (the coder's adaptive contexts
    absorb much of a scale error), so the choice itself is measured.

    A lossless group so large that the large model pays for its record
    ``LARGE_ALONE_MARGIN`` times over (by the residuals' entropy, then by the
    trained model's own code length) gets the large model alone: it was
    measured smaller in every such group (by 0.1 to 4.8 %), so training and
    coding the small one there only cost time.

    A lossless group whose intra frames code most of its samples (static
    content: the inter frames are mostly skipped, as in screen recordings) and
    where the tiny model would be weighed (the small one's record against the
    tiny one's bits, trained first) gets the tiny model alone: in 24 such
    groups of the corpus and extra clips (group sizes 8, 20 and the default) it
    was smaller than the small model or as small in 20, larger by at most 0.5 %
    in 3 and by 2.7 % in one (the 2-frame tail of an RGB clip), 2.3 % smaller in
    all; training and coding the small model there took two fifths of the
    screen clip's encode. That tiny model is trained for two thirds of the
    steps, of half the rows (``TINY_ALONE_STEPS``, ``TINY_ALONE_BATCH_DIVISOR``).
    Not when bounded: there most units of a moving clip can be skipped too, and
    the animation clip's bound-4 coding came out 26 % larger with the tiny model
    alone.
    """
    data = _group_data(layout, src, None, mvs, intra, settings, skip_planes)

    def fit(hidden, steps=0, batch_divisor=1):
        fitted = _train(layout, data, settings, hidden, steps=steps,
                        batch_divisor=batch_divisor)
        bits = sum(n * train.mean_bits(net, *d, bit_depth=layout.bit_depth)
                   for net, d, n in zip(fitted.nets, data.datasets, data.population))
        return fitted, bits + _model_bits(data.datasets, hidden), bits

    if not data.datasets:  # every plane is palette-coded
        return [_train(layout, data, settings, None)]
    if settings.fixed_hidden is not None:
        return [fit(settings.fixed_hidden)[0]]
    extra = _model_bits(data.datasets, LARGE) - _model_bits(data.datasets, SMALL)
    large = None
    if settings.max_error == 0 and 0.03 * LEAST_NETWORK_SHARE * _residual_bits(data) > (
            LARGE_ALONE_MARGIN * extra):
        large = fit(LARGE)
        if 0.03 * large[2] > LARGE_ALONE_MARGIN * extra:
            return [large[0]]
    tiny = None
    if settings.max_error == 0 and _mostly_intra(data):
        tiny = fit(TINY, max(1, round(settings.train_steps * TINY_ALONE_STEPS)),
                   TINY_ALONE_BATCH_DIVISOR)
        if _model_bits(data.datasets, SMALL) > TINY_RECORD_SHARE * tiny[2]:
            return [tiny[0]]
    small, total, bits = fit(SMALL)
    candidates = [small]
    if _model_bits(data.datasets, SMALL) > TINY_RECORD_SHARE * bits:
        candidates.append((tiny or fit(TINY))[0])
    elif 0.03 * bits > extra:  # a larger model saving 3% would pay for itself
        large, large_total, _ = large or fit(LARGE)
        if large_total < total:
            candidates.append(large)
    return candidates


def fit_again(layout: Layout, fitted: FittedNets, settings: EncodeSettings,
              seed: int) -> FittedNets:
    """The same model size trained on the same sets from another random start.

    Near-lossless sizes swing with the start far more than the training loss
    does (up to 15 % on a corpus clip, against 3 % in loss): a bounded coding
    turns small differences between networks into different drift of its
    reconstruction, so the coder measures more than one start instead of trusting one.
    """
    data = _GroupData(fitted.datasets, fitted.n_intra, fitted.population, fitted.planes)
    return _train(layout, data, settings, fitted.hidden, seed)


def refit_closed_loop(layout: Layout, src: list[np.ndarray], rec: list[np.ndarray],
                      mvs: list[np.ndarray], intra: list[bool], settings: EncodeSettings,
                      hidden: tuple[int, int], skip_planes=frozenset(),
                      seed: int = 0) -> FittedNets:
    """Retrain on what near-lossless decoding sees: contexts from ``rec``, a
    coding's reconstruction at ``settings.max_error``, targets from the source.

    Networks trained on source contexts meet noisier ones when decoding (every
    neighbour is off by up to the bound); this second pass removes that mismatch.
    """
    return _train(layout, _group_data(layout, src, rec, mvs, intra, settings, skip_planes),
                  settings, hidden, seed)


@dataclass
class _GroupData:
    """A group's training sets (intra planes, then inter planes), how many are
    intra, the samples each set's net will code, the sample-coded planes and
    the group's frames (0: not known)."""

    datasets: list
    n_intra: int
    population: list[int]
    planes: list[int]
    frames: int = 0
    rows: np.ndarray | None = None  # the sets stacked for training, once for every model size


def _train(layout: Layout, data: _GroupData, settings: EncodeSettings,
           hidden: tuple[int, int] | None, seed: int = 0, steps: int = 0,
           batch_divisor: int = 1) -> FittedNets:
    """``steps``: 0 for ``settings.train_steps`` (lossless: ``LOSSLESS_STEP_FACTOR``
    times as many, of as many times fewer rows, shared out by ``train.step_counts``
    in groups of several frames); else exactly that many for every net (lossless:
    times the factor): the tiny model trained first in a mostly intra group
    (``TINY_ALONE_STEPS``) keeps its short, even training, which is what keeps the
    screen clip's encode fast. ``batch_divisor``: rows a step that many times fewer.

    A group of one frame keeps the same steps for every net: it codes few samples,
    so the extra steps of its largest network cost more than they save (four
    corpus clips, 20 frames each coded alone: -0.44 % for about half as much
    training time again)."""
    nets = []
    if data.datasets:
        by_share = steps == 0 and _trains_longer(settings, data.frames)
        steps = steps or settings.train_steps
        batch = train.TrainSettings.batch // batch_divisor
        if settings.max_error == 0:
            steps, batch = steps * LOSSLESS_STEP_FACTOR, batch // LOSSLESS_STEP_FACTOR
        options = train.TrainSettings(hidden=hidden, steps=steps, seed=seed, batch=batch)
        # smaller batches (and steps by share) for the nets of small populations when
        # lossless only: bounded totals came out 0.6-1.6 % larger with them (and noisier)
        batches = (train.batch_sizes(data.population, options.batch)
                   if settings.max_error == 0 else None)
        net_steps = train.step_counts(data.population, steps) if by_share else None
        if data.rows is None:
            data.rows = train.stacked_rows(data.datasets)
        nets = train.fit_many(data.datasets, bit_depth=layout.bit_depth, settings=options,
                              batches=batches, steps=net_steps, rows=data.rows)
    return FittedNets(nets, data.datasets, data.n_intra, layout.n_planes, data.planes, hidden,
                      data.population,
                      LOSSLESS_OUT_WEIGHT_MAX if settings.max_error == 0 else OUT_WEIGHT_MAX)


def _group_data(layout: Layout, src: list[np.ndarray], rec: list[np.ndarray] | None,
                mvs: list[np.ndarray], intra: list[bool], settings: EncodeSettings,
                skip_planes) -> _GroupData:
    """Training data with contexts from ``rec`` (None: the source), inter
    references compensated from it, skips decided as the coder does."""
    ctx = src if rec is None else rec
    intra_times = [t for t in range(len(src)) if intra[t]]
    intra_frames = ((src[t], ctx[t], None, None) for t in intra_times)  # flattened one by one
    samples = _samples(settings, len(src))
    intra_sets = gather(layout, intra_frames, len(intra_times), False, samples,
                        skip_planes, settings.max_error)
    inter_times = [t for t in range(1, len(src)) if not intra[t]]
    coded_shares = []  # per inter frame, the share of its units that are not skipped

    def inter_frames():
        """Compensated references made one at a time (each is 2 bytes a sample)."""
        for t in inter_times:
            ref, skip = compensated(layout, ctx, t, mvs[t], settings.refs, src[t],
                                    settings.max_error)
            coded_shares.append(1.0 - float(skip.mean()))
            yield src[t], ctx[t], ref, skip

    inter_sets = gather(layout, inter_frames(), len(inter_times), True, samples,
                        skip_planes, settings.max_error) if inter_times else []
    planes = [p for p in range(layout.n_planes) if p not in skip_planes]
    return _GroupData([_non_empty(*d) for d in intra_sets + inter_sets], len(intra_sets),
                      _population(layout, sum(intra), coded_shares, planes), planes, len(src))


def _trains_longer(settings: EncodeSettings, frames: int) -> bool:
    """Whether a group of ``frames`` frames shares its steps out by share
    (``train.step_counts``) and draws ``LOSSLESS_SAMPLE_FACTOR`` times the samples:
    lossless groups of several frames."""
    return settings.max_error == 0 and frames > 1


def _samples(settings: EncodeSettings, frames: int) -> int:
    """Samples per plane and frame kind that training draws from in a group of
    ``frames`` frames, for the predictors and the palette networks alike (the
    corpus figures of ``LOSSLESS_SAMPLE_FACTOR`` were measured so)."""
    if not _trains_longer(settings, frames):
        return settings.train_samples
    times, parts = LOSSLESS_SAMPLE_FACTOR
    return settings.train_samples * times // parts


def _mostly_intra(data: _GroupData) -> bool:
    """Whether a group with inter frames codes most of its samples in its intra frames."""
    intra = sum(data.population[:data.n_intra])
    inter = sum(data.population[data.n_intra:])
    return data.n_intra < len(data.datasets) and intra > inter


def _residual_bits(data: _GroupData) -> float:
    """The group's bits before any network: the zero-order entropy of each set's
    targets (the residuals of the base prediction), times the samples its net
    will code."""
    total = 0.0
    for (_, _, targets), n in zip(data.datasets, data.population):
        counts = np.unique(targets, return_counts=True)[1]
        if counts.size > 1:
            share = counts / counts.sum()
            total += n * float(-(share * np.log2(share)).sum())
    return total


def _model_bits(datasets, hidden: tuple[int, int]) -> float:
    """Estimated size of the networks in the model record, in bits: about 6.5
    bits per hidden weight, 13 per hidden bias, 17.5 per output weight and 35
    per output bias (measured on records of the corpus's clips). Lossless
    records, whose output weights lie within +-255, take about 8 bits less per
    output weight and bias (records of the corpus 10 to 19 % smaller); the model
    size choices were measured with these figures and are left as they were."""
    h1, h2 = hidden
    last = h2 or h1
    total = 0.0
    for feats, seqs, _ in datasets:
        n_in, n_out = feats.shape[1], 2 + 2 * seqs.shape[1]
        total += 6.5 * (n_in * h1 + h1 * h2) + 13 * (h1 + h2) + 17.5 * last * n_out + 35 * n_out
    return total


def _population(layout: Layout, n_intra: int, coded_shares: list[float],
                planes: list[int]) -> list[int]:
    """Samples coded per plane, intra planes first: what the model's bits scale with
    (``coded_shares``: per inter frame, the share of its units not skipped)."""
    sizes = [layout.shapes[p][0] * layout.shapes[p][1] for p in planes]
    counts = [n_intra * s for s in sizes]
    if coded_shares:
        counts += [int(s * sum(coded_shares)) for s in sizes]
    return counts


def _non_empty(feats, seqs, targets):
    """A set with at least one row: when every sample is skipped any valid net will do."""
    if feats.shape[0]:
        return feats, seqs, targets
    return (np.zeros((1, feats.shape[1]), np.int32), np.zeros((1, seqs.shape[1]), np.int32),
            np.zeros(1, np.int32))


def fit_palette_nets(layout: Layout, dictionary, src: list[np.ndarray], src_idx: list[np.ndarray],
                     mvs: list[np.ndarray], intra: list[bool], settings: EncodeSettings) -> None:
    """Train each palette's network on its index planes (sets ``palette.net``)."""
    tables = PaletteTables(layout, dictionary)
    for s, pal in enumerate(dictionary.palettes):
        first, n, w, h, sx, sy, ioff, _, _, _ = (int(v) for v in tables.table[s])
        size = w * h
        rows = np.array([r >> sy for r in layout.slice_y[:-1]] + [h], np.int64)
        samples = _samples(settings, len(src))
        cap = samples + 1024
        keep = int(min(1.0, samples / max(size * len(src), 1)) * (1 << 32))
        patterns = np.zeros(cap, np.int64)
        targets = np.zeros(cap, np.int64)
        count = 0
        for t in range(len(src)):
            plane = src_idx[t][ioff:ioff + size]
            ref = np.zeros(size, np.int32)
            skip = np.zeros(1, np.uint8)
            inter = not intra[t]
            if inter:
                prevs = np.stack([src_idx[t - 1 - r] for r in range(min(settings.refs, t))])
                pk._compensate_indices(prevs, ioff, w, h, sx, sy, mvs[t], layout.log2_block,
                                       layout.nbx, ref, 0, h)
                skip = np.zeros(layout.nux * layout.nuy, np.uint8)
            count = pk._gather_index(plane, ref, w, h, rows, inter, skip,
                                     sx, sy, layout.log2_unit, layout.nux, keep, t * 7919 + s,
                                     patterns, targets, count)
        pal.net = train.fit_palette_net(patterns[:count], targets[:count])
