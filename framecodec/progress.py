# SPDX-License-Identifier: MIT
"""Progress bars (tqdm) for the long commands, silent when not asked for."""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(enabled: bool, total: int | None, what: str, unit: str = "frame"):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=what, disable=not enabled, leave=False,
                dynamic_ncols=True)
