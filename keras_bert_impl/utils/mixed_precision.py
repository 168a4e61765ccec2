"""Which dtype policies are mixed precision: float32 variables, half compute."""

import warnings

import keras

from keras_bert_impl.utils.devices import accelerator_present
from keras_bert_impl.utils.devices import cpu_flags
from keras_bert_impl.utils.devices import listed_cpu_flags

MIXED_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")
# The CPU flags of bfloat16 matmul instructions (x86 AVX512-BF16 and AMX, Arm).
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def is_mixed_precision(policy):
    """Whether a Keras `DTypePolicy` is `mixed_bfloat16` or `mixed_float16`.

    Quantized policies (`int8_from_mixed_bfloat16`, ...) are not: their
    layers hold int8 weights that a float32 policy would not read.
    """
    return policy.name in MIXED_PRECISION_POLICIES


def warn_if_bfloat16_is_slow_here(policy):
    """Warns when `policy` computes in bfloat16 where float32 is faster.

    Two such places, both on a CPU (GPUs and TPUs are never warned):

    - JAX: XLA's CPU compiler converts both operands of a bfloat16 matmul to
      float32 (no flag of jaxlib 0.10 changes that), so bfloat16 only adds
      conversions: BERT-Base ran at 0.23-0.40x transformers' bfloat16 and
      below our own float32 on an AMX CPU (README, "bfloat16 on a CPU with
      AMX").
    - TensorFlow and torch on a CPU whose flags list no bfloat16 matmul
      instructions (x86 `avx512_bf16`/`amx_bf16`, Arm `bf16`): oneDNN then
      emulates them: BERT-Base bfloat16 inference ran 2.6x slower than
      float32 on TF with oneDNN limited to AVX-512 without BF16 on an AMD
      EPYC (README, "bfloat16 on a CPU without AMX"). Where the
      CPU has them, TF and torch run bfloat16 at 1.6-1.9x their float32.
    """
    if getattr(policy, "compute_dtype", None) != "bfloat16":
        return
    reason = _why_bfloat16_is_slow_here()
    if reason:
        warnings.warn(
            f"dtype={policy.name!r} is slower than float32 here: {reason}",
            stacklevel=3,
        )


def _why_bfloat16_is_slow_here():
    """Why bfloat16 is slower than float32 on this backend and device, or None."""
    if accelerator_present():
        return None
    if keras.backend.backend() == "jax":
        return (
            "XLA CPU computes bfloat16 matmuls in float32. Fix: keep float32 on "
            "JAX's CPU, or use KERAS_BACKEND=tensorflow or torch for bfloat16 "
            "speed on a CPU with AMX/AVX512-BF16."
        )
    if cpu_has_bfloat16_instructions() is False:
        return (
            "this CPU's flags (/proc/cpuinfo) list none of avx512_bf16, amx_bf16 "
            "or bf16, so its bfloat16 matmuls are emulated. Fix: keep float32 on "
            "this CPU, or use bfloat16 on a CPU whose lscpu lists one of them."
        )
    return None


def cpu_has_bfloat16_instructions():
    """Whether this CPU has bfloat16 matmul instructions, from /proc/cpuinfo.

    Returns:
        bool, or None where /proc/cpuinfo is absent (not Linux) or lists no
        flags: then nothing is known and nothing is warned.
    """
    flags = cpu_flags()
    return None if flags is None else bool(flags & BFLOAT16_FLAGS)


def bfloat16_instructions_listed(cpuinfo):
    """Whether a /proc/cpuinfo text lists bfloat16 matmul instructions.

    x86 lists `avx512_bf16` (AVX512-BF16: AMD Zen 4, Intel Cooper Lake and
    later) or `amx_bf16` (Intel AMX) in "flags", Arm lists `bf16` in
    "Features".

    Returns:
        bool, or None where the text has no "flags" or "Features" line.
    """
    flags = listed_cpu_flags(cpuinfo)
    return None if flags is None else bool(flags & BFLOAT16_FLAGS)
