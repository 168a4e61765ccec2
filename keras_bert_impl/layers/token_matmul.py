"""Dense layers applied to every token as one 2-D matmul.

TensorFlow runs Keras' `Dense` on a `(batch, sequence, features)` tensor as a
batched matmul (`BatchMatMulV3` with a broadcast kernel), which oneDNN runs at
about half the rate of the same product with the tokens flattened to rows:
measured on an AMX Xeon at BERT-Base's feed-forward shape (32 x 128 x 768 by
768 x 3072), 143 GFLOP/s in float32 against 246 for the 2-D matmul (bfloat16:
1,226 and 1,268). At BERT-Base that made TF inference 1.07x faster in float32
and 1.44x in bfloat16, and JAX's training step 1.17x in float32 (XLA CPU; not
profiled); the other cells moved within 3% (benchmarks/README.md, "Speed
work"). A reshape of a contiguous tensor costs nothing, so every backend takes
the same path. Same math, same weights.

On TensorFlow, whose batch and sequence sizes are unknown while a step is
traced, `ops.shape` adds a `Shape` op and a slice per unknown size to the
graph on every call. Callers that know the token shape pass it, and the
feed-forward pair runs as one chain: BERT-mini's traced forward graph went
from 1,954 to 1,398 ops and its forward + gradient trace from 1.14-1.21 s to
0.94-1.03 s (tracing is a large part of one `fit` on small data;
benchmarks/README.md, "Speed work").
"""

from keras import ops


def token_shape(x):
    """`(batch, sequence)` of `x`, ints where known, scalar tensors on TF where not."""
    return tuple(ops.shape(x)[:2])


def dense_over_tokens(dense, x, tokens=None):
    """`dense(x)` for `x` of shape `(batch, sequence, features)`, as one matmul.

    Args:
        dense: a `keras.layers.Dense` (float, quantized or LoRA alike: it sees
            a 2-D input, rows = tokens), or a sequence of them applied one
            after the other with the tokens kept as rows in between.
        x: tensor `(batch, sequence, features)`.
        tokens: `token_shape(x)` where the caller has it already.

    Returns:
        Tensor `(batch, sequence, units)`, `units` of the last layer.
    """
    tokens = token_shape(x) if tokens is None else tokens
    rows = ops.reshape(x, (-1, x.shape[-1]))
    layers = dense if isinstance(dense, (list, tuple)) else (dense,)
    for layer in layers:
        rows = layer(rows)
    return ops.reshape(rows, (*tokens, layers[-1].units))
