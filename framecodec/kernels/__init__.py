# SPDX-License-Identifier: MIT
"""numba kernels: the arithmetic that decides every coded bit (integers, and
the fixed-order floats of training).

Nothing here imports from the rest of framecodec; wrappers in the package
validate inputs and allocate outputs, the kernels only compute.
"""
