"""`cache_weights_for_inference`: oneDNN's weight caching, for bfloat16 on TF only."""

import os

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertClassifier
from keras_bert_impl.utils.inference_process import FROZEN_WEIGHTS_VARIABLE
from keras_bert_impl.utils.inference_process import cache_weights_for_inference
from tests.bert_test_case import tiny_backbone

ON_TF = keras.backend.backend() == "tensorflow"


@pytest.fixture
def unset(monkeypatch):
    # monkeypatch restores the environment after the test only for names it
    # set or deleted: `delenv` of an absent name records nothing, and the
    # value the code sets would leak into the processes later tests start
    # (it broke a two-process fine-tuning test that ran after this file).
    # TF reads the variable once, at its first fused matmul; this file runs none.
    monkeypatch.setenv(FROZEN_WEIGHTS_VARIABLE, "")
    monkeypatch.delenv(FROZEN_WEIGHTS_VARIABLE)
    return monkeypatch


def test_a_bfloat16_model_caches_its_weights_on_tensorflow_only(unset):
    assert cache_weights_for_inference(tiny_backbone(dtype="mixed_bfloat16")) is ON_TF
    assert os.environ.get(FROZEN_WEIGHTS_VARIABLE) == ("1" if ON_TF else None)


def test_a_float32_model_leaves_it_off(unset):
    # Measured 9% slower in float32 on an AMX Xeon: not set.
    assert cache_weights_for_inference(tiny_backbone()) is False
    assert FROZEN_WEIGHTS_VARIABLE not in os.environ


def test_a_value_the_user_set_is_kept(unset):
    unset.setenv(FROZEN_WEIGHTS_VARIABLE, "0")
    assert cache_weights_for_inference(tiny_backbone(dtype="mixed_bfloat16")) is False
    assert os.environ[FROZEN_WEIGHTS_VARIABLE] == "0"


@pytest.mark.skipif(not ON_TF, reason="the setting is TensorFlow's oneDNN's")
def test_fit_refuses_to_train_under_it(unset):
    unset.setenv(FROZEN_WEIGHTS_VARIABLE, "1")
    model = BertClassifier(tiny_backbone(), 2)
    features = {
        "token_ids": np.ones((2, 8), "int32"),
        "segment_ids": np.zeros((2, 8), "int32"),
        "padding_mask": np.ones((2, 8), "int32"),
    }
    with pytest.raises(ValueError, match=f"^{FROZEN_WEIGHTS_VARIABLE}=1 is set in"):
        model.fit(features, np.array([0, 1]), verbose=0)
