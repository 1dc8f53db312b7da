# SPDX-License-Identifier: MIT
"""Palette coding: index planes coded as "equal to which neighbour?".

A *palette set* is one or more planes of equal geometry whose colours (the
tuples of their samples at a position) are coded as indices into the group's
colour dictionary. Each index is coded against up to five candidates, in
order: W, N, NW, NE (already decoded indices of the set) and R (the index of
the motion-compensated previous frame, inter frames only). Unavailable
candidates and repeats of an earlier candidate are passed over; for each
remaining one a binary flag says "this one"; when none matches, the index
is coded in binary (an *escape*), or, from format 2.2, as its rank in the
slice's list of recently used indices when it is there (``_code_recent``).

Each flag's adaptive context is chosen by the group's palette network from
the *pattern*: twelve bits of which candidates exist and which are equal
(``_pattern``). The decoder evaluates the network once per group for all
4096 patterns (``lut``), so per sample it costs one table lookup.
"""

import numpy as np

from ._jit import allocating, inline, kernel
from .rangecoder import _dec_bit, _enc_bit

N_CAND = 5
N_PATTERNS = 1 << 12
N_LEVELS = 8  # context buckets of a flag's predicted log-odds
FLAG_CONTEXTS = N_CAND * N_LEVELS
ESCAPE_PREFIX = 15  # contexts of the first four escape bits (a binary tree)
ESCAPE_BITS = 16
RECENT_SIZE = 128  # indices a slice's recency list holds (format 2.2; 0 before)
RECENT_BITS = 7  # log2(RECENT_SIZE): a rank is coded down a binary tree of that depth
RECENT_FLAG = FLAG_CONTEXTS + ESCAPE_PREFIX + ESCAPE_BITS  # "the index is in the list"
RECENT_RANK = RECENT_FLAG + 1  # the tree's RECENT_SIZE - 1 nodes
PALETTE_CONTEXTS = RECENT_RANK + RECENT_SIZE - 1


@inline
def _pattern(idx, ref_idx, i, x, y, w, ys, inter, cand, avail):
    """Fill the candidates (W, N, NW, NE, R) of flat position i; return the pattern bits."""
    has_w = x > 0
    has_n = y > ys
    has_ne = has_n and x + 1 < w
    avail[0] = has_w
    avail[1] = has_n
    avail[2] = has_n and has_w
    avail[3] = has_ne
    avail[4] = inter
    cand[0] = idx[i - 1] if has_w else -1
    cand[1] = idx[i - w] if has_n else -1
    cand[2] = idx[i - w - 1] if (has_n and has_w) else -1
    cand[3] = idx[i - w + 1] if has_ne else -1
    cand[4] = ref_idx[i] if inter else -1
    bits = 0
    k = 0
    for a in range(N_CAND - 1):
        for b in range(a + 1, N_CAND):
            if avail[a] and avail[b] and cand[a] == cand[b]:
                bits |= 1 << k
            k += 1
    # k == 10 here: ten pairwise equalities; then whether N and R exist
    if has_n:
        bits |= 1 << 10
    if inter:
        bits |= 1 << 11
    return bits


@inline
def _is_new(k, avail, cand):
    """Whether candidate k exists and differs from every earlier existing one."""
    if not avail[k]:
        return False
    for j in range(k):
        if avail[j] and cand[j] == cand[k]:
            return False
    return True


@inline
def _code_escape(encode, value, n_bits, probs, base, st, buf):
    """An index in n_bits binary digits, most significant first."""
    node = 1
    out = 0
    for b in range(n_bits - 1, -1, -1):
        pos = n_bits - 1 - b
        ctx = base + (node - 1 if pos < 4 else ESCAPE_PREFIX + min(b, ESCAPE_BITS - 1))
        if encode:
            bit = (value >> b) & 1
            _enc_bit(st, buf, probs, ctx, bit)
        else:
            bit = _dec_bit(st, buf, probs, ctx)
        out = (out << 1) | bit
        if pos < 4:
            node = 2 * node + bit
    return out


@inline
def _is_candidate(value, avail, cand):
    for k in range(N_CAND):
        if avail[k] and cand[k] == value:
            return True
    return False


@inline
def _find_recent(recent, avail, cand, value, rank):
    """Walk the entries of ``recent`` that are no available candidate (none of
    them is an escaped index): with ``rank`` < 0, the rank of ``value`` among
    them; else the entry at ``rank``. -1 when there is none."""
    seen = 0
    for j in range(recent.shape[0]):
        e = recent[j]
        if e < 0 or _is_candidate(e, avail, cand):
            continue
        if rank < 0 and e == value:
            return seen
        if rank >= 0 and seen == rank:
            return e
        seen += 1
    return -1


@inline
def _code_recent(encode, value, recent, probs, st, buf, cand, avail):
    """An escaped index as its rank in the recency list (``_find_recent``): a
    flag, then the rank in RECENT_BITS binary digits down a tree of adaptive
    models. Returns the index, or -1 when the flag says it is not in the list."""
    rank = -1
    if encode:
        rank = _find_recent(recent, avail, cand, value, -1)
        _enc_bit(st, buf, probs, RECENT_FLAG, 1 if rank >= 0 else 0)
        if rank < 0:
            return -1
    elif _dec_bit(st, buf, probs, RECENT_FLAG) == 0:
        return -1
    node = 1
    for b in range(RECENT_BITS - 1, -1, -1):
        if encode:
            bit = (rank >> b) & 1
            _enc_bit(st, buf, probs, RECENT_RANK + node - 1, bit)
        else:
            bit = _dec_bit(st, buf, probs, RECENT_RANK + node - 1)
        node = 2 * node + bit
    if encode:
        return value
    entry = _find_recent(recent, avail, cand, -1, node - RECENT_SIZE)
    return entry if entry >= 0 else 0  # a rank past the list: never written by an encoder


