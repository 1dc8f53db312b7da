# SPDX-License-Identifier: MIT
"""numba kernels: integer arithmetic that decides every coded bit.

Nothing here imports from the rest of framecodec; wrappers in the package
validate inputs and allocate outputs, the kernels only compute.
"""
