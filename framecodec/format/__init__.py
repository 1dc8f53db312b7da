# SPDX-License-Identifier: MIT
"""Bytes <-> records, no decisions: everything docs/FORMAT.md describes as layout.

bitstream.py (fields), container.py (chunks, index, stream header, audio
record), layout.py (planes, blocks, slices), group.py (group header),
records.py (range-coded integer records), model.py (networks),
dictionary.py (colour dictionaries). Parsing validates before it allocates;
nothing here chooses how to code.
"""
