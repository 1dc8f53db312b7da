# SPDX-License-Identifier: MIT
"""The LLVM IR helpers shared by the kernels written as numba intrinsics
(mlp_pairs.py, float_tiles.py): reading their arguments and broadcasting."""

from llvmlite import ir
from numba import types

_I32 = ir.IntType(32)


def int64_args(context, builder, signature, args):
    """An intrinsic's arguments with every integer as i64 (offsets and counts may
    come as int32 words); arrays as they are."""
    return [context.cast(builder, v, t, types.int64) if isinstance(t, types.Integer) else v
            for v, t in zip(args, signature.args)]


def array_data(context, builder, array_type, value):
    """The pointer to an array argument's first element."""
    return context.make_array(array_type)(context, builder, value).data


def splat(builder, value, vector_type):
    """``value`` in every lane of ``vector_type``."""
    lanes = vector_type.count
    v = builder.insert_element(ir.Constant(vector_type, None), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))
