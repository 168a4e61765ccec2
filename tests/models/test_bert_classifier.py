import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertClassifier
from tests.bert_test_case import assert_overfits
from tests.bert_test_case import assert_short_documents_give_the_single_window_result
from tests.bert_test_case import call
from tests.bert_test_case import fast_compile
from tests.bert_test_case import random_inputs
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import texts_of_many_lengths
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor
from tests.bert_test_case import tiny_striding_preprocessor
from tests.bert_test_case import windows_by_hand


def test_regression_overfits_a_small_batch():
    regressor = BertClassifier(tiny_backbone(), num_classes=1, dropout=0.0)
    assert type(regressor.loss).__name__ == "MeanSquaredError"
    x = random_inputs((4, 8))
    scores = np.array([0.2, 1.0, -0.5, 0.6], "float32")
    history = assert_overfits(regressor, x, scores, steps=45)
    assert "mean_absolute_error" in history
    predicted = call(regressor, x)
    assert predicted.shape == (4, 1)
    np.testing.assert_allclose(predicted[:, 0], scores, atol=0.25)


def test_raw_string_pairs_overfit_through_the_preprocessor():
    import tensorflow as tf

    classifier = BertClassifier(
        tiny_backbone(), num_classes=2, preprocessor=tiny_preprocessor(), dropout=0.0
    )
    assert type(classifier.loss).__name__ == "SparseCategoricalCrossentropy"
    first = ["the movie was good", "a dull fox jumps", "where is paris ?", "she sings"]
    second = ["he eats", "what ?", "the fox runs", "a great movie"]
    labels = np.array([1, 0, 1, 0])
    # A tf.data pipeline of ((first, second), label) string pairs...
    dataset = tf.data.Dataset.from_tensor_slices(
        ((first * 50, second * 50), np.tile(labels, 50))
    )
    history = (
        fast_compile(classifier, learning_rate=3e-3)
        .fit(dataset.shuffle(200, seed=1).batch(4), epochs=4, verbose=0)
        .history
    )
    assert history["loss"][-1] < 0.05, history["loss"]
    assert history["accuracy"][-1] == 1.0
    # ... and plain lists of strings are preprocessed the same way.
    logits = classifier.predict((first, second), verbose=0)
    assert logits.shape == (4, 2)
    np.testing.assert_array_equal(logits.argmax(-1), labels)
    packed = classifier.preprocessor((first, second))
    np.testing.assert_allclose(call(classifier, packed), logits, atol=1e-5)


def test_round_trips_with_preprocessor(tmp_path):
    classifier = BertClassifier(
        tiny_backbone(), num_classes=3, preprocessor=tiny_preprocessor(), dropout=0.2
    )
    texts = ["the fox jumps", "a movie"]
    restored = run_serialization_test(classifier, texts, tmp_path)
    run_preset_test(classifier, texts, tmp_path)
    assert restored.num_classes == 3 and restored.dropout == 0.2


def test_feature_based_head_trains_on_a_frozen_backbone(tmp_path):
    backbone = tiny_backbone(dropout=0.1)
    classifier = BertClassifier(
        backbone, num_classes=2, dropout=0.0, feature_layers=(-2, -1)
    )
    assert not backbone.trainable
    trainable = {id(w) for w in classifier.trainable_weights}
    assert trainable and trainable.isdisjoint(id(w) for w in backbone.weights)
    before = backbone.get_weights()
    x = random_inputs((4, 8))
    # A linear probe on fixed features: a larger rate.
    assert_overfits(classifier, x, np.array([0, 1, 1, 0]), steps=60, learning_rate=0.1)
    for old, new in zip(before, backbone.get_weights()):
        np.testing.assert_array_equal(old, new)
    # The backbone's dropout stays off even in training mode: fixed features.
    in_training = keras.ops.convert_to_numpy(classifier(x, training=True))
    np.testing.assert_allclose(in_training, call(classifier, x), atol=1e-5)
    restored = run_serialization_test(classifier, x, tmp_path)
    from_preset = run_preset_test(classifier, x, tmp_path)
    for model in (restored, from_preset):
        assert not model.backbone.trainable
        assert len(model.trainable_weights) == len(classifier.trainable_weights)


def test_invalid_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        BertClassifier(tiny_backbone(), num_classes=0)


@pytest.mark.parametrize("how, reduce", [("mean", np.mean), ("max", np.max)])
def test_a_long_document_is_its_windows_logits_combined(how, reduce):
    preprocessor = tiny_striding_preprocessor()
    classifier = BertClassifier(
        tiny_backbone(), 3, preprocessor=preprocessor, window_aggregation=how
    )
    texts = texts_of_many_lengths(6, seed=3) + ["", "the movie"]
    found = classifier.predict(texts, verbose=0)
    features, spans = windows_by_hand(preprocessor.tokenizer, texts, 12, 4)
    assert max(length for _, _, length in spans) == 10 and len(spans) > 12
    window_logits = call(classifier, features)
    text_of_row = np.array([number for number, _, _ in spans])
    expected = [reduce(window_logits[text_of_row == n], 0) for n in range(len(texts))]
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_a_document_shorter_than_a_window_gives_the_single_window_result():
    assert_short_documents_give_the_single_window_result(
        BertClassifier(tiny_backbone(), 2, preprocessor=tiny_striding_preprocessor())
    )


