"""The precision of BERT's residual stream under mixed precision."""

import keras


def residual_stream_policy(policy):
    """The dtype policy of the LayerNorms that carry BERT's residual stream.

    Under a mixed policy (`mixed_bfloat16`, `mixed_float16`: float32 weights,
    half-precision compute) the LayerNorms compute and return float32, so the
    stream each block adds its sub-layers' outputs to stays float32 while the
    matmuls run in half precision: what `torch.autocast` gives transformers
    (LayerNorm autocasts to float32, the residual add promotes to it). A
    LayerNorm under the mixed policy itself returns bfloat16, rounding the
    stream to an 8-bit mantissa at every block: 4x transformers' bf16 error on
    real MiniLM weights (TF) before this. Other policies are returned as they
    are.

    Args:
        policy: a `keras.DTypePolicy` or its name.

    Returns:
        A `keras.DTypePolicy`.
    """
    policy = keras.dtype_policies.get(policy)
    half = policy.compute_dtype in ("bfloat16", "float16")
    if half and policy.variable_dtype == "float32":
        return keras.dtype_policies.get("float32")
    return policy
