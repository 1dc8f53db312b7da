# SPDX-License-Identifier: MIT
"""Progress bars (tqdm) for the long commands, silent when not asked for."""

from __future__ import annotations

__all__ = ["progress_bar"]


class _Silent:
    """The part of a tqdm bar the commands use, doing nothing: a silent run does
    not import tqdm (a few milliseconds of every short API call)."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        pass


def progress_bar(enabled: bool, total: int | None, what: str, unit: str = "frame"):
    if not enabled:
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=what, leave=False, dynamic_ncols=True)
