# SPDX-License-Identifier: MIT
"""Integer records (networks of the group header) coded with the range coder.

A record is a sequence of integer arrays, each coded value by value with the
signed binarisation of kernels/symbols.py in the context set of its *class*
(hidden weights, output weights, biases, ...): values of one class share
statistics across every network of the record, which is what makes the
record smaller than a general-purpose compressor can (docs/FORMAT.md 4.3).
"""

from __future__ import annotations

import numpy as np

from ..kernels import rangecoder as rc
from ..kernels.symbols import SET_SIZE, _code_values

__all__ = ["RecordWriter", "RecordReader"]


class RecordWriter:
    """Collects arrays by class; ``getvalue`` codes them in one substream."""

    def __init__(self, n_classes: int, warm_up: bool = True):
        """``warm_up``: whether the models count their first decisions (format 2.5 on;
        earlier records are written only by tests)."""
        self._n_classes = n_classes
        self._warm_up = warm_up
        self._parts: list[tuple[int, np.ndarray, int]] = []

    def ints(self, cls: int, max_exp: int, values) -> RecordWriter:
        """Values of class ``cls``, each of magnitude below ``2**(max_exp + 1)``."""
        values = np.asarray(values, np.int64).ravel()
        if values.size and np.abs(values).max() >= 1 << (max_exp + 1):
            raise ValueError(f"record value out of range for class {cls}")
        self._parts.append((cls, values, max_exp))
        return self

    def getvalue(self) -> bytes:
        probs = rc.new_probs(self._n_classes * SET_SIZE, self._warm_up)

        def code(st, buf):
            for cls, values, max_exp in self._parts:
                _code_values(True, values, cls * SET_SIZE, max_exp, probs, st, buf)

        total = sum(v.size for _, v, _ in self._parts)
        return rc.encode_substream(code, 4 * total + 64, [probs])


class RecordReader:
    """Decodes the arrays in the order they were written; ``finish`` checks the end."""

    def __init__(self, data: bytes, n_classes: int, what: str, warm_up: bool = True):
        """``warm_up``: as the writer's models (format 2.5 on; kernels/rangecoder.py)."""
        self._coder = rc.RangeDecoder(data, what)
        self._probs = rc.new_probs(n_classes * SET_SIZE, warm_up)

    def ints(self, cls: int, max_exp: int, n: int) -> np.ndarray:
        out = np.zeros(n, np.int64)
        _code_values(False, out, cls * SET_SIZE, max_exp, self._probs, self._coder.st,
                     self._coder.buf)
        self._coder.check_complete()
        return out

    def finish(self) -> None:
        """A complete record is read to its last byte, and at most 4 bytes past it."""
        self._coder.check_complete(used_up=True)
