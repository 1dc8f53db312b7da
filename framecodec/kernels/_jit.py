# SPDX-License-Identifier: MIT
"""The one place numba options are set for every kernel.

Kernels are compiled once and cached on disk (``cache=True``); they release
the GIL (``nogil=True``) so slices and groups can run on several threads.
``fastmath`` stays off: every coded bit must come from exact integer maths.
"""

from numba import njit

JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False, "boundscheck": False}

kernel = njit(**JIT_OPTIONS)
