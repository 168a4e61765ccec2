"""Which dtype policies are mixed precision: float32 variables, half compute."""

MIXED_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")


def is_mixed_precision(policy):
    """Whether a Keras `DTypePolicy` is `mixed_bfloat16` or `mixed_float16`.

    Quantized policies (`int8_from_mixed_bfloat16`, ...) are not: their
    layers hold int8 weights that a float32 policy would not read.
    """
    return policy.name in MIXED_PRECISION_POLICIES
