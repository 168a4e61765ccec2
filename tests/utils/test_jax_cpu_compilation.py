"""XLA's LLVM level 1 on CPU-only JAX: set on import, only where it applies."""

import os
import subprocess
import sys

import keras
import pytest

from keras_bert_impl.utils import jax_cpu_compilation
from keras_bert_impl.utils.jax_cpu_compilation import SETTING_ENV
from keras_bert_impl.utils.jax_cpu_compilation import use_quick_cpu_compilation

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="XLA's flags for JAX; TF is not affected"
)


@pytest.fixture
def before_jax_starts(monkeypatch):
    """This process as a fresh one sees it: no client yet, no settings."""
    from jax._src import xla_bridge

    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: False)
    for name in ("XLA_FLAGS", SETTING_ENV, "JAX_PLATFORMS"):
        monkeypatch.setenv(name, "")  # restored after the test, set or not
        monkeypatch.delenv(name)
    return monkeypatch


def test_set_where_jax_runs_on_the_cpu_alone(before_jax_starts):
    before_jax_starts.setenv("JAX_PLATFORMS", "cpu")
    before_jax_starts.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert use_quick_cpu_compilation() is True
    assert os.environ["XLA_FLAGS"] == (
        "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=1"
    )


def test_the_users_level_an_accelerator_or_off_leave_xla_flags_alone(
    before_jax_starts,
):
    before_jax_starts.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    assert use_quick_cpu_compilation() is False
    assert os.environ["XLA_FLAGS"] == "--xla_backend_optimization_level=3"
    before_jax_starts.delenv("XLA_FLAGS")
    before_jax_starts.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert use_quick_cpu_compilation() is False
    before_jax_starts.delenv("JAX_PLATFORMS")
    before_jax_starts.setattr(jax_cpu_compilation, "_cpu_only", lambda: False)
    assert use_quick_cpu_compilation() is False  # a GPU or TPU plugin installed
    before_jax_starts.setattr(jax_cpu_compilation, "_cpu_only", lambda: True)
    before_jax_starts.setenv(SETTING_ENV, "off")
    assert use_quick_cpu_compilation() is False
    assert "XLA_FLAGS" not in os.environ


def test_too_late_once_jax_has_a_client(monkeypatch):
    import jax

    jax.devices()  # XLA has read its flags
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("XLA_FLAGS", "")
    assert use_quick_cpu_compilation() is False
    assert os.environ["XLA_FLAGS"] == ""


def test_importing_the_package_sets_it_in_a_fresh_process():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    env.pop(SETTING_ENV, None)
    script = "import os, keras_bert_impl; print(os.environ['XLA_FLAGS'])"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.strip().splitlines()[-1] == "--xla_backend_optimization_level=1"
