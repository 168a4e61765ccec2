import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_bert_impl.training.distribution import bert_layout_map
from keras_bert_impl.training.distribution import check_layout_map
from keras_bert_impl.training.distribution import create_distribution
from keras_bert_impl.training.distribution import distribution_scope
from keras_bert_impl.training.distribution import global_batch_size
from keras_bert_impl.training.distribution import num_data_replicas

SCRIPT = pathlib.Path(__file__).with_name("distributed_fit_script.py")
BACKEND = keras.backend.backend()


def _assert_matches(single, distributed):
    np.testing.assert_allclose(distributed["loss"], single["loss"], rtol=2e-6)
    for a, b in zip(distributed["weights"], single["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-5, atol=2e-6)


@pytest.mark.skipif(BACKEND not in ("jax", "tensorflow"), reason="JAX or TF only")
def test_distributed_fit_equals_one_device():
    """JAX: 8 simulated CPU devices, DataParallel and ModelParallel (2x4 mesh);
    TF: MirroredStrategy over 2 logical CPUs. Same global batch of 8, AdamW
    and LAMB with global-norm clipping that triggers every step."""
    root = SCRIPT.parents[2]
    process = subprocess.run(
        [sys.executable, str(SCRIPT), BACKEND],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(root)),
        cwd=root,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    results = json.loads(process.stdout.strip().splitlines()[-1])
    distributed = {
        "jax": ["data_parallel/adamw", "model_parallel/adamw", "model_parallel/lamb"],
        "tensorflow": ["mirrored/adamw", "mirrored/lamb"],
    }[BACKEND]
    # `predict` on strings under the distribution (one Keras predict per
    # length) gives the single-device outputs, in input order.
    predicted = results.pop("predict_strings")
    assert predicted["pooled"]["shape"] == [37, 2]
    assert predicted["per_token"]["shape"] == [37, 16, 3]
    for output in predicted.values():
        assert output["max_difference"] < 1e-5, predicted
    assert set(results) == set(distributed) | {"single/adamw", "single/lamb"}
    for name in distributed:
        _assert_matches(results["single/" + name.split("/")[1]], results[name])
    if BACKEND == "jax":
        assert results["data_parallel/adamw"]["replicas"] == "DataParallel"
        assert results["model_parallel/lamb"]["replicas"] == "ModelParallel"
        # The query kernel is really split over the model axis.
        assert results["model_parallel/lamb"]["sharding"] == [None, "model"]
    else:
        assert results["mirrored/adamw"]["replicas"] == "MirroredStrategy"


BERT_PATHS = {
    "embeddings/token_embedding/embeddings": (None, "model"),
    "embeddings/position_embedding/embeddings": (None, "model"),
    "embeddings/layer_norm/gamma": None,
    "transformer_layer_0/attention/query/kernel": (None, "model"),
    "transformer_layer_11/attention/value/bias": ("model",),
    "transformer_layer_3/attention/output/kernel": ("model", None),
    "transformer_layer_3/attention/output/bias": None,
    "transformer_layer_0/attention_layer_norm/gamma": None,
    "transformer_layer_0/intermediate/kernel": (None, "model"),
    "transformer_layer_0/intermediate/bias": ("model",),
    "transformer_layer_0/output/kernel": ("model", None),
    "transformer_layer_0/output/bias": None,
    "bert_backbone/transformer_layer_2/attention/key/kernel": (None, "model"),
    "pooler_dense/kernel": None,
    "masked_lm_head/transform_dense/kernel": None,
    "masked_lm_head/output_bias": None,
}


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX's")
def test_bert_layout_map_matches_bert_variable_paths():
    mesh = keras.distribution.DeviceMesh(
        (1, 1), ("batch", "model"), keras.distribution.list_devices()[:1]
    )
    layout_map = bert_layout_map(mesh)
    for path, axes in BERT_PATHS.items():
        layout = layout_map[path]
        assert (None if layout is None else tuple(layout.axes)) == axes, path


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX's")
def test_a_layout_map_rule_that_matches_no_variable_is_an_error():
    from tests.bert_test_case import tiny_backbone

    mesh = keras.distribution.DeviceMesh(
        (1, 1), ("batch", "model"), keras.distribution.list_devices()[:1]
    )
    distribution = keras.distribution.ModelParallel(
        layout_map=bert_layout_map(mesh), batch_dim_name="batch"
    )
    check_layout_map(distribution, tiny_backbone())  # every rule finds its variables
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="intermediate/kernel.*match no variable"):
        check_layout_map(distribution, other)
    check_layout_map(None, other)  # nothing to check without model parallelism


def test_strategy_names_and_global_batch_size():
    with pytest.raises(ValueError, match="Unknown strategy"):
        create_distribution("horovod")
    with distribution_scope("cpu") as distribution:
        assert num_data_replicas(distribution) == 1
        assert global_batch_size(32, distribution) == 32
    if BACKEND == "tensorflow":
        import tensorflow as tf

        assert distribution is tf.distribute.get_strategy()
        with pytest.raises(ValueError, match="JAX"):
            create_distribution("mirrored", model_parallel=2)
    elif BACKEND == "jax":
        assert distribution is None
        data_parallel = create_distribution("data_parallel")
        assert isinstance(data_parallel, keras.distribution.DataParallel)
        devices = len(keras.distribution.list_devices())
        assert num_data_replicas(data_parallel) == devices
    with pytest.raises(ValueError, match="multiple of the 2 data replicas"):
        global_batch_size(3, _TwoReplicas())


class _TwoReplicas:
    num_replicas_in_sync = 2
