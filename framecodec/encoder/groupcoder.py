# SPDX-License-Identifier: MIT
"""Coding an analysed group into its header and frame payloads.

The model is frozen to integers, serialised and parsed back before coding,
so the encoder codes with exactly what the decoder will read (the
CompressAI in-sync lesson); then every frame goes through the same
``GroupState.code_frame`` the decoder runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..coding.state import GroupState
from ..format.group import INTER, INTRA, GroupHeader
from ..frames import Frame
from ..kernels.mlp import MAX_BUCKETS

if TYPE_CHECKING:  # analysis imports this module
    from .analysis import GroupAnalysis

__all__ = ["EncodedGroup", "code_group"]


@dataclass
class EncodedGroup:
    header: GroupHeader
    header_bytes: bytes
    frames: list[bytes]
    reconstructed: list[Frame] | None = None
    # the frames the decoder predicts from, where a pull makes them differ from
    # ``reconstructed`` (the frames shown); None: the same frames
    pulled_frames: list[Frame] | None = None

    @property
    def references(self) -> list[Frame] | None:
        """The frames decoding predicts from (kept with the reconstruction)."""
        return self.reconstructed if self.pulled_frames is None else self.pulled_frames

    @property
    def size(self) -> int:
        """Bytes of the header and payloads (without container framing)."""
        return len(self.header_bytes) + sum(len(p) for p in self.frames)


def code_group(analysis: GroupAnalysis, first_frame: int, max_error: int, *, threads: int = 1,
               keep_reconstruction: bool = False, reason: int = 0,
               progress: Callable[[int], None] | None = None) -> EncodedGroup:
    """Code an analysed group at ``max_error`` (closed loop); may be called for
    several bounds on one analysis (palettes keep their own, smaller or equal, bound).

    A group of several frames codes its sample models at the long rates (FORMAT.md
    6.1); a group of one frame is coded at both and keeps the smaller: which rates
    suit a single frame depends on its content (still photographs 0.4 % smaller at
    the long ones, a screen recording's frames 2 % larger), and coding one frame
    again costs a fraction of training its networks.

    A lossless coding's reconstruction is checked equal to the source frame by
    frame and given back as the source frames themselves: no copy of the group."""
    a = analysis
    if max_error < a.palette_near:
        raise ValueError(f"group analysed with palettes merged within {a.palette_near} "
                         f"cannot be coded at bound {max_error}")
    if a.dictionary.differences and max_error > 0:
        raise ValueError("a group analysed with plane differences codes losslessly only")
    if a.trial is not None and a.trial[0] == max_error:
        return _reuse(a.trial[1], first_frame, reason, keep_reconstruction, progress)
    model = a.fitted.freeze(a.layout.bit_depth, MAX_BUCKETS)
    choices = (True,) if len(a.frames) > 1 else (False, True)
    codings = [_code(a, GroupHeader(first_frame, len(a.frames), max_error, a.settings.log2_block,
                                    a.layout.n_slices, a.settings.refs, a.dictionary, model,
                                    reason, tuple(a.layout.slice_blocks[:-1]),
                                    mixing=a.settings.mixing, long_rates=long_rates,
                                    two_sided=a.two_sided,
                                    pull=max_error if a.pulled else 0),
                     threads, keep_reconstruction)
               for long_rates in choices]
    if progress:
        progress(len(a.frames))
    return min(codings, key=lambda coded: coded.size)


def _code(a: GroupAnalysis, header: GroupHeader, threads: int,
          keep_reconstruction: bool) -> EncodedGroup:
    """Every frame of the group under ``header``."""
    header_bytes = header.to_bytes()
    # code with exactly what the decoder will read
    header = GroupHeader.from_bytes(header_bytes, a.info, 0)
    state = GroupState(a.layout, header, threads)
    payloads, recon, pulled_frames = [], [], []
    for t, frame in enumerate(a.frames):
        payload, shown, predicted_from = state.code_frame(
            True, INTRA if a.intra[t] else INTER, t, src=a.src[t],
            src_idx=a.src_idx[t] if a.dictionary.palettes else None, mv=a.mvs[t].copy())
        payloads.append(payload)
        if header.max_error == 0:  # lossless: the reconstruction is the source, kept once
            if not np.array_equal(shown, a.src[t]):
                raise RuntimeError(f"lossless coding of frame {header.first_frame + t} "
                                   "reconstructs other samples")
            recon.append(frame)
        elif keep_reconstruction:
            recon.append(a.layout.unflatten(shown, frame.pts))
            if header.pull:
                pulled_frames.append(a.layout.unflatten(predicted_from, frame.pts))
    order = header.order  # frames were coded in this order; the container keeps display order
    if order != list(range(len(order))):
        display = np.argsort(order)
        payloads, recon, pulled_frames = ([items[j] for j in display] if items else items
                                          for items in (payloads, recon, pulled_frames))
    return EncodedGroup(header, header_bytes, payloads, recon if keep_reconstruction else None,
                        pulled_frames or None)


def _reuse(trial: EncodedGroup, first_frame: int, reason: int, keep_reconstruction: bool,
           progress: Callable[[int], None] | None) -> EncodedGroup:
    """A coding measured during analysis, placed at ``first_frame``: frame payloads
    do not depend on where the group starts, only its header does."""
    header = replace(trial.header, first_frame=first_frame, reason=reason)
    if progress:
        progress(len(trial.frames))
    return EncodedGroup(header, header.to_bytes(), trial.frames,
                        trial.reconstructed if keep_reconstruction else None,
                        trial.pulled_frames if keep_reconstruction else None)
