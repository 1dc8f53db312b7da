# SPDX-License-Identifier: MIT
"""Signed integers as adaptive binary decisions (FFV1-style binarisation).

A value v is coded as: a zero flag (at +0 of the set, or in a model of the
caller's choosing: ``_enc_value``); if not zero, a sign (+1..+4 by ``sign_ctx``,
or in a model of the caller's choosing) and the magnitude
a = |v| >= 1 as an Exp-Golomb code whose every bit has its own adaptive
context: e = floor(log2 a) in truncated unary (at most ``max_exp`` ones), then
the e bits of a below its leading one, most significant first. One
*context set* holds ``SET_SIZE`` models:

    +0       zero flag
    +1..+4   sign, one model per ``sign_ctx`` (0..3)
    +5..+20  exponent unary bits, by bit index (last one shared)
    +21..+36 mantissa bits, by bit position (last one shared)

From format 2.7 a sample's zero flag and sign may instead be coded with their
model's probability mixed with the network's (``_enc_value_mixed``, mixer.py).
"""

import numpy as np

from ._jit import inline, kernel
from .mixer import STRETCH, _mix, _mix_update
from .rangecoder import _adapt, _dec_bit, _dec_bit_local, _dec_bit_local_p, _enc_bit, _enc_bit_p, \
    _prob

SET_SIZE = 37
_SIGN, _EXP, _MANT = 1, 5, 21


@kernel
def _enc_signed(st, buf, probs, base, v, sign_ctx, max_exp):
    _enc_value(st, buf, probs, base, base + _SIGN + sign_ctx, base, v, max_exp)


@kernel
def _dec_signed(st, buf, probs, base, sign_ctx, max_exp):
    return _dec_value(st, buf, probs, base, base + _SIGN + sign_ctx, base, max_exp)


@inline
def _enc_value(st, buf, probs, zero_ctx, sign_model, base, v, max_exp):
    """``_enc_signed`` with the zero flag and the sign in models of the caller's
    choosing (samples: FORMAT.md 6.5.5)."""
    if v == 0:
        _enc_bit(st, buf, probs, zero_ctx, 1)
        return
    _enc_bit(st, buf, probs, zero_ctx, 0)
    _enc_bit(st, buf, probs, sign_model, 1 if v < 0 else 0)
    _enc_magnitude(st, buf, probs, base, -v if v < 0 else v, max_exp)


@inline
def _enc_magnitude(st, buf, probs, base, a, max_exp):
    e = 0
    while (a >> (e + 1)) != 0:
        e += 1
    for i in range(e):
        _enc_bit(st, buf, probs, base + _EXP + min(i, 15), 1)
    if e < max_exp:
        _enc_bit(st, buf, probs, base + _EXP + min(e, 15), 0)
    for j in range(e - 1, -1, -1):
        _enc_bit(st, buf, probs, base + _MANT + min(j, 15), (a >> j) & 1)


@inline
def _dec_value(st, buf, probs, zero_ctx, sign_model, base, max_exp):
    if _dec_bit(st, buf, probs, zero_ctx):
        return np.int64(0)
    negative = _dec_bit(st, buf, probs, sign_model)
    e = 0
    while e < max_exp and _dec_bit(st, buf, probs, base + _EXP + min(e, 15)):
        e += 1
    a = np.int64(1)
    for j in range(e - 1, -1, -1):
        a = (a << 1) | _dec_bit(st, buf, probs, base + _MANT + min(j, 15))
    return -a if negative else a


@inline
def _dec_value_local(code, rng, pos, buf, probs, zero_ctx, sign_model, base, max_exp):
    """``_dec_value`` on a local decoder state: returns (value, code, range, position)."""
    zero, code, rng, pos = _dec_bit_local(code, rng, pos, buf, probs, zero_ctx)
    if zero:
        return np.int64(0), code, rng, pos
    negative, code, rng, pos = _dec_bit_local(code, rng, pos, buf, probs, sign_model)
    a, code, rng, pos = _dec_magnitude_local(code, rng, pos, buf, probs, base, max_exp)
    return (-a if negative else a), code, rng, pos


@inline
def _dec_magnitude_local(code, rng, pos, buf, probs, base, max_exp):
    e = 0
    while e < max_exp:
        more, code, rng, pos = _dec_bit_local(code, rng, pos, buf, probs,
                                              base + _EXP + min(e, 15))
        if not more:
            break
        e += 1
    a = np.int64(1)
    for j in range(e - 1, -1, -1):
        b, code, rng, pos = _dec_bit_local(code, rng, pos, buf, probs,
                                           base + _MANT + min(j, 15))
        a = (a << 1) | b
    return a, code, rng, pos


@inline
def _enc_mixed_bit(st, buf, probs, ctx, mixer, xn, bit):
    """``bit`` coded with model ``ctx`` mixed with the network's stretched probability
    ``xn`` by the mixer whose weights are model ``mixer``'s two estimates (mixer.py);
    the model and the mixer both adapt."""
    xa = np.int64(STRETCH[_prob(probs, ctx) >> 4])
    p = _mix(probs, mixer, xa, xn)
    _enc_bit_p(st, buf, p, bit)
    _adapt(probs, ctx, bit)
    _mix_update(probs, mixer, xa, xn, p, bit)


@inline
def _dec_mixed_bit_local(code, rng, pos, buf, probs, ctx, mixer, xn):
    xa = np.int64(STRETCH[_prob(probs, ctx) >> 4])
    p = _mix(probs, mixer, xa, xn)
    bit, code, rng, pos = _dec_bit_local_p(code, rng, pos, buf, p)
    _adapt(probs, ctx, bit)
    _mix_update(probs, mixer, xa, xn, p, bit)
    return bit, code, rng, pos


@inline
def _enc_value_mixed(st, buf, probs, zero_ctx, sign_model, base, v, max_exp, zero_mixer,
                     sign_mixer, xz, xs):
    """``_enc_value`` with the zero flag and the sign mixed with the network's
    probabilities (stretched: ``xz``, ``xs``) by mixers ``zero_mixer`` and ``sign_mixer``
    (format 2.7, FORMAT.md 6.5.6)."""
    _enc_mixed_bit(st, buf, probs, zero_ctx, zero_mixer, xz, 1 if v == 0 else 0)
    if v == 0:
        return
    _enc_mixed_bit(st, buf, probs, sign_model, sign_mixer, xs, 1 if v < 0 else 0)
    _enc_magnitude(st, buf, probs, base, -v if v < 0 else v, max_exp)


@inline
def _dec_value_mixed_local(code, rng, pos, buf, probs, zero_ctx, sign_model, base, max_exp,
                           zero_mixer, sign_mixer, xz, xs):
    zero, code, rng, pos = _dec_mixed_bit_local(code, rng, pos, buf, probs, zero_ctx,
                                                zero_mixer, xz)
    if zero:
        return np.int64(0), code, rng, pos
    negative, code, rng, pos = _dec_mixed_bit_local(code, rng, pos, buf, probs, sign_model,
                                                    sign_mixer, xs)
    a, code, rng, pos = _dec_magnitude_local(code, rng, pos, buf, probs, base, max_exp)
    return (-a if negative else a), code, rng, pos


@kernel
def _code_values(encode, values, base, max_exp, probs, st, buf):
    """Code (or decode into) ``values`` with one context set, sign context 0."""
    for i in range(values.shape[0]):
        if encode:
            _enc_signed(st, buf, probs, base, values[i], 0, max_exp)
        else:
            values[i] = _dec_signed(st, buf, probs, base, 0, max_exp)
