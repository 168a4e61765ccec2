import numpy as np
import pytest

from keras_bert_impl.models import BertTokenClassifier
from tests.bert_test_case import assert_overfits
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import run_task_test
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor


def _labels():
    """Per-token tags; -100 on [CLS], on continuation pieces and on padding."""
    labels = np.random.default_rng(3).integers(0, 5, size=(4, 8)).astype("int32")
    labels[:, 0] = -100
    labels[:, 3] = -100
    labels[:, 6:] = -100
    return labels


def test_overfits_and_ignores_unlabeled_positions():
    tagger = BertTokenClassifier(tiny_backbone(), num_classes=5, dropout=0.0)
    x = random_inputs((4, 8))
    x["padding_mask"][:, 6:] = 0
    labels = _labels()
    history = assert_overfits(tagger, x, labels, steps=60)
    assert history["accuracy"][-1] == 1.0
    logits = call(tagger, x)
    assert logits.shape == (4, 8, 5)
    labeled = labels != -100
    np.testing.assert_array_equal(logits.argmax(-1)[labeled], labels[labeled])
    # Whatever the model says at -100 positions does not count.
    loss = float(tagger.compute_loss(x, labels, logits))
    assert loss < 0.05
    garbled = logits.copy()
    garbled[~labeled] = np.random.default_rng(0).normal(size=garbled[~labeled].shape)
    assert float(tagger.compute_loss(x, labels, garbled)) == pytest.approx(loss)


def test_loss_is_the_mean_over_labeled_tokens():
    tagger = BertTokenClassifier(tiny_backbone(), num_classes=5)
    x = random_inputs((2, 8))
    labels = _labels()[:2]
    logits = tagger(x, training=False)
    loss = tagger.compute_loss(x, labels, logits)
    logits = np.asarray(logits, "float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labeled = labels != -100
    expected = -np.take_along_axis(
        log_probs, np.where(labeled, labels, 0)[..., None], -1
    )[..., 0][labeled].mean()
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_feature_based_bilstm_head_trains_on_a_frozen_backbone():
    backbone = tiny_backbone()
    tagger = BertTokenClassifier(backbone, num_classes=3, feature_layers=(0, -1))
    assert not backbone.trainable and len(tagger.lstm_layers) == 2
    before = backbone.get_weights()
    x = random_inputs((2, 6))
    labels = np.array([[-100, 0, 1, 2, 1, -100], [-100, 2, 2, 0, 1, -100]])
    run_task_test(tagger, x, labels, expected_output_shape=(2, 6, 3))
    for old, new in zip(before, backbone.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_round_trips_with_preprocessor(tmp_path):
    tagger = BertTokenClassifier(
        tiny_backbone(),
        num_classes=4,
        preprocessor=tiny_preprocessor(sequence_length=8),
    )
    texts = ["the fox jumps", "she sings"]
    run_serialization_test(tagger, texts, tmp_path)
    restored = run_preset_test(tagger, texts, tmp_path)
    assert call(restored, tagger.preprocess_samples(["the fox"])[0]).shape == (1, 8, 4)
