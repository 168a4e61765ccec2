import os
import pathlib

import pytest

# Tests run on whichever backend KERAS_BACKEND names (.ci/run runs jax and tensorflow).
os.environ.setdefault("KERAS_BACKEND", "jax")
# Hugging Face libraries must never try the network: every reference is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
