# SPDX-License-Identifier: MIT
"""The one place numba options are set for every kernel.

Kernels are compiled once and cached on disk (``cache=True``); they release
the GIL (``nogil=True``) so slices and groups can run on several threads.
``fastmath`` stays off: every coded bit must come from exact integer maths.

``inline`` marks the small helpers called once or more per sample (a binary
decision, a neighbour, an interpolation tap). numba calls one compiled
function from another through its own calling convention (every array a
struct of fields, every call a status check) and LLVM does not inline across
them: measured, a 3-load helper cost 10-16 ns per call, inlined 1 ns.
"""

from numba import njit

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "boundscheck": False}

kernel = njit(**JIT_OPTIONS)
inline = njit(**JIT_OPTIONS, inline="always")