def test_fit_trains_on_windows_and_evaluate_scores_documents():
    import keras

    classifier = BertClassifier(
        tiny_backbone(), 2, preprocessor=tiny_striding_preprocessor(), dropout=0.0
    )
    fast_compile(classifier)
    texts = texts_of_many_lengths(12, seed=5)
    labels = np.array([len(t.split()) % 2 for t in texts])
    _, spans = windows_by_hand(classifier.preprocessor.tokenizer, texts, 12, 4)

    class CountBatches(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            CountBatches.batches += 1

    history = classifier.fit(
        texts,
        labels,
        batch_size=8,
        validation_data=(texts[:4], labels[:4]),  # read in windows too
        callbacks=[CountBatches()],
        verbose=0,
    )
    assert CountBatches.batches == -(-len(spans) // 8)  # every window, once
    assert np.isfinite(history.history["val_loss"]).all()

    logs = classifier.evaluate(texts, labels, return_dict=True, verbose=0)
    logits = classifier.predict(texts, verbose=0).astype("float64")
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    loss = -log_softmax[np.arange(len(texts)), labels].mean()
    accuracy = (logits.argmax(1) == labels).mean()
    np.testing.assert_allclose(logs["loss"], loss, rtol=1e-4)
    np.testing.assert_allclose(logs["accuracy"], accuracy)
    assert classifier.evaluate(texts, labels, verbose=0) == pytest.approx(
        [logs["loss"], logs["accuracy"]]
    )


def test_long_document_errors():
    import tensorflow as tf

    from keras_bert_impl.models import BertQuestionAnswerer

    classifier = BertClassifier(
        tiny_backbone(), 2, preprocessor=tiny_striding_preprocessor()
    )
    with pytest.raises(ValueError, match="reads in-memory texts"):
        classifier.predict(tf.data.Dataset.from_tensor_slices(["a b"]).batch(1))
    with pytest.raises(ValueError, match="stride windows read single texts"):
        classifier.predict((["the movie"], ["was good"]))
    with pytest.raises(ValueError, match="`window_aggregation` must be one of"):
        BertClassifier(tiny_backbone(), 2, window_aggregation="sum")
    answerer = BertQuestionAnswerer(
        tiny_backbone(), preprocessor=tiny_striding_preprocessor()
    )
    with pytest.raises(ValueError, match="does not read long documents in windows"):
        answerer.predict(["the movie"])
    with pytest.raises(ValueError, match="`stride` must be None or a positive"):
        tiny_striding_preprocessor(stride=0)


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="reads XLA's cost analysis through JAX"
)
def test_a_classifier_runs_only_the_first_token_through_the_last_block():
    import jax

    inputs = random_inputs((8, 64))

    def compiled_flops(function):
        cost = jax.jit(function).lower(inputs).compile().cost_analysis()
        return (cost[0] if isinstance(cost, list) else cost)["flops"]

    def backbone(num_layers):
        return BertBackbone(
            vocabulary_size=100,
            num_layers=num_layers,
            num_heads=2,
            hidden_dim=32,
            intermediate_dim=128,
        )

    one_block = compiled_flops(lambda x: backbone(1)(x)["sequence_output"])
    two_blocks = compiled_flops(lambda x: backbone(2)(x)["sequence_output"])
    classifier = BertClassifier(backbone(2), num_classes=2)
    # The last block's keys and values still see every token (2 of its 12
    # H x H matmuls per token); the rest runs for the [CLS] row alone.
    assert compiled_flops(classifier) < one_block + 0.25 * (two_blocks - one_block)


def _short_and_long_texts():
    rng = np.random.default_rng(3)
    words = ["the", "movie", "was", "good", "bad", "great", "dull", "fox"]
    short = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(90)]
    return short + texts_of_many_lengths(10, seed=4)


@pytest.mark.parametrize("pairs", [False, True])
def test_short_texts_are_predicted_packed_as_they_would_be_one_by_one(pairs):
    classifier = BertClassifier(
        tiny_backbone(max_sequence_length=64),
        num_classes=3,
        preprocessor=tiny_preprocessor(sequence_length=64),
    )
    texts = _short_and_long_texts()
    if pairs:  # the second segments' ids and positions come along
        texts = (texts, texts[::-1])
    predictor = classifier.packed_predictor()
    shapes = []

    def recording(batch):
        shapes.append(batch["token_ids"].shape + batch["first_token_positions"].shape)
        return keras.Model.predict_on_batch(predictor, batch)

    predictor.predict_on_batch = recording
    found = classifier.predict(texts, batch_size=4, verbose=0)
    features = classifier._preprocess_in_memory(texts)
    expected = keras.Model.predict(classifier, features, batch_size=4, verbose=0)
    np.testing.assert_allclose(found, expected, atol=1e-5)
    assert found.shape == (100, 3)
    # 100 texts in a few batches of 4 rows, each row holding several texts.
    assert 2 <= len(shapes) <= (8 if pairs else 5)
    assert sum(shape[0] * shape[3] for shape in shapes) >= 4 * 100 / 4
    if keras.backend.backend() == "jax":
        assert len(set(shapes)) == 1  # one XLA program for the whole call
    if keras.backend.backend() == "tensorflow" and not classifier.jit_compile:
        # Traced once for rows and texts per row of any size.
        assert predictor.predict_function.experimental_get_tracing_count() == 1


