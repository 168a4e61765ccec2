import json

import numpy as np
import pytest

from keras_bert_impl.convert import detect_source_format
from keras_bert_impl.convert import load_checkpoint
from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertClassifier
from tests.bert_test_case import tiny_backbone


def test_loads_a_preset_by_name_and_a_finetune_run(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("KERAS_BERT_HOME", str(home))
    backbone = tiny_backbone()
    backbone.save_to_preset(home / "my_tiny")
    assert detect_source_format(home / "my_tiny") == "keras_bert"
    model, labels = load_checkpoint("my_tiny")
    assert type(model) is BertBackbone and labels is None
    for found, expected in zip(model.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(found, expected)

    # A run directory: model/ is the preset; run_config.json names the classes.
    run = tmp_path / "run"
    BertClassifier(tiny_backbone(), num_classes=2).save_to_preset(run / "model")
    (run / "run_config.json").write_text(json.dumps({"label_list": ["neg", "pos"]}))
    assert detect_source_format(run) == "keras_bert"
    model, labels = load_checkpoint(run)
    assert type(model) is BertClassifier and labels == ["neg", "pos"]

    with pytest.raises(ValueError, match="Unknown preset 'no_such_preset'"):
        load_checkpoint("no_such_preset")
    with pytest.raises(ValueError, match="Unknown source_format 'onnx'"):
        load_checkpoint(run, source_format="onnx")
