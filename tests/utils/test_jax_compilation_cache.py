"""The persistent JAX compilation cache: on by default, the user's choice kept."""

import os
import subprocess
import sys

import keras
import pytest

from keras_bert_impl.utils.jax_compilation_cache import CACHE_ENV
from keras_bert_impl.utils.jax_compilation_cache import use_persistent_jax_cache

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="JAX's cache; TF is not affected"
)


@pytest.fixture
def unset_cache_dir(monkeypatch):
    """JAX as a fresh process sees it: no cache folder, no settings."""
    import jax

    for name in (CACHE_ENV, "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", None)
    yield jax
    jax.config.update("jax_compilation_cache_dir", before)


def test_the_cache_is_on_by_default_and_follows_the_settings(
    unset_cache_dir, monkeypatch, tmp_path
):
    jax = unset_cache_dir
    monkeypatch.setenv(CACHE_ENV, "off")
    assert use_persistent_jax_cache() is None
    assert jax.config.jax_compilation_cache_dir is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(CACHE_ENV)
    expected = str(tmp_path / "keras_bert_impl" / "jax")
    assert use_persistent_jax_cache() == expected
    assert jax.config.jax_compilation_cache_dir == expected
    # A folder already set (JAX_COMPILATION_CACHE_DIR, the user's own) is kept.
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "ours"))
    assert use_persistent_jax_cache() == expected
    jax.config.update("jax_compilation_cache_dir", None)
    assert use_persistent_jax_cache() == str(tmp_path / "ours")


def test_a_second_process_loads_its_compiled_train_step_from_the_cache(tmp_path):
    fit_tiny_model = (
        "import numpy as np, keras, keras_bert_impl as kb\n"
        "backbone = kb.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2,"
        " hidden_dim=8, intermediate_dim=16, max_sequence_length=16)\n"
        "model = kb.BertClassifier(backbone, 2)\n"
        "x = {'token_ids': np.ones((4, 8), 'int32'),"
        " 'segment_ids': np.zeros((4, 8), 'int32'),"
        " 'padding_mask': np.ones((4, 8), 'int32')}\n"
        "model.fit(x, np.array([0, 1, 0, 1]), batch_size=4, verbose=0)\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", **{CACHE_ENV: str(tmp_path)})
    # Cache every program, however fast it compiled, to see the files.
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    subprocess.run(
        [sys.executable, "-c", fit_tiny_model], env=env, timeout=300, check=True
    )
    entries = sorted(path.name for path in tmp_path.iterdir())
    assert entries, "the first run wrote nothing to the cache"
    subprocess.run(
        [sys.executable, "-c", fit_tiny_model], env=env, timeout=300, check=True
    )
    # The second run found every program in the cache: nothing new was written.
    assert sorted(path.name for path in tmp_path.iterdir()) == entries
