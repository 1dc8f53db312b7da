# SPDX-License-Identifier: MIT
"""Binary adaptive range coder: the only place bits are written or read.

A queue (first in, first out) coder of LZMA's design: 32-bit ``range``, a
33-bit ``low`` whose carry is propagated through a cached byte, byte-wise
renormalisation. Each binary decision is coded with an adaptive probability
kept as two 16-bit estimates that adapt at different speeds (shift 4 and 7);
their mean is the probability that the bit is 1. The mean stays within
[71, 65465] / 65536, so no decision ever costs more than about 10 bits and the
coder can never be driven into a zero-width interval.

From format 2.5 a model also counts the decisions it has seen (up to
``WARMED``) and, while young, adapts faster: by 2^-bit_length(seen + 1), the
power of two at or below a running average's 1 / (seen + 2), until that
reaches each estimate's own rate. A fresh model then learns its first bits
as a count would instead of crawling from 1/2, which matters where models are
many and samples few (frames coded alone: 1 to 2 % smaller). Warmed up, the
sample models of groups of several frames settle at slower rates (shifts 5
and 9: 0.4 to 0.6 % smaller clips) than all others (4 and 7), so each model
carries its rates. Models of earlier versions start with
``seen = WARMED`` and rates 4 and 7: the plain two-rate rule.

The encoder's first byte is always 0 (nothing can carry into it), so it is
not stored: ``stored_bytes`` drops it and the decoder starts from 4 bytes.

Invariants (docs/FORMAT.md, "Range coder"): ``2**24 <= range < 2**32`` after
every renormalisation; ``low < 2**33``. The decoder reads bytes past the end
of its buffer as zeros and counts them, so a truncated stream decodes to
garbage that the caller detects (``overread``), never to an out-of-bounds read.

Encoder state ``st`` (int64[8]): low, range, cache, cache_size, pos, overflow.
Decoder state ``st`` (int64[8]): code, range, pos, overread.
"""

import numpy as np

from ..errors import CorruptError
from ._jit import inline, kernel

PROB_BITS = 16
PROB_ONE = 1 << PROB_BITS
FAST_SHIFT = 4  # the plain rates
SLOW_SHIFT = 7
LONG_FAST_SHIFT = 5  # sample models of groups of several frames, from 2.5
LONG_SLOW_SHIFT = 9
TOP = 1 << 24
# A model is (fast, slow, seen, rates): two estimates, the decisions seen up to
# WARMED, and its two shifts (fast | slow << 4), which stay as they start.
FAST, SLOW, SEEN, RATES = 0, 1, 2, 3
MODEL_FIELDS = 4
WARMED = 255
# the step of a model that has seen n decisions: bit_length(n + 1), 1 .. 9
_WARM_SHIFT = np.array([(n + 1).bit_length() for n in range(WARMED + 1)], np.int32)
PLAIN = (FAST_SHIFT, SLOW_SHIFT)
LONG = (LONG_FAST_SHIFT, LONG_SLOW_SHIFT)

# encoder state slots
LOW, RANGE, CACHE, CACHE_SIZE, POS, OVERFLOW = 0, 1, 2, 3, 4, 5
# decoder state slots
CODE, DRANGE, DPOS, OVERREAD = 0, 1, 2, 3


def new_state() -> np.ndarray:
    return np.zeros(8, dtype=np.int64)


