# SPDX-License-Identifier: MIT
"""Mixing the network's own probability into a sample's adaptive decisions (format 2.7).

The network predicts a discretised logistic (centre mu, log-scale ls) per
sample, but the coder has only used it to *choose* models: the bucket of ls
and the fraction of mu pick the context, whose adaptive estimate is then
coded. Inside one context ls and mu still vary, and the logistic says how
likely a zero or a negative residual is for *this* sample. A logistic mixer
(PAQ's) blends the two in the logistic domain with weights that adapt as
the decoder goes:

    p = squash((w_a * stretch(p_adaptive) + w_n * stretch(p_network)) >> 16)
    w_i += (stretch_i * ((bit << 16) - p) * MIX_RATE) >> MIX_SHIFT

for the zero flag and the sign of every coded sample (docs/FORMAT.md 6.5.6).
Everything is integer: ``squash`` interpolates 33 knots, ``stretch`` is its
inverse by table, and the network's probabilities are a table per
(log-scale, fraction of the centre) built once per bound from an integer
exponential. stretch values are in 1/256 nats, probabilities in 1/65536.
"""

import functools

import numpy as np

from ._jit import inline

# squash(x) = 65536 / (1 + e^(-x / 256)) at x = -2048 + 128 i, rounded
SQUASH_KNOTS = np.array([
    22, 36, 60, 98, 162, 267, 439, 720, 1179, 1921, 3108, 4971, 7812, 11955, 17625, 24743,
    32768, 40793, 47911, 53581, 57724, 60565, 62428, 63615, 64357, 64816, 65097, 65269,
    65374, 65438, 65476, 65500, 65514], np.int64)
STRETCH_MAX = 2047  # |stretch| <= 2047: squash's domain is clamped to it
LS_MIN, LS_MAX = -64, 160  # the log-scales the table holds (1/16 nats): e^-4 .. e^10
LS_SPAN = LS_MAX - LS_MIN + 1
FRACTIONS = 16  # where the centre lies in its sample, in 1/16 (the coder's fraction16)
EXP_ONE = 1 << 20  # exp(-ls / 16) in units of 2^-20, stepped from ls = 0
EXP_DOWN, EXP_UP = 61565, 69763  # exp(-1/16), exp(1/16) in units of 2^-16
MIX_RATE = 24  # the weights' step
MIX_SHIFT = 20
MIX_WEIGHT_MAX = 1 << 24  # weights stay within +-MIX_WEIGHT_MAX (1/65536 units)
W_ADAPTIVE, W_NETWORK = 26214, 39322  # the weights a mixer starts with: 0.4 and 0.6
MIX_P_MIN, MIX_P_MAX = 32, 65536 - 32  # a mixed probability codes at most 11 bits
ZERO, SIGN = 0, 1  # a mixer's decision kind: columns of the network table


def squash(x):
    """The logistic of x / 256 in 1/65536, by linear interpolation of the knots
    (for an int or an integer array; the tables below are built with it)."""
    x = np.clip(x, -STRETCH_MAX, STRETCH_MAX)
    w = x & 127
    j = (x >> 7) + 16
    return (SQUASH_KNOTS[j] * (128 - w) + SQUASH_KNOTS[j + 1] * w + 64) >> 7


# squash(x) for x in [-2048, 2047] (index x + 2048), clamped for the coder: one lookup
SQUASH = np.clip(squash(np.arange(-2048, 2048)), MIX_P_MIN, MIX_P_MAX).astype(np.int32)


def _stretch_table() -> np.ndarray:
    """stretch(q) for a probability's top 12 bits q: the least x whose squash reaches q."""
    xs = np.arange(-STRETCH_MAX, STRETCH_MAX + 1)
    at = np.searchsorted(squash(xs) >> 4, np.arange(4096), side="left")
    return np.where(at < xs.size, xs[np.minimum(at, xs.size - 1)], STRETCH_MAX).astype(np.int16)


STRETCH = _stretch_table()


def _inverse_scales() -> np.ndarray:
    """exp(-ls / 16) * 2^20 for ls in [LS_MIN, LS_MAX], stepped from ls = 0 (exact integers)."""
    e = np.zeros(LS_SPAN, np.int64)
    e[-LS_MIN] = EXP_ONE
    for ls in range(1, LS_MAX + 1):
        e[ls - LS_MIN] = (int(e[ls - 1 - LS_MIN]) * EXP_DOWN + (1 << 15)) >> 16
    for ls in range(-1, LS_MIN - 1, -1):
        e[ls - LS_MIN] = (int(e[ls + 1 - LS_MIN]) * EXP_UP + (1 << 15)) >> 16
    return e


def start_mixers(models: np.ndarray, first: int) -> None:
    """Give the mixers at ``models[..., first:, :]`` their start weights (they sit in the
    two estimates of a model slot: adaptive, network)."""
    models[..., first:, 0] = W_ADAPTIVE
    models[..., first:, 1] = W_NETWORK


@functools.cache
def network_table(near: int) -> np.ndarray:
    """stretch of the network's P(v = 0) (column ZERO) and P(v < 0 | v != 0) (column SIGN)
    for each (log-scale, fraction16) at bound ``near``: int16[LS_SPAN * FRACTIONS, 2].

    A residual v is 0 when the sample lies within half + near of the prediction, whose
    centre sits ``fraction16 - 8`` sixteenths away from it."""
    inv = _inverse_scales()[:, None]
    half = 8 * (2 * near + 1)
    d = np.arange(FRACTIONS)[None, :] - 8
    upper = squash(((half - d) * inv) >> 16)
    lower = squash(((-half - d) * inv) >> 16)
    zero = np.clip(upper - lower, 1, 65535)
    negative = np.clip((lower << 16) // (lower + 65536 - upper), 1, 65535)
    table = np.stack([STRETCH[zero >> 4].ravel(), STRETCH[negative >> 4].ravel()], axis=1)
    return np.ascontiguousarray(table, np.int16)  # rows ls * FRACTIONS + f; columns ZERO, SIGN


@inline
def _network_index(ls, fraction16):
    """The network table's row for log-scale ``ls`` (clamped) and the centre's fraction."""
    return (min(max(ls, LS_MIN), LS_MAX) - LS_MIN) * FRACTIONS + fraction16


@inline
def _mix(weights, slot, xa, xn):
    """The mixed probability (1/65536) that the bit is 1, clamped for the coder."""
    dot = (np.int64(weights[slot, 0]) * xa + np.int64(weights[slot, 1]) * xn) >> 16
    return np.int64(SQUASH[min(max(dot, -STRETCH_MAX), STRETCH_MAX) + 2048])


@inline
def _mix_update(weights, slot, xa, xn, p, bit):
    """Each weight one step along its input times the error (PAQ's update)."""
    err = (np.int64(bit) << 16) - p
    wa = np.int64(weights[slot, 0]) + ((xa * err * MIX_RATE) >> MIX_SHIFT)
    wn = np.int64(weights[slot, 1]) + ((xn * err * MIX_RATE) >> MIX_SHIFT)
    weights[slot, 0] = min(max(wa, -MIX_WEIGHT_MAX), MIX_WEIGHT_MAX)
    weights[slot, 1] = min(max(wn, -MIX_WEIGHT_MAX), MIX_WEIGHT_MAX)
