# SPDX-License-Identifier: MIT
"""Fitting a group's colour dictionary: which plane sets get a palette, and its entries.

Encoder only. The record form of palettes is format/dictionary.py; their
networks are trained in modelfit.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..format.dictionary import MAX_ENTRIES, color_keys, plane_sets
from ..frames import Frame, VideoInfo
from ..kernels.colours import merge_colours
from .settings import EncodeSettings

__all__ = ["PaletteFit", "palette_limits", "fit_palettes", "colours_weighed", "fit_palette",
           "first_frame_colours", "palette_candidates", "paying_fits", "index_bits",
           "escape_count", "escape_bits", "CHROMA_PALETTE_MAX"]

# A chroma pair of a subsampled format is smooth and cheap to code sample by
# sample: palettes of its 600 to 4,500 pairs made every corpus clip larger
# (the animation 11 %, the others 15 to 67 %), so it keeps the former limit.
CHROMA_PALETTE_MAX = 256


@dataclass(frozen=True)
class PaletteFit:
    """A plane set's palette and where each source colour goes in it."""

    planes: tuple[int, ...]
    entries: np.ndarray  # (K, len(planes)) uint16, in increasing colour-key order
    keys: np.ndarray  # the group's distinct source colours, as sorted colour keys
    index: np.ndarray  # the entry of each of them (int32)

    def indices(self, frame_planes) -> np.ndarray:
        """The index plane (int32, flat) of one frame of the group."""
        keys = _frame_keys(frame_planes, self.planes)
        return self.index[np.searchsorted(self.keys, keys)]