def new_probs(shape: int | tuple[int, ...], warm_up: bool = True,
              rates: tuple[int, int] = PLAIN) -> np.ndarray:
    """Adaptive models (an array of ``shape`` of them) for binary decisions, all at
    p = 1/2; ``warm_up``: whether they count their first decisions (format 2.5 on);
    ``rates``: their (fast, slow) shifts once warmed up."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    models = np.full(shape + (MODEL_FIELDS,), PROB_ONE // 2, dtype=np.int32)
    models[..., SEEN] = 0 if warm_up else WARMED
    models[..., RATES] = rates[0] | rates[1] << 4
    return models


@kernel
def _enc_init(st):
    st[LOW] = 0
    st[RANGE] = 0xFFFFFFFF
    st[CACHE] = 0
    st[CACHE_SIZE] = 1
    st[POS] = 0
    st[OVERFLOW] = 0


@kernel
def _shift_low(st, buf):
    low = st[LOW]
    if low < 0xFF000000 or low > 0xFFFFFFFF:
        carry = low >> 32
        temp = st[CACHE]
        pos = st[POS]
        cap = buf.shape[0]
        while True:
            if pos < cap:
                buf[pos] = (temp + carry) & 0xFF
                pos += 1
            else:
                st[OVERFLOW] = 1
            temp = 0xFF
            st[CACHE_SIZE] -= 1
            if st[CACHE_SIZE] == 0:
                break
        st[POS] = pos
        st[CACHE] = (low >> 24) & 0xFF
    st[CACHE_SIZE] += 1
    st[LOW] = (low & 0x00FFFFFF) << 8


@inline
def _prob(probs, ctx):
    return (probs[ctx, FAST] + probs[ctx, SLOW]) >> 1


@inline
def _adapt(probs, ctx, bit):
    """Both estimates one step towards ``bit``, without a branch on it: a decoded
    bit is as unpredictable as the data, and a mispredicted branch per decision
    cost more than computing both steps and masking one away. A young model's
    steps are longer (module docstring)."""
    fast = probs[ctx, FAST]
    slow = probs[ctx, SLOW]
    seen = probs[ctx, SEEN]
    rates = probs[ctx, RATES]
    shift = _WARM_SHIFT[seen]
    fs = min(shift, rates & 15)
    ss = min(shift, rates >> 4)
    ones = -np.int32(bit)  # all ones when bit is 1, else 0 (bit may be unsigned)
    probs[ctx, FAST] = fast + (((PROB_ONE - fast) >> fs) & ones) - ((fast >> fs) & ~ones)
    probs[ctx, SLOW] = slow + (((PROB_ONE - slow) >> ss) & ones) - ((slow >> ss) & ~ones)
    probs[ctx, SEEN] = seen + np.int32(seen < WARMED)


@inline
def _enc_bit(st, buf, probs, ctx, bit):
    """Code ``bit`` (0/1) with the adaptive model ``probs[ctx]``, then adapt it."""
    _enc_bit_p(st, buf, _prob(probs, ctx), bit)
    _adapt(probs, ctx, bit)


@inline
def _enc_bit_p(st, buf, p, bit):
    """Code ``bit`` with the probability ``p`` (1/65536, within [1, 65535]) that it is 1:
    a mixed probability (mixer.py); the caller adapts what made it."""
    rng = st[RANGE]
    bound = (rng >> PROB_BITS) * p
    if bit:
        st[RANGE] = bound
    else:
        st[LOW] += bound
        st[RANGE] = rng - bound
    while st[RANGE] < TOP:
        st[RANGE] = st[RANGE] << 8
        _shift_low(st, buf)


@kernel
def _enc_flush(st, buf):
    """Finish the stream; returns the number of bytes written.

    Any value in [low, low + range) decodes the same decisions, and the
    decoder reads zeros past the end: the flush takes the value in the
    interval with the most trailing zero bits, writes it and drops up to 4
    trailing zero bytes (usually 3; the decoder accepts reading 4 past the end).
    """
    low = st[LOW]
    top = low + st[RANGE]
    for k in range(32, -1, -1):
        mask = (np.int64(1) << k) - 1
        v = (low + mask) & ~mask
        if v < top:
            st[LOW] = v
            break
    for _ in range(5):
        _shift_low(st, buf)
    n = st[POS]
    trimmed = 0
    while trimmed < 4 and n > 1 and buf[n - 1] == 0 and not st[OVERFLOW]:
        n -= 1
        trimmed += 1
    return n


def encode_substream(code, capacity: int, states: list[np.ndarray]) -> bytes:
    """Run ``code(st, buf)`` into a fresh encoder and return the stored substream.

    The buffer is sized by the caller's estimate; if it overflows, the adaptive
    ``states`` the coding changed are restored and the coding replayed into a
    buffer 4 times larger, so callers never size it exactly."""
    saved = [s.copy() for s in states]
    while True:
        st = new_state()
        buf = np.zeros(capacity, np.uint8)
        _enc_init(st)
        code(st, buf)
        data = stored_bytes(st, buf)
        if not st[OVERFLOW]:
            return data
        for s, keep in zip(states, saved):
            s[...] = keep
        capacity *= 4


def stored_bytes(st: np.ndarray, buf: np.ndarray) -> bytes:
    """Flush the encoder and return the substream as stored: without its first byte."""
    n = _enc_flush(st, buf)
    if buf[0] != 0:
        raise AssertionError("range coder's first byte must be 0")
    return buf[1:n].tobytes()


@kernel
def _next_byte(st, buf):
    pos = st[DPOS]
    st[DPOS] = pos + 1
    if pos < buf.shape[0]:
        return np.int64(buf[pos])
    st[OVERREAD] += 1
    return np.int64(0)


@kernel
def _dec_init(st, buf):
    st[CODE] = 0
    st[DRANGE] = 0xFFFFFFFF
    st[DPOS] = 0
    st[OVERREAD] = 0
    for _ in range(4):  # the encoder's first byte, always 0, is not stored
        st[CODE] = ((st[CODE] << 8) | _next_byte(st, buf)) & 0xFFFFFFFF


@inline
def _dec_bit(st, buf, probs, ctx):
    rng = st[DRANGE]
    bound = (rng >> PROB_BITS) * _prob(probs, ctx)
    if st[CODE] < bound:
        st[DRANGE] = bound
        bit = 1
    else:
        st[CODE] -= bound
        st[DRANGE] = rng - bound
        bit = 0
    _adapt(probs, ctx, bit)
    while st[DRANGE] < TOP:
        st[DRANGE] = st[DRANGE] << 8
        st[CODE] = ((st[CODE] << 8) | _next_byte(st, buf)) & 0xFFFFFFFF
    return bit


@inline
def _dec_bit_local(code, rng, pos, buf, probs, ctx):
    """``_dec_bit`` on a state held in locals: returns (bit, code, range, position).

    For the per-sample loop: the state stays in registers instead of going
    through ``st`` on every decision. Bytes past the end read as zeros; the
    caller counts them from the position (``_dec_store``)."""
    bit, code, rng, pos = _dec_bit_local_p(code, rng, pos, buf, _prob(probs, ctx))
    _adapt(probs, ctx, bit)
    return bit, code, rng, pos


@inline
def _dec_bit_local_p(code, rng, pos, buf, p):
    """``_dec_bit_local`` with the probability ``p`` given (``_enc_bit_p``)."""
    bound = (rng >> PROB_BITS) * p
    bit = 0
    if code < bound:
        rng = bound
        bit = 1
    else:
        code -= bound
        rng -= bound
    while rng < TOP:
        rng = rng << 8
        byte = np.int64(buf[pos]) if pos < buf.shape[0] else np.int64(0)
        pos += 1
        code = ((code << 8) | byte) & 0xFFFFFFFF
    return bit, code, rng, pos


@inline
def _dec_store(st, buf, code, rng, pos):
    """Put a local decoder state back into ``st``, counting bytes read past the end."""
    st[OVERREAD] += max(0, pos - max(st[DPOS], buf.shape[0]))
    st[CODE] = code
    st[DRANGE] = rng
    st[DPOS] = pos


class RangeDecoder:
    """One substream being decoded: the kernels' state and buffer, and its end checks.

    Kernels take ``st`` and ``buf``; after them, ``check_complete`` tells a
    payload that was cut or damaged (the decoder read far past its end) and,
    for records that must be used up, one followed by unused bytes.
    """

    def __init__(self, data, what: str, **where):
        self.buf = np.frombuffer(data, np.uint8).copy()
        self.st = new_state()
        self.what = what
        self.where = where
        _dec_init(self.st, self.buf)

    def check_complete(self, *, used_up: bool = False) -> None:
        # A valid stream ends with the coder's flush bytes; the decoder may read
        # up to 4 zero bytes past the trimmed end, never more.
        if self.st[OVERREAD] > 4:
            raise CorruptError(f"{self.what} ends early", **self.where)
        if used_up and self.st[DPOS] < self.buf.size:
            raise CorruptError(f"{self.what} is followed by unused bytes", **self.where)
