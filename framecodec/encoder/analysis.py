# SPDX-License-Identifier: MIT
"""Analysing a group: motion, palettes and trained networks, each choice measured.

The slow part of encoding a group. Where the encoder has a choice between
alternatives (palettes on or off, model sizes, a closed-loop refit), it codes
the group each way and keeps the smaller coding; that coding is kept with the
analysis so ``code_group`` does not code it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..format.dictionary import ColorDictionary, Palette, differences_allowed
from ..format.layout import FlatFrames, Layout
from ..frames import Frame, VideoInfo
from . import colour, modelfit, motion, slicing
from .groupcoder import EncodedGroup, code_group
from .order import choose_order
from .palettes import fit_palettes, palette_candidates, paying_fits
from .settings import EncodeSettings

__all__ = ["GroupAnalysis", "analyse_group", "default_slices"]


def default_slices(info: VideoInfo) -> int:
    """About one slice per 64k samples of plane 0, at most 8 (FFV1 uses 4 on SD), and
    at least 2 from 128 rows up, so two threads share every frame (it costs about
    0.5 % of a small clip's size; thumbnails keep one)."""
    least = 2 if info.height >= 128 else 1
    return max(least, min(8, (info.width * info.height) // 65536))


@dataclass
class GroupAnalysis:
    """What coding a group needs besides an error bound: its frames as flat
    buffers, palettes and index planes, motion, frame kinds and trained
    predictors."""

    info: VideoInfo
    frames: list[Frame]
    layout: Layout
    src: Sequence[np.ndarray]  # FlatFrames of ``frames``
    mvs: list[np.ndarray]
    intra: list[bool]
    fitted: modelfit.FittedNets
    settings: EncodeSettings
    dictionary: ColorDictionary
    src_idx: list[np.ndarray]
    palette_near: int = 0  # the error palettes introduce: coding needs at least this bound
    trial: tuple[int, EncodedGroup] | None = None  # (bound, coding) measured during analysis
    # where each of ``frames`` (in coding order) is shown: display order, or two-sided
    order: list[int] | None = None
    # with a bound, whether codings pull samples by the whole bound (FORMAT.md 6.5.5)
    pulled: bool = False

    @property
    def two_sided(self) -> bool:
        return self.order is not None and self.order != sorted(self.order)

    def shown_frames(self) -> list[Frame]:
        """``frames`` in display order, as ``code_group`` gives its reconstruction."""
        if not self.two_sided:
            return self.frames
        return [self.frames[j] for j in np.argsort(self.order)]


def analyse_group(info: VideoInfo, frames: list[Frame], settings: EncodeSettings, *,
                  palette_near: int | None = None) -> GroupAnalysis:
    """Motion estimation, palettes and training for a group.

    ``palette_near`` is how far palette colours may merge (None: the bound;
    0 keeps palettes exact, for bounds searched later). With ``palette="auto"``
    a group whose plane sets fit a palette is analysed and coded both ways and
    the smaller coding is kept (measured, not guessed), unless the palettes'
    escapes alone would already cost more than the coding without them
    (``paying_fits``).
    """
    near = settings.max_error if palette_near is None else palette_near
    if not 0 <= near <= settings.max_error:
        raise ValueError("palette colours may merge only within the error bound")
    layout = Layout(info, settings.log2_block, settings.slices or default_slices(info))
    # (a group whose bound is searched later is coded with one)
    order = choose_order(layout, frames, settings,
                         lossless=settings.max_error == 0 and palette_near is None)
    frames = [frames[i] for i in order]  # from here on, in coding order
    src = FlatFrames(layout, frames, keep=settings.refs + 2)  # a frame and its references
    mvs, intra = motion.estimate(layout, src, settings, order)
    starts = slicing.balanced_starts(layout, src, mvs, intra, settings.max_error, settings.refs)
    layout = Layout(info, settings.log2_block, layout.n_slices, starts)
    if settings.palette == "on":
        fits = fit_palettes(info, frames, settings, near)
        if fits:
            return _analyse(info, frames, settings, layout, src, mvs, intra, fits, near,
                            order=order)
    differences = _differences(info, frames, settings, palette_near)
    plain_src = FlatFrames(layout, frames, keep=settings.refs + 2, differences=True) \
        if differences else src
    plain = _analyse(info, frames, settings, layout, plain_src, mvs, intra, [], 0, differences,
                     order)
    if settings.palette != "auto":
        return plain
    candidates = palette_candidates(info, frames, settings, near)
    if not candidates:
        return plain
    budget = 8 * _coded_size(plain, settings.max_error)  # in bits
    fits = paying_fits(frames, candidates, near, budget)
    if not fits:
        return plain  # no palette, or their escapes alone would cost more: not worth a trial
    with_palettes = _analyse(info, frames, settings, layout, src, mvs, intra, fits, near,
                             order=order)
    return with_palettes if 8 * _coded_size(with_palettes, settings.max_error) < budget \
        else plain


def _coded_size(analysis: GroupAnalysis, max_error: int) -> int:
    """Code the group to measure it; the coding is kept for ``code_group`` to reuse."""
    coded = code_group(analysis, 0, max_error, keep_reconstruction=True)
    analysis.trial = (max_error, coded)
    return len(coded.header_bytes) + sum(len(p) for p in coded.frames)


def _differences(info: VideoInfo, frames: list[Frame], settings: EncodeSettings,
                 palette_near: int | None) -> bool:
    """Whether the group codes planes 1 and 2 as differences from plane 0: lossless
    groups only (a group whose bound is searched later is analysed without), of a
    format that allows it, where the setting asks for it or the estimate prefers it."""
    if settings.max_error > 0 or palette_near is not None or settings.differences == "off" \
            or not differences_allowed(info.format):
        return False
    return settings.differences == "on" or colour.prefer_differences(info, frames)


def _analyse(info, frames, settings, layout, src, mvs, intra, fits, near,
             differences=False, order=None) -> GroupAnalysis:
    palettes = [Palette(fit.planes, fit.entries) for fit in fits]
    src_idx = [np.zeros(1, np.int32)] * len(frames)
    if fits:
        src_idx = [np.concatenate([fit.indices(f.planes) for fit in fits]) for f in frames]
    dictionary = ColorDictionary(palettes, layout.n_planes, differences)
    skip_planes = {p for fit in fits for p in fit.planes}
    candidates = modelfit.fit_group_nets(layout, src, mvs, intra, settings, skip_planes)
    if fits:
        modelfit.fit_palette_nets(layout, dictionary, src, src_idx, mvs, intra, settings)
    # with a bound, model sizes are compared on pulled codings unless the pull is off:
    # the sizes' ranking can differ with and without it (surveillance at bound 4, one
    # group: 431,726 bytes with the size chosen unpulled, 415,747 pulled)
    sizes_pulled = settings.max_error > 0 and settings.pull != "off" \
        and bool(candidates[0].nets)
    analyses = [GroupAnalysis(info, frames, layout, src, mvs, intra, fitted, settings,
                              dictionary, src_idx, near, order=order, pulled=sizes_pulled)
                for fitted in candidates]
    if len(analyses) > 1 or settings.max_error > 0:  # near-lossless refits from a coding
        chosen = min(analyses, key=lambda a: _coded_size(a, settings.max_error))  # measured
    else:
        chosen = analyses[0]
    if settings.max_error == 0 or not chosen.fitted.nets:
        return chosen
    if settings.pull == "auto" and settings.bounded_starts == 1:
        chosen = _pull_or_not(chosen, settings.max_error)
    # near-lossless: each random start (sizes swing with it) trains a first pass
    # and a refit on the contexts the decoder will see; the smallest coding is kept
    best = chosen
    for seed, pulled in _starts(settings, chosen.pulled):
        first = chosen if seed == 0 else replace(
            chosen, fitted=modelfit.fit_again(layout, chosen.fitted, settings, seed), trial=None)
        pulled = best.pulled if pulled is None else pulled
        if first.pulled != pulled:
            first = replace(first, pulled=pulled, trial=None)
        _coded_size(first, settings.max_error)
        rec = FlatFrames(layout, first.trial[1].references, keep=settings.refs + 2)
        refit = modelfit.refit_closed_loop(layout, src, rec, mvs, intra, settings,
                                           chosen.fitted.hidden, skip_planes, seed)
        best = _smallest([best, first, replace(first, fitted=refit, trial=None)],
                         settings.max_error, keep_data=chosen.fitted)
    chosen.fitted.release_data()  # every start is trained
    return best


def _starts(settings: EncodeSettings, pulled: bool) -> list[tuple[int, bool | None]]:
    """The (random start, pull) of each first pass and retraining, None: the pull of
    the smallest coding so far. Predicting from samples pulled towards their
    predictions (FORMAT.md 6.5.5) pays on camera footage and at large bounds
    (development corpus, one start each: bound 2 bikes -8.9 %, surveillance -5.6 %;
    bound 4 -4 to -16 % on every clip) and costs on sharp content at bound 1 (the
    animation clip +5 %, the screen clip +8 %). With ``pull = auto`` and several
    starts the first start is coded and retrained both ways: compared across two
    starts, the pull would be lost in their swings. ``pulled``: the analysis's (its
    model size compared pulled unless the pull is off; with a single start,
    ``_pull_or_not``'s choice)."""
    if settings.pull == "auto" and settings.bounded_starts > 1:  # (the analysis's coding first)
        return [(0, pulled), (0, not pulled)] + [(seed, None)
                                                 for seed in range(1, settings.bounded_starts - 1)]
    return [(seed, pulled) for seed in range(settings.bounded_starts)]


def _pull_or_not(analysis: GroupAnalysis, max_error: int) -> GroupAnalysis:
    """The analysis (coded already, pulled or not) coded the other way too, whichever
    coding is smaller, unpulled on a tie: how a single start chooses (a first coding
    can mislead: at bound 1 the animation clip's came out smaller with the pull, its
    retrained coding 5 % larger)."""
    other = replace(analysis, pulled=not analysis.pulled, trial=None)
    unpulled, pulled = (other, analysis) if analysis.pulled else (analysis, other)
    best = min((unpulled, pulled), key=lambda a: _coded_size(a, max_error))
    (pulled if best is unpulled else unpulled).trial = None
    return best


def _smallest(analyses: list[GroupAnalysis], max_error: int,
              keep_data: modelfit.FittedNets) -> GroupAnalysis:
    """The analysis whose coding is smallest (the first of equals); the others'
    codings are dropped, since each keeps a reconstruction of the group, and so
    are the training sets of every model coded (frozen) but ``keep_data``."""
    best = min(analyses, key=lambda a: _coded_size(a, max_error))
    for a in analyses:
        if a is not best:
            a.trial = None
        if a.fitted is not keep_data:
            a.fitted.release_data()
    return best