def palette_limits(info: VideoInfo, settings: EncodeSettings) -> list[tuple[tuple[int, ...], int]]:
    """Every plane set that may get a palette, with the most entries it may have."""
    out = []
    for planes in plane_sets(info.format):
        limit = settings.palette_max
        if len(planes) == 1:  # an ordered scale: a palette only pays when it is sparse
            limit = min(limit, (info.format.max_value + 1) // 8)
        elif 0 not in planes:
            limit = min(limit, CHROMA_PALETTE_MAX)
        out.append((planes, limit))
    return out


def fit_palettes(info: VideoInfo, frames: list[Frame], settings: EncodeSettings,
                 near: int) -> list[PaletteFit]:
    """A fit for every plane set whose colours fit a palette."""
    planes_of = [f.planes for f in frames]
    fits = []
    for planes, limit in palette_limits(info, settings):
        fit = fit_palette(planes_of, planes, limit, near)
        if fit is not None:
            fits.append(fit)
    return fits


def first_frame_colours(frames, planes: tuple[int, ...]) -> int:
    """How many distinct colours the plane set has in the group's first frame: at most
    as many as a lossless palette of the group has entries, found in a fraction of the
    time counting every frame takes."""
    return len(np.unique(_frame_keys(frames[0], planes))) if frames else 0


def colours_weighed(max_entries: int, near: int) -> int:
    """The most distinct colours a fit weighs: a lossless palette's entries, or colours
    that may merge into them (``fit_palette``)."""
    return max_entries if near == 0 else min(64 * max_entries, MAX_ENTRIES)


def fit_palette(frames, planes: tuple[int, ...], max_entries: int, near: int) -> PaletteFit | None:
    """The palette of a plane set, or None when it needs more than ``max_entries``.

    Lossless: the distinct colours. With ``near``, colours are taken by
    decreasing frequency (ties: in order of first appearance, frame by frame
    and by colour key) and each joins the first entry within ``near`` of it
    in every sample, or starts a new one; at most 64 times ``max_entries``
    colours, and never more than a palette can hold, are weighed (merging
    compares each with every entry made).
    """
    counted = _count_colours(frames, planes, colours_weighed(max_entries, near))
    if counted is None:
        return None
    keys, counts, first_frame = counted
    order = np.lexsort((keys, first_frame, -counts))  # the last key sorts first
    columns = len(planes)
    shifts = np.array([16 * (columns - 1 - c) for c in range(columns)], np.uint64)
    values = ((keys[order, None] >> shifts) & np.uint64(0xFFFF)).astype(np.int64)
    if near == 0:
        owner = np.arange(len(order), dtype=np.int32)
        reps = values
    else:
        owner = np.empty(len(order), np.int32)
        firsts = np.empty(max_entries, np.int32)
        n_entries = merge_colours(np.ascontiguousarray(values), near, owner, firsts)
        if n_entries < 0:
            return None
        reps = values[firsts[:n_entries]]
    rank = np.empty(len(reps), np.int32)
    rank[np.argsort(color_keys(reps), kind="stable")] = np.arange(len(reps), dtype=np.int32)
    index = np.empty(len(keys), np.int32)
    index[order] = rank[owner]
    entries = np.empty_like(reps)
    entries[rank] = reps
    return PaletteFit(tuple(planes), entries.astype(np.uint16), keys, index)


def _frame_keys(frame_planes, planes) -> np.ndarray:
    return color_keys(np.stack([frame_planes[p].ravel() for p in planes], axis=1))


def _count_colours(frames, planes, limit: int):
    """(sorted distinct colour keys, their counts, the first frame of each), or
    None as soon as there are more than ``limit``.

    After the first frame only the samples that changed are counted: the frame's
    counts are the previous frame's plus its new colours there minus the old ones
    (on a screen recording, a frame changes in a few percent of its samples, and
    sorting every sample of every frame was most of the palette's cost)."""
    keys = counts = first = frame_counts = previous = None
    for t, f in enumerate(frames):
        now = _frame_keys(f, planes)
        if previous is None:
            keys, frame_counts = np.unique(now, return_counts=True)
            frame_counts = frame_counts.astype(np.int64)
            counts = np.zeros(len(keys), np.int64)
            first = np.zeros(len(keys), np.int64)
        else:
            changed = now != previous
            added, n_added = np.unique(now[changed], return_counts=True)
            gone, n_gone = np.unique(previous[changed], return_counts=True)
            new = added[~np.isin(added, keys, assume_unique=True)]
            if len(new):
                merged = np.concatenate([keys, new])
                order = np.argsort(merged, kind="stable")
                keys = merged[order]
                counts = np.concatenate([counts, np.zeros(len(new), np.int64)])[order]
                frame_counts = np.concatenate([frame_counts,
                                               np.zeros(len(new), np.int64)])[order]
                first = np.concatenate([first, np.full(len(new), t, np.int64)])[order]
            frame_counts[np.searchsorted(keys, added)] += n_added
            frame_counts[np.searchsorted(keys, gone)] -= n_gone
        counts += frame_counts
        previous = now
        if len(keys) > limit:
            return None
    if keys is None:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return keys, counts, first


def palette_candidates(info: VideoInfo, frames: list[Frame], settings: EncodeSettings,
                       near: int) -> list[tuple[tuple[int, ...], int, int]]:
    """(planes, most entries, the first frame's colours) of every plane set that may fit a
    palette: not one with more colours in its first frame than a fit weighs."""
    planes_of = [f.planes for f in frames]
    out = []
    for planes, limit in palette_limits(info, settings):
        first = first_frame_colours(planes_of, planes)
        if first <= colours_weighed(limit, near):
            out.append((planes, limit, first))
    return out


def paying_fits(frames: list[Frame], candidates, near: int, budget: int) -> list[PaletteFit]:
    """The fits of ``palette_candidates`` worth a trial coding against a plain coding of
    ``budget`` bits: none when their escapes alone (``escape_bits``) would cost that much.

    A lossless set whose escapes would cost it even at its first frame's colour count
    (a lossless palette has at least those entries) is not fitted: counting the colours
    of every frame is what fitting costs (a tenth of the message-board screencast's
    encode), the escapes a fraction of it."""
    planes_of = [f.planes for f in frames]
    fits, escapes = [], 0
    for planes, limit, first in candidates:
        count = None  # the set's escape positions, when counted to the end
        if near == 0 and index_bits(first) > 0:
            need = -(-budget // index_bits(first))
            count = escape_count(planes_of, planes, stop_at=need)
            if count >= need:
                continue
        fit = fit_palette(planes_of, planes, limit, near)
        if fit is None:
            continue
        fits.append(fit)
        if count is None:
            escapes += escape_bits(fit, planes_of, stop_at=budget - escapes)
        else:
            escapes += index_bits(len(fit.entries)) * count
        if escapes >= budget:
            return []
    return fits


def index_bits(n_entries: int) -> int:
    """What an escape costs beyond the first four bits of its index (whose contexts
    adapt; the later ones cost about a bit each); 0 for small palettes."""
    return max(0, max(1, (n_entries - 1).bit_length()) - 4)


def escape_count(frames, planes: tuple[int, ...], stop_at: int | None = None) -> int:
    """Positions whose colour is none of W, N, NW, NE and the previous frame's at the
    same place: what a palette of the plane set must code as escapes. With
    ``stop_at``, counting stops after the frame that reaches it (the result is then
    at least ``stop_at``)."""
    escapes = 0
    previous = None
    for f in frames:
        if stop_at is not None and escapes >= stop_at:
            break
        keys = _frame_keys(f, planes).reshape(f[planes[0]].shape)
        matched = np.zeros(keys.shape, bool)
        matched[:, 1:] |= keys[:, 1:] == keys[:, :-1]
        matched[1:, :] |= keys[1:, :] == keys[:-1, :]
        matched[1:, 1:] |= keys[1:, 1:] == keys[:-1, :-1]
        matched[1:, :-1] |= keys[1:, :-1] == keys[:-1, 1:]
        if previous is not None:
            matched |= keys == previous
        escapes += int(matched.size - np.count_nonzero(matched))
        previous = keys
    return escapes


def escape_bits(fit: PaletteFit, frames, stop_at: int | None = None) -> int:
    """About what the palette's escapes alone would cost (``escape_count`` times
    ``index_bits``). ``auto`` skips a palette this already makes larger than the
    group coded without it; with ``stop_at``, counting stops once the bits reach
    it (the result is then at least ``stop_at``)."""
    bits = index_bits(len(fit.entries))
    if bits <= 0:
        return 0
    return bits * escape_count(frames, fit.planes, None if stop_at is None else -(-stop_at // bits))
