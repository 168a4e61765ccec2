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
"""

from keras import ops


def dense_over_tokens(dense, x):
    """`dense(x)` for `x` of shape `(batch, sequence, features)`, as one matmul.

    Args:
        dense: a `keras.layers.Dense` (float, quantized or LoRA alike: it sees
            a 2-D input, rows = tokens).
        x: tensor `(batch, sequence, features)`.

    Returns:
        Tensor `(batch, sequence, dense.units)`.
    """
    batch, length = ops.shape(x)[0], ops.shape(x)[1]
    rows = dense(ops.reshape(x, (-1, x.shape[-1])))
    return ops.reshape(rows, (batch, length, dense.units))
