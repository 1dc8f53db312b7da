# SPDX-License-Identifier: MIT
"""Merging a palette's colours within an error bound (encoder only).

With ``--max-error N`` a palette entry may stand for every colour within N
of it in each sample. The encoder takes a group's distinct colours by
decreasing frequency and gives each to the first entry within N, or makes it
a new entry: a greedy pass whose result depends on that order, so it runs
here, one colour at a time, instead of as numpy calls per colour (which made
a 3,600-colour palette take seconds).
"""

from ._jit import kernel


@kernel
def merge_colours(colours, near, owner, firsts):
    """Give each row of ``colours`` (most frequent first) to an entry:
    ``owner[i]`` is the entry's number, entries numbered as made, entry e
    being colour ``firsts[e]``. Returns the number of entries, or -1 as soon
    as there would be more than ``len(firsts)``."""
    n_colours, columns = colours.shape
    n_entries = 0
    for i in range(n_colours):
        found = -1
        for e in range(n_entries):
            r = firsts[e]
            close = True
            for c in range(columns):
                d = colours[i, c] - colours[r, c]
                if d > near or d < -near:
                    close = False
                    break
            if close:
                found = e
                break
        if found < 0:
            if n_entries == firsts.shape[0]:
                return -1
            found = n_entries
            firsts[n_entries] = i
            n_entries += 1
        owner[i] = found
    return n_entries