def test_an_int8_classifier_predicts_packed_texts_as_one_by_one():
    classifier = BertClassifier(
        tiny_backbone(max_sequence_length=64),
        num_classes=2,
        preprocessor=tiny_preprocessor(sequence_length=64),
    )
    classifier.quantize("int8")
    texts = _short_and_long_texts()
    found = classifier.predict(texts, batch_size=8, verbose=0)
    features = classifier._preprocess_in_memory(texts)
    expected = keras.Model.predict(classifier, features, batch_size=8, verbose=0)
    np.testing.assert_allclose(found, expected, atol=1e-4)


def _counting_packed_calls(classifier):
    """The classifier's packed twin, counting the batches it predicts."""
    predictor = classifier.packed_predictor()
    predictor.calls = 0

    def counting(batch):
        predictor.calls += 1
        return keras.Model.predict_on_batch(predictor, batch)

    predictor.predict_on_batch = counting
    return predictor


@pytest.mark.parametrize("num_classes", [3, 1])
def test_evaluate_on_strings_scores_packed_predictions_as_keras_scores_batches(
    num_classes,
):
    classifier = BertClassifier(
        tiny_backbone(max_sequence_length=64),
        num_classes=num_classes,
        preprocessor=tiny_preprocessor(sequence_length=64),
    )
    metric = "accuracy" if num_classes > 1 else "mean_absolute_error"
    classifier.compile(
        loss=classifier.loss, metrics=[metric], weighted_metrics=[metric]
    )
    rng = np.random.default_rng(0)
    texts = _short_and_long_texts()
    if num_classes == 1:  # string pairs, regression
        texts = (texts, texts[::-1])
        labels = rng.normal(size=100).astype("float32")
    else:
        labels = rng.integers(0, num_classes, size=100)
    weights = rng.uniform(0.5, 2.0, size=100).astype("float32")
    predictor = _counting_packed_calls(classifier)
    found = classifier.evaluate(
        texts, labels, sample_weight=weights, batch_size=4, return_dict=True, verbose=0
    )
    assert predictor.calls > 0  # the packed twin predicted
    # Keras' own evaluate, batch by batch, on the full-length features.
    features = classifier._preprocess_in_memory(texts)
    expected = keras.Model.evaluate(
        classifier,
        features,
        labels,
        sample_weight=weights,
        batch_size=4,
        return_dict=True,
        verbose=0,
    )
    assert sorted(found) == sorted(expected)
    for name, value in expected.items():
        assert found[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    flat = classifier.evaluate(texts, labels, sample_weight=weights, verbose=0)
    expected_flat = keras.Model.evaluate(
        classifier, features, labels, sample_weight=weights, verbose=0
    )
    assert flat == pytest.approx(expected_flat, rel=1e-5, abs=1e-6)
    # Compiled again: the loss and metrics follow (JAX keeps them jitted).
    classifier.compile(loss=classifier.loss, weighted_metrics=[])
    assert list(classifier.evaluate(texts, labels, return_dict=True, verbose=0)) == [
        "loss"
    ]


def test_fit_validates_strings_as_keras_evaluates_their_features():
    classifier = BertClassifier(
        tiny_backbone(max_sequence_length=64),
        num_classes=2,
        preprocessor=tiny_preprocessor(sequence_length=64),
    )
    fast_compile(classifier)
    classifier.compile(
        optimizer=classifier.optimizer, loss=classifier.loss, metrics=["accuracy"]
    )
    texts = _short_and_long_texts()
    labels = np.array([len(text) % 2 for text in texts])
    predictor = _counting_packed_calls(classifier)
    history = classifier.fit(
        texts,
        labels,
        batch_size=8,
        epochs=2,
        validation_data=(texts[:60], labels[:60]),
        verbose=0,
    ).history
    assert predictor.calls > 0  # validation predicted packed texts
    features = classifier._preprocess_in_memory(texts[:60])
    expected = keras.Model.evaluate(
        classifier, features, labels[:60], batch_size=8, return_dict=True, verbose=0
    )
    assert history["val_loss"][-1] == pytest.approx(expected["loss"], rel=1e-5)
    assert history["val_accuracy"][-1] == pytest.approx(expected["accuracy"])