@inline
def _touch(recent, value):
    """Move ``value`` to the front of the recency list (the last entry drops
    out when it is new)."""
    j = recent.shape[0] - 1
    for k in range(recent.shape[0]):
        if recent[k] == value:
            j = k
            break
    for k in range(j, 0, -1):
        recent[k] = recent[k - 1]
    recent[0] = value


@kernel
def _code_index_rows(encode, src_idx, idx, ref_idx, w, ys, ye, inter, skip, sx, sy, log2u,
                     nux, lut, n_entries, n_bits, probs, recent, st, buf, cand, avail):
    """Code rows [ys, ye) of one set's index plane (flat, ``w`` columns).

    ``src_idx`` is read when encoding; ``idx`` receives the indices. Skipped
    units (``skip`` on the unit grid, reached through plane 0: the set's
    shifts ``sx``, ``sy`` and ``log2u``) copy ``ref_idx``. Decoded indices
    beyond the dictionary are clamped. ``recent`` is the slice's recency
    list (empty before format 2.2), used and updated with every coded index
    when the palette has more entries than the list. ``cand``
    and ``avail`` are scratch of N_CAND candidates.
    """
    # a palette of up to RECENT_SIZE entries escapes in at most RECENT_BITS binary
    # digits, the first four through adaptive models: a rank would not be cheaper
    use_recent = recent.shape[0] > 0 and n_bits > RECENT_BITS
    for y in range(ys, ye):
        brow = ((y << sy) >> log2u) * nux
        for x in range(w):
            i = y * w + x
            if inter and skip[brow + ((x << sx) >> log2u)]:
                idx[i] = ref_idx[i]
                continue
            pattern = _pattern(idx, ref_idx, i, x, y, w, ys, inter, cand, avail)
            target = src_idx[i] if encode else -1
            value = -1
            for k in range(N_CAND):
                if not _is_new(k, avail, cand):
                    continue
                ctx = k * N_LEVELS + lut[pattern, k]
                if encode:
                    hit = 1 if cand[k] == target else 0
                    _enc_bit(st, buf, probs, ctx, hit)
                else:
                    hit = _dec_bit(st, buf, probs, ctx)
                if hit:
                    value = cand[k]
                    break
            if value < 0 and use_recent:
                value = _code_recent(encode, target, recent, probs, st, buf, cand, avail)
            if value < 0:
                value = _code_escape(encode, target, n_bits, probs, FLAG_CONTEXTS, st, buf)
            value = min(value, n_entries - 1)
            idx[i] = value
            if use_recent and recent[0] != value:
                _touch(recent, value)


@allocating
def _gather_index(src_idx, ref_idx, w, h, slice_rows, inter, skip, sx, sy, log2u, nux, keep,
                  salt, patterns, targets, count):
    """Training rows for the palette network: pattern and the slot that matches
    (N_CAND for an escape); ``targets`` also flags visited slots (bit k)."""
    return _gather_index_rows(src_idx, ref_idx, w, h, slice_rows, inter, skip, sx, sy, log2u,
                              nux, keep, salt, patterns, targets, count,
                              np.zeros(N_CAND, np.int64), np.zeros(N_CAND, np.bool_))


@kernel
def _gather_index_rows(src_idx, ref_idx, w, h, slice_rows, inter, skip, sx, sy, log2u, nux,
                       keep, salt, patterns, targets, count, cand, avail):
    cap = patterns.shape[0]
    for s in range(slice_rows.shape[0] - 1):
        ys = slice_rows[s]
        ye = slice_rows[s + 1]
        for y in range(ys, ye):
            brow = ((y << sy) >> log2u) * nux
            for x in range(w):
                i = y * w + x
                if inter and skip[brow + ((x << sx) >> log2u)]:
                    continue
                hashed = ((i + salt) * np.int64(2654435761)) & 0xFFFFFFFF
                if hashed >= keep or count >= cap:
                    continue
                pattern = _pattern(src_idx, ref_idx, i, x, y, w, ys, inter, cand, avail)
                visited = 0
                hit = N_CAND
                for k in range(N_CAND):
                    if not _is_new(k, avail, cand):
                        continue
                    visited |= 1 << k
                    if cand[k] == src_idx[i]:
                        hit = k
                        break
                patterns[count] = pattern
                targets[count] = hit | (visited << 8)
                count += 1
    return count


@kernel
def _compensate_indices(prevs, off, w, h, sx, sy, mv, log2b, nbx, out, y0, y1):
    """Indices of the previous frames at whole-sample displaced positions, rows [y0, y1).

    A palette set's reference uses each block's vector rounded down to whole
    samples of the set's planes, so that it is always a dictionary colour.
    """
    for y in range(y0, y1):
        brow = ((y << sy) >> log2b) * nbx
        for x in range(w):
            k = brow + ((x << sx) >> log2b)
            xx = min(max(((x << (2 + sx)) + mv[k, 0]) >> (2 + sx), 0), w - 1)
            yy = min(max(((y << (2 + sy)) + mv[k, 1]) >> (2 + sy), 0), h - 1)
            out[y * w + x] = prevs[mv[k, 2], off + yy * w + xx]


@kernel
def _palette_fill(idx, entries, first, count, geom, ys, ye, rec, err):
    """Write the colours of rows [ys, ye) of a set's index plane into its planes."""
    w = geom[first, 1]
    for q in range(count):
        off = geom[first + q, 0]
        for y in range(ys, ye):
            for x in range(w):
                i = y * w + x
                rec[off + i] = entries[idx[i] * 4 + q]
                err[off + i] = 0
