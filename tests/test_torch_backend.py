"""The models on Keras' torch backend, where torch's oneDNN kernels run them.

On CPUs with AMX, torch's bfloat16 matmuls run about twice TF's (oneDNN) and
XLA CPU has no fast bfloat16 path at all (benchmarks/precision.py), so
`KERAS_BACKEND=torch` is this package's fastest bfloat16 route. CI runs the
suite once per backend for TensorFlow and JAX only; this test runs, in a
child process on the torch backend, the tests that prove the models there:
parity with transformers on real MiniLM weights (float32 and bfloat16), the
pretraining loss and every fine-tuning head, attention, and a classifier
trained and predicting from raw strings. It runs in the JAX pass (the parent's
backend does not matter to the child).
"""

import os
import subprocess
import sys

import keras
import pytest

TORCH_BACKEND_TESTS = (
    "tests/convert/test_huggingface.py",
    "tests/layers/test_bert_self_attention.py",
    "tests/models/test_bert_classifier.py",
)


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="run once per CI, in the JAX pass"
)
def test_models_pass_their_parity_and_task_tests_on_the_torch_backend():
    pytest.importorskip("torch")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        # One process: this test's own pytest process holds the other core.
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
        + [os.path.join(root, path) for path in TORCH_BACKEND_TESTS],
        cwd=root,
        env={**os.environ, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = result.stdout.strip().splitlines()[-1:] or [result.stderr[-2000:]]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary[0], summary
