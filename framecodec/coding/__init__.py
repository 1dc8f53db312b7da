# SPDX-License-Identifier: MIT
"""The symmetric group machine: what the decoder needs, and nothing else.

state.py runs one frame through the kernels in either direction,
tables.py puts a group's palettes into kernel form, decoder.py decodes
groups and is the one loop every reader of frames uses (API, verify, info,
tune). Nothing here imports the encoder or torch.
"""
