import atexit
import os
import pathlib
import shutil
import tempfile

import pytest

# Tests run on whichever backend KERAS_BACKEND names (.ci/run runs jax and tensorflow).
os.environ.setdefault("KERAS_BACKEND", "jax")
# Hugging Face libraries must never try the network: every reference is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX's persistent compilation cache (on by default) in a folder of this test
# process's own (each pytest-xdist worker has one), which the processes the
# tests start inherit: tests neither read what another run compiled nor write
# into the user's cache.
_JAX_CACHE = tempfile.mkdtemp(prefix="keras_bert_impl_test_jax_cache_")
os.environ["KERAS_BERT_IMPL_JAX_CACHE"] = _JAX_CACHE
atexit.register(shutil.rmtree, _JAX_CACHE, ignore_errors=True)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """The real public files in ../shared/data; tests skip when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (a clone without ../shared)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seeded():
    import keras

    keras.utils.set_random_seed(1234)
    yield
