"""JAX's persistent compilation cache, on by default: compiled shapes survive runs.

On JAX every new shape of a train or predict step is an XLA compile (a
BERT-mini train step: ~3.5 s on 2 CPU cores; one `fit` on 1,000 short texts
compiles two); run the same script again and it compiles all of it again.
JAX can keep compiled programs on disk (`jax_compilation_cache_dir`), but
only if the folder is set before the process compiles anything, so this is
done when `keras_bert_impl` is imported:

- a folder the user gave JAX (`JAX_COMPILATION_CACHE_DIR` or
  `jax.config.update("jax_compilation_cache_dir", ...)`) is kept;
- else `KERAS_BERT_IMPL_JAX_CACHE` names the folder, or turns the cache off
  with `off`;
- else `$XDG_CACHE_HOME/keras_bert_impl/jax` (`~/.cache/keras_bert_impl/jax`).

JAX stores only programs that took at least
`jax_persistent_cache_min_compile_time_secs` (1 s) to compile and keys them
by the program, the compiler version and the device, so a stale entry is
never used. The folder is not size-bounded: JAX's LRU eviction
(`jax_compilation_cache_max_size`) fails with "Error writing persistent
compilation cache entry" when processes share the folder (seen with two test
runs at once), while unbounded writes are plain file creations. A
BERT-mini train step takes about 300 KB. TensorFlow runs are not affected;
JAX is not imported for them.
"""

import os
import pathlib

CACHE_ENV = "KERAS_BERT_IMPL_JAX_CACHE"
OFF_VALUES = ("off", "0", "false", "no")


def default_cache_dir():
    """`$XDG_CACHE_HOME/keras_bert_impl/jax`, `~/.cache/...` without it."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "keras_bert_impl" / "jax"


def use_persistent_jax_cache():
    """Points JAX's compilation cache at a folder unless the user chose one.

    Returns the folder JAX caches in, or None (TensorFlow/torch backend, or
    the cache turned off with `KERAS_BERT_IMPL_JAX_CACHE=off`).
    """
    import keras

    if keras.backend.backend() != "jax":
        return None
    setting = os.environ.get(CACHE_ENV, "").strip()
    if setting.lower() in OFF_VALUES:
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    folder = str(pathlib.Path(setting).expanduser()) if setting else None
    folder = folder or str(default_cache_dir())
    jax.config.update("jax_compilation_cache_dir", folder)
    return folder
