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

    @property
    def size(self) -> int:
        """Bytes of the header and payloads (without container framing)."""
        return len(self.header_bytes) + sum(len(p) for p in self.frames)


def code_group(analysis: GroupAnalysis, first_frame: int, max_error: int, *, threads: int = 1,
               keep_reconstruction: bool = False, reason: int = 0,
               progress: Callable[[int], None] | None = None) -> EncodedGroup:
    """Code an analysed group at ``max_error`` (closed loop); may be called for
    several bounds on one analysis (palettes keep their own, smaller or equal, bound).

    A lossless coding's reconstruction is checked equal to the source frame by
    frame and given back as the source frames themselves: no copy of the group."""
    a, layout = analysis, analysis.layout
    if max_error < a.palette_near:
        raise ValueError(f"group analysed with palettes merged within {a.palette_near} "
                         f"cannot be coded at bound {max_error}")
    if a.dictionary.differences and max_error > 0:
        raise ValueError("a group analysed with plane differences codes losslessly only")
    if a.trial is not None and a.trial[0] == max_error:
        return _reuse(a.trial[1], first_frame, reason, keep_reconstruction, progress)
    model = a.fitted.freeze(layout.bit_depth, MAX_BUCKETS)
    header = GroupHeader(first_frame, len(a.frames), max_error, a.settings.log2_block,
                         layout.n_slices, a.settings.refs, a.dictionary, model, reason,
                         tuple(layout.slice_blocks[:-1]), mixing=a.settings.mixing)
    header_bytes = header.to_bytes()
    # code with exactly what the decoder will read
    header = GroupHeader.from_bytes(header_bytes, a.info, 0)
    state = GroupState(layout, header, threads)
    payloads, recon = [], []
    for t, frame in enumerate(a.frames):
        payload, rec = state.code_frame(True, INTRA if a.intra[t] else INTER, t, src=a.src[t],
                                        src_idx=a.src_idx[t] if a.dictionary.palettes else None,
                                        mv=a.mvs[t].copy())
        payloads.append(payload)
        if max_error == 0:  # lossless: the reconstruction is the source, kept once
            if not np.array_equal(rec, a.src[t]):
                raise RuntimeError(f"lossless coding of frame {first_frame + t} "
                                     "reconstructs other samples")
            recon.append(frame)
        elif keep_reconstruction:
            recon.append(layout.unflatten(rec, frame.pts))
        if progress:
            progress(1)
    return EncodedGroup(header, header_bytes, payloads, recon if keep_reconstruction else None)


def _reuse(trial: EncodedGroup, first_frame: int, reason: int, keep_reconstruction: bool,
           progress: Callable[[int], None] | None) -> EncodedGroup:
    """A coding measured during analysis, placed at ``first_frame``: frame payloads
    do not depend on where the group starts, only its header does."""
    header = replace(trial.header, first_frame=first_frame, reason=reason)
    if progress:
        progress(len(trial.frames))
    return EncodedGroup(header, header.to_bytes(), trial.frames,
                        trial.reconstructed if keep_reconstruction else None)
