# SPDX-License-Identifier: MIT
"""Motion estimation for a group (encoder only): one vector field per frame.

Vectors and reference indices are estimated on plane 0 of the *source*
frames, against the group's previous source frames; the coder then
compensates from the reconstructed frames, which equal the sources when
lossless.
"""

from __future__ import annotations

import numpy as np

from ..format.layout import Layout
from ..kernels import motion as mo
from ..kernels import search
from .settings import EncodeSettings

__all__ = ["estimate", "sampled_blocks", "field", "compensated", "smooth_cost", "search_lambda",
           "fractional_match", "INTER_SHARE"]

# A frame is coded intra when motion compensation leaves more than this share
# of what spatial prediction leaves (a scene cut, a flash, an inverted frame):
# the network predicts inter frames far better than block costs suggest, hence > 1.
INTER_SHARE = 4.0
LOSSLESS_LAMBDA, BOUNDED_LAMBDA = 3, 4  # search_lambda's defaults


def smooth_cost(max_error: int) -> bool:
    """Whether motion search prices a block's residuals by their magnitudes and
    their differences along the row (search._block_cost) or by the SAD alone.
    Measured on the corpus (60 frames) against the SAD: lossless 1.3 % smaller
    (every clip, bikes 3.4 %, lebiniou 1.1 %), bound 1 0.4 % smaller, bound 2
    0.6 % larger (steps of 5 quantise away the small differences it sees)."""
    return max_error <= 1


def fractional_match(settings: EncodeSettings) -> bool:
    """Whether a block whose fractional predicted vector leaves no residual in the
    nearest reference takes it there unsearched, as a whole-sample one does in any
    reference: lossless and at bound 1, where it made the corpus and extra clips
    smaller in total (search._exact_reference has the figures); bound 2 lost."""
    return settings.subpel and settings.max_error <= 1


def search_lambda(settings: EncodeSettings) -> int:
    """The weight of a vector's estimated bits in motion search: the settings', or
    when that is 0 the bound's. Lossless 3: against 4, the corpus (60 frames) 0.47 %
    smaller, in groups of 30 frames too; 1 was 0.06 % smaller still on the corpus but
    larger with groups of 30 and on the HD and RGB clips. With a bound 4: bound 1 at 3
    came out 0.14 % larger, bound 2 at 1 0.84 % larger (docs/NOTES.md)."""
    if settings.motion_lambda:
        return settings.motion_lambda
    return LOSSLESS_LAMBDA if settings.max_error == 0 else BOUNDED_LAMBDA


def estimate(layout: Layout, src: list[np.ndarray], settings: EncodeSettings,
             shown: list[int] | None = None,
             step: int = 1) -> tuple[list[np.ndarray], list[bool]]:
    """Per frame of ``src`` (in coding order; ``shown``: each one's place in display
    order, None: the same) a motion field (kernels/motion.py ``MV_FIELDS``; zeros for
    intra frames) and whether the frame is better coded intra. Where frames are coded
    out of display order (two-sided groups) blocks may be bi-predicted. ``step`` > 1
    searches only one block in ``step`` (``sampled``), for an estimate."""
    if not settings.inter:  # --intra-only: nothing to search
        return [field(layout) for _ in src], [True] * len(src)
    shown = list(range(len(src))) if shown is None else shown
    bi = shown != sorted(shown)
    h, w = layout.shapes[0]
    share = sampled_blocks(layout, step).mean()  # of plane 0's samples, about
    fields = [field(layout)]
    intra = [True]
    # the previous plane-0 pictures with their half samples, newest first: one
    # array whose slots are reused (no copy of the references per frame)
    refs = np.zeros((settings.refs, 4, h * w), np.uint16)
    for t in range(1, len(src)):
        n_refs = min(t, settings.refs)
        slot = (t - 1) % settings.refs  # frame t - 1 replaces the oldest
        search._half_planes(src[t - 1][: h * w], w, h, layout.max_value, refs[slot])
        order = np.array([(t - 1 - r) % settings.refs for r in range(n_refs)], np.int64)
        dist = np.array([shown[t] - shown[t - 1 - r] for r in range(n_refs)], np.int64)
        mv = field(layout)
        cost = search._estimate(src[t][: h * w], refs, order, n_refs, dist, bi, w, h,
                                layout.log2_block, layout.nbx, layout.nby,
                                settings.search_range, search_lambda(settings),
                                smooth_cost(settings.max_error),
                                1 if settings.subpel else 0,
                                1 if fractional_match(settings) else 0, fields[-1], mv, step)
        spatial = search._intra_cost(src[t][: h * w], w, h) * share
        intra.append(cost > INTER_SHARE * spatial)
        fields.append(mv)
    return fields, intra


def sampled_blocks(layout: Layout, step: int) -> np.ndarray:
    """Which blocks (a flag per block, raster order) a search by ``step`` covers:
    every ``step``-th block row (search.sampled)."""
    by, bx = np.divmod(np.arange(layout.nbx * layout.nby), layout.nbx)
    return by % step == 0


def field(layout: Layout) -> np.ndarray:
    """A motion field of zero vectors into the newest reference, none bi-predicted."""
    return np.zeros((layout.nbx * layout.nby, mo.MV_FIELDS), np.int64)


def compensated(layout: Layout, frames, t: int, mv: np.ndarray, refs: int, current: np.ndarray,
                max_error: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t's prediction from the ``refs`` frames of ``frames`` before it (the
    source or a reconstruction) by its field ``mv``, and the units of ``current``
    it matches within ``max_error`` in every plane, which the coder skips."""
    ref = np.zeros(layout.size, np.uint16)
    prevs = np.stack([frames[t - 1 - r] for r in range(min(refs, t))])
    mo._compensate(prevs, layout.geom, layout.n_planes, mv, layout.log2_block, layout.nbx,
                   layout.max_value, ref, 0, layout.nby)
    skip = np.zeros(layout.nux * layout.nuy, np.uint8)
    mo._skip_map(current, ref, layout.geom, layout.n_planes, layout.log2_unit, layout.nux,
                 layout.nuy, max_error, skip)
    return ref, skip
