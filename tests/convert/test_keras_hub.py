import json

import numpy as np
import pytest

from keras_bert_impl.convert import CheckpointMismatchError
from keras_bert_impl.convert import from_keras_hub
from tests.bert_test_case import TINY_BACKBONE_CONFIG
from tests.bert_test_case import TINY_VOCABULARY

keras_hub = pytest.importorskip("keras_hub")

# keras-hub's BertBackbone takes the same arguments as ours.
TINY = {
    **TINY_BACKBONE_CONFIG,
    "num_layers": 2,
    "vocabulary_size": len(TINY_VOCABULARY),
}


@pytest.fixture(scope="module")
def hub_preset(tmp_path_factory):
    """A random tiny keras-hub BertBackbone saved by keras-hub as a preset."""
    folder = tmp_path_factory.mktemp("keras_hub") / "preset"
    backbone = keras_hub.models.BertBackbone(**TINY)
    rng = np.random.default_rng(0)
    for variable in backbone.weights:
        spread = 0.1 if "gamma" in variable.path else 0.2
        base = 1.0 if "gamma" in variable.path else 0.0
        variable.assign(base + spread * rng.standard_normal(variable.shape))
    backbone.save_to_preset(str(folder))
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox"]
    keras_hub.models.BertTokenizer(vocabulary=vocabulary).save_to_preset(str(folder))
    return folder, backbone


def _batch():
    rng = np.random.default_rng(1)
    return {
        "token_ids": rng.integers(1, len(TINY_VOCABULARY), size=(3, 10)).astype(
            "int32"
        ),
        "segment_ids": np.array([[0] * 5 + [1] * 5] * 3, "int32"),
        "padding_mask": np.array([[1] * 10, [1] * 7 + [0] * 3, [1] * 4 + [0] * 6]),
    }


@pytest.mark.parametrize("use_keras_hub", [True, False], ids=["keras_hub", "h5py"])
def test_outputs_equal_keras_hub(hub_preset, use_keras_hub):
    folder, reference = hub_preset
    batch = _batch()
    expected = reference.predict(batch, verbose=0)
    backbone = from_keras_hub(folder, use_keras_hub=use_keras_hub)
    assert backbone.activation == "gelu_approximate"
    assert backbone.count_params() == reference.count_params()
    ours = backbone.predict(batch, verbose=0)
    padding = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(
        ours["sequence_output"][padding],
        expected["sequence_output"][padding],
        atol=1e-5,
        rtol=0,
    )
    np.testing.assert_allclose(
        ours["pooled_output"], expected["pooled_output"], atol=1e-5, rtol=0
    )


def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / "copy")


def test_config_of_another_model_is_refused(hub_preset, tmp_path):
    folder = _copy(hub_preset[0], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["class_name"] = "DistilBertBackbone"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not keras-hub's BertBackbone"):
        from_keras_hub(folder)


@pytest.mark.parametrize("use_keras_hub", [True, False], ids=["keras_hub", "h5py"])
def test_truncated_weights_are_a_clear_error(hub_preset, tmp_path, use_keras_hub):
    folder = _copy(hub_preset[0], tmp_path)
    weights = folder / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointMismatchError, match="model.weights.h5"):
        from_keras_hub(folder, use_keras_hub=use_keras_hub)


def test_config_that_does_not_match_the_weights(hub_preset, tmp_path):
    folder = _copy(hub_preset[0], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["config"]["num_layers"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        CheckpointMismatchError, match="unexpected variable 'transformer_layer_1/"
    ):
        from_keras_hub(folder, use_keras_hub=False)
