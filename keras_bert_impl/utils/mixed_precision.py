"""Which dtype policies are mixed precision: float32 variables, half compute."""

import warnings

import keras

MIXED_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")


def is_mixed_precision(policy):
    """Whether a Keras `DTypePolicy` is `mixed_bfloat16` or `mixed_float16`.

    Quantized policies (`int8_from_mixed_bfloat16`, ...) are not: their
    layers hold int8 weights that a float32 policy would not read.
    """
    return policy.name in MIXED_PRECISION_POLICIES


def warn_if_bfloat16_is_slow_here(policy):
    """Warns when `policy` computes in bfloat16 on JAX's CPU backend.

    XLA's CPU compiler converts both operands of a bfloat16 matmul to float32
    (no flag of jaxlib 0.10 changes that), so bfloat16 only adds conversions:
    BERT-Base ran at 0.23-0.40x transformers' bfloat16 and below our own
    float32 on an AMX CPU (README, "bfloat16 on a CPU with AMX"). TensorFlow
    and Keras' torch backend use the CPU's bfloat16 units.
    """
    if (
        getattr(policy, "compute_dtype", None) != "bfloat16"
        or keras.backend.backend() != "jax"
    ):
        return
    import jax

    if jax.devices()[0].platform != "cpu":
        return
    warnings.warn(
        f"dtype={policy.name!r} on JAX's CPU backend is slower than float32 "
        "(XLA CPU computes bfloat16 matmuls in float32). Fix: keep float32 on "
        "JAX's CPU, or use KERAS_BACKEND=tensorflow or torch for bfloat16 speed "
        "on a CPU with AMX/AVX512-BF16.",
        stacklevel=3,
    )
