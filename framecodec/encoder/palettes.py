# SPDX-License-Identifier: MIT
"""Fitting a group's colour dictionary: which plane sets get a palette, and its entries.

Encoder only. The record form of palettes is format/dictionary.py; their
networks are trained in modelfit.py.
"""

from __future__ import annotations

import numpy as np

from ..format.dictionary import color_keys, plane_sets
from ..frames import Frame, VideoInfo
from .settings import EncodeSettings

__all__ = ["fit_palettes", "fit_palette", "to_indices"]


def fit_palettes(info: VideoInfo, frames: list[Frame], settings: EncodeSettings, near: int):
    """(planes, entries, colour -> index) for every plane set that fits a palette."""
    planes_of = [f.planes for f in frames]
    fits = []
    for planes in plane_sets(info.format):
        # one plane's values are an ordered scale: a palette only pays when it is sparse
        limit = settings.palette_max if len(planes) > 1 else \
            min(settings.palette_max, (info.format.max_value + 1) // 8)
        fit = fit_palette(planes_of, planes, limit, near)
        if fit is not None:
            fits.append((planes, *fit))
    return fits


def fit_palette(frames, planes: tuple[int, ...], max_entries: int,
                near: int) -> tuple[np.ndarray, dict] | None:
    """Entries for a plane set, or None when it needs more than ``max_entries``.

    Lossless: the distinct colours. With ``near``, colours are taken by
    decreasing frequency and each joins the first entry within ``near`` of it
    in every sample, or starts a new one. Returns (entries, colour -> entry).
    """
    found: dict[int, int] = {}
    for f in frames:  # count colours frame by frame, stopping early when too many
        keys, counts = np.unique(color_keys(np.stack([f[p].ravel() for p in planes], 1)),
                                 return_counts=True)
        for key, c in zip(keys.tolist(), counts.tolist()):
            found[key] = found.get(key, 0) + c
        if near == 0 and len(found) > max_entries:
            return None
        if len(found) > 64 * max_entries:
            return None
    ordered = sorted(found, key=lambda k: -found[k])
    columns = len(planes)
    values = np.array([[(k >> (16 * (columns - 1 - c))) & 0xFFFF for c in range(columns)]
                       for k in ordered], np.int64).reshape(-1, columns)
    reps: list[np.ndarray] = []
    owner = {}
    for key, colour in zip(ordered, values):
        for e, rep in enumerate(reps):
            if np.abs(rep - colour).max() <= near:
                owner[key] = e
                break
        else:
            owner[key] = len(reps)
            reps.append(colour)
            if len(reps) > max_entries:
                return None
    entries = np.array(reps, np.int64).reshape(-1, columns)
    order = np.argsort(color_keys(entries), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return entries[order].astype(np.uint16), {k: int(rank[e]) for k, e in owner.items()}


def to_indices(frame_planes, planes: tuple[int, ...], mapping: dict) -> np.ndarray:
    """The index plane (int32, flat) of one frame's plane set."""
    keys = color_keys(np.stack([frame_planes[p].ravel() for p in planes], axis=1))
    uniq, inverse = np.unique(keys, return_inverse=True)
    lookup = np.array([mapping[int(k)] for k in uniq.tolist()], np.int32)
    return lookup[inverse]
