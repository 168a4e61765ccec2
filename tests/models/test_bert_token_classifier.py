import numpy as np
import pytest

from keras_bert_impl.models import BertTokenClassifier
from tests.bert_test_case import assert_overfits
from tests.bert_test_case import assert_short_documents_give_the_single_window_result
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import run_task_test
from tests.bert_test_case import texts_of_many_lengths
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor
from tests.bert_test_case import tiny_striding_preprocessor
from tests.bert_test_case import windows_by_hand


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
    logits = call(tagger, x)
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


def test_long_document_tokens_come_from_their_max_context_window():
    from tests.utils.test_document_windows import _run_squad_doc_spans
    from tests.utils.test_document_windows import _run_squad_is_max_context

    preprocessor = tiny_striding_preprocessor()
    tagger = BertTokenClassifier(tiny_backbone(), 4, preprocessor=preprocessor)
    texts = texts_of_many_lengths(5, seed=7) + [""]
    found = tagger.predict(texts, verbose=0)
    pieces = [len(np.asarray(preprocessor.tokenizer.tokenize(t))) for t in texts]
    assert found.shape == (len(texts), max(pieces) + 2, 4) and max(pieces) > 20
    features, rows = windows_by_hand(preprocessor.tokenizer, texts, 12, 4)
    window_logits = call(tagger, features)
    for number, length in enumerate(pieces):
        spans = _run_squad_doc_spans(length, 10, 4) or [(0, 0)]
        first = rows.index((number, *spans[0]))
        np.testing.assert_allclose(found[number, 0], window_logits[first, 0], atol=1e-5)
        for piece in range(length):
            best = next(
                i
                for i in range(len(spans))
                if _run_squad_is_max_context(spans, i, piece)
            )
            expected = window_logits[first + best, 1 + piece - spans[best][0]]
            np.testing.assert_allclose(found[number, 1 + piece], expected, atol=1e-5)
        last = first + len(spans) - 1
        np.testing.assert_allclose(
            found[number, length + 1], window_logits[last, spans[-1][1] + 1], atol=1e-5
        )
        assert (found[number, length + 2 :] == 0).all()


def test_a_document_shorter_than_a_window_gives_the_single_window_result():
    assert_short_documents_give_the_single_window_result(
        BertTokenClassifier(
            tiny_backbone(), 3, preprocessor=tiny_striding_preprocessor()
        )
    )


def test_fit_and_evaluate_on_long_documents_take_document_labels():
    tagger = BertTokenClassifier(
        tiny_backbone(), 3, preprocessor=tiny_striding_preprocessor(), dropout=0.0
    )
    texts = texts_of_many_lengths(6, seed=9)
    pieces = [len(np.asarray(tagger.preprocessor.tokenizer.tokenize(t))) for t in texts]
    width = max(pieces) + 2
    rng = np.random.default_rng(0)
    labels = np.full((len(texts), width), -100, "int32")
    for number, length in enumerate(pieces):
        labels[number, 1 : length + 1] = rng.integers(0, 3, size=length)
    history = tagger.fit(texts, labels, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    logs = tagger.evaluate(texts, labels, return_dict=True, verbose=0)
    logits = tagger.predict(texts, verbose=0).astype("float64")
    labeled = labels != -100
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(labeled, labels, 0)[..., None], -1)
    np.testing.assert_allclose(logs["loss"], -picked[..., 0][labeled].mean(), rtol=1e-4)
    accuracy = (logits.argmax(-1) == labels)[labeled].mean()
    np.testing.assert_allclose(logs["accuracy"], accuracy, rtol=1e-6)
    # Labels wider than the documents need are cut.
    wide = np.pad(labels, ((0, 0), (0, 5)), constant_values=-100)
    assert tagger.evaluate(texts, wide, return_dict=True, verbose=0) == pytest.approx(
        logs
    )
