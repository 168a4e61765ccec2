"""The one preset loader: what it refuses."""

import json

import keras
import pytest

from keras_bert_impl.models import BertBackbone


def test_a_preset_of_another_class_is_an_error_naming_both(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    (tmp_path / "config.json").write_text(
        json.dumps(keras.saving.serialize_keras_object(model))
    )
    model.save_weights(str(tmp_path / "model.weights.h5"))
    with pytest.raises(TypeError, match="holds a Sequential, not a BertBackbone"):
        BertBackbone.from_preset(str(tmp_path))
