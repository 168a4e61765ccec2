"""On JAX, models build, load presets and train without TensorFlow installed.

TensorFlow serves the tokenizers, `tf.data` pipelines and exports; a JAX user
who feeds token ids (or a machine without TensorFlow, such as the lent GPU
machines of `benchmarks/device_check.sh`) imports the package, loads a preset
and trains without it. A child process blocks every TensorFlow import.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tests.huggingface_reference import huggingface_outputs
from tests.huggingface_reference import minilm_folder

CHILD = textwrap.dedent(
    """
    import sys

    class BlockTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "tensorflow_text"):
                raise ModuleNotFoundError(f"No module named '{name}'", name=name)

    sys.meta_path.insert(0, BlockTensorFlow())

    import numpy as np

    import keras_bert_impl as kb

    token_ids = np.array([[101, 7592, 2088, 102, 0]], "int32")
    inputs = {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": (token_ids > 0).astype("int32"),
    }
    classifier = kb.BertClassifier(
        kb.BertBackbone(
            vocabulary_size=8000, num_layers=1, num_heads=2, hidden_dim=8,
            intermediate_dim=16,
        ),
        num_classes=2,
    )
    classifier.fit(inputs, np.array([1]), epochs=1, verbose=0)
    assert classifier.predict(inputs, verbose=0).shape == (1, 2)
    assert len(classifier.evaluate(inputs, np.array([1]), verbose=0)) == 2
    outputs = kb.BertBackbone.from_preset("all_minilm_l6_v2")(inputs)
    np.save(sys.argv[1], np.asarray(outputs["sequence_output"]))
    assert "tensorflow" not in sys.modules, "TensorFlow was imported"
    try:
        kb.BertTokenizer
    except ModuleNotFoundError as error:
        assert "needs TensorFlow and tensorflow-text" in str(error), error
    else:
        raise AssertionError("kb.BertTokenizer without TensorFlow")
    """
)


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="the child runs on JAX whatever the suite's backend: once is enough",
)
def test_jax_builds_trains_and_loads_a_preset_without_tensorflow(tmp_path):
    import transformers

    saved = tmp_path / "sequence_output.npy"
    subprocess.run(
        [sys.executable, "-c", CHILD, str(saved)],
        env={**os.environ, "KERAS_BACKEND": "jax"},
        check=True,
        timeout=300,
    )
    # The preset's outputs are the real MiniLM's, as transformers computes them.
    token_ids = np.array([[101, 7592, 2088, 102, 0]], "int32")
    inputs = {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": (token_ids > 0).astype("int32"),
    }
    reference = transformers.BertModel.from_pretrained(minilm_folder()).eval()
    expected = huggingface_outputs(reference, inputs).last_hidden_state.numpy()
    real = inputs["padding_mask"][0] == 1  # padding positions differ by design
    np.testing.assert_allclose(np.load(saved)[:, real], expected[:, real], atol=1e-4)
