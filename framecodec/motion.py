# SPDX-License-Identifier: MIT
"""Motion estimation for a group (encoder only): one vector field per frame.

Vectors are estimated on plane 0 of the *source* frames, each against the
previous source frame; the coder then compensates from the reconstructed
frame, which equals the source when lossless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .kernels import motion as mo

if TYPE_CHECKING:
    from .codec import CodingParams, Layout

__all__ = ["estimate"]


def estimate(layout: Layout, src: list[np.ndarray], params: CodingParams) -> list[np.ndarray]:
    """Vector fields (n_blocks, 2) int64 in quarter samples; frame 0 gets zeros."""
    n_blocks = layout.nbx * layout.nby
    h, w = layout.shapes[0]
    fields = [np.zeros((n_blocks, 2), np.int64)]
    for t in range(1, len(src)):
        mv = np.zeros((n_blocks, 2), np.int64)
        mo._estimate(src[t][: h * w], src[t - 1][: h * w], w, h, layout.log2_block, layout.nbx,
                     layout.nby, params.search_range, params.motion_lambda,
                     1 if params.subpel else 0, fields[-1], mv)
        fields.append(mv)
    return fields
