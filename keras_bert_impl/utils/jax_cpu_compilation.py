"""Quicker XLA compiles where JAX runs on the CPU alone: LLVM optimisation level 1.

On JAX each new batch shape of a train or predict step is an XLA compile, and
one `fit` on a small dataset is mostly compiles. XLA:CPU's LLVM back end at
`--xla_backend_optimization_level=1` (default 2) compiled a BERT-mini train
step in 2.4-2.9 s instead of 3.4-4.2 s on a 2-core Xeon, and the compiled
steps ran as fast (batch 32 x 64: 6,819 against 6,812 tokens/s; the matmuls
are library calls either way): one `fit` on 1,024 SST-2 sentences took
14.4-15.2 s instead of 16.7-17.0 s (BERT-Base's: 146.0 against 145.9 s, no
gain: its compile time goes elsewhere). XLA reads `XLA_FLAGS` once, when JAX
creates its first client, so this is set when `keras_bert_impl` is imported,
and only:

- on the JAX backend, before JAX has created a client;
- where JAX can only run on the CPU (`JAX_PLATFORMS=cpu`, or no GPU or TPU
  plugin installed): the level also drives accelerator code generation,
  which was not measured;
- if `XLA_FLAGS` does not set the level already (the user's value is kept);
- unless `KERAS_BERT_IMPL_XLA_CPU_QUICK_COMPILE=off`.

Processes this one starts inherit the flag.
"""

import importlib.metadata
import importlib.util
import os

from keras_bert_impl.utils.jax_compilation_cache import OFF_VALUES

SETTING_ENV = "KERAS_BERT_IMPL_XLA_CPU_QUICK_COMPILE"
LEVEL_FLAG = "--xla_backend_optimization_level"


def _cpu_only():
    """Whether JAX can run on nothing but the CPU in this environment."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms:
        return platforms == "cpu"
    if importlib.metadata.entry_points(group="jax_plugins"):
        return False  # a PJRT plugin (CUDA, ROCm, ...) is installed
    return all(
        importlib.util.find_spec(name) is None for name in ("jax_plugins", "libtpu")
    )


def use_quick_cpu_compilation():
    """Adds `--xla_backend_optimization_level=1` to `XLA_FLAGS` where it applies.

    Returns:
        bool: whether this call set it (see the module's conditions).
    """
    import keras

    if keras.backend.backend() != "jax":
        return False
    if os.environ.get(SETTING_ENV, "").strip().lower() in OFF_VALUES:
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    if LEVEL_FLAG.lstrip("-") in flags or not _cpu_only():
        return False
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return False  # XLA has read its flags: too late for this process
    os.environ["XLA_FLAGS"] = f"{flags} {LEVEL_FLAG}=1".strip()
    return True
