"""PipelineModel on a toy model: raw strings in, length buckets, input order out."""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.utils import in_memory_preprocessing
from keras_bert_impl.utils import string_batches
from keras_bert_impl.utils.length_bucketing import bucket_lengths_for
from keras_bert_impl.utils.length_bucketing import compiled_bucket_lengths
from keras_bert_impl.utils.pipeline_model import PipelineModel
from keras_bert_impl.utils.raw_inputs import batches_per_epoch
from tests.bert_test_case import texts_of_many_lengths

SEQUENCE_LENGTH = 64
NUM_WORD_IDS = 40


class _HashedWords:
    """Strings to hashed word ids padded to `SEQUENCE_LENGTH`: a stand-in tokenizer."""

    sequence_length = SEQUENCE_LENGTH

    def call(self, texts):
        words = tf.strings.split(texts)
        ids = tf.strings.to_hash_bucket_fast(words, NUM_WORD_IDS) + 1
        ids = tf.cast(ids.to_tensor(shape=[None, SEQUENCE_LENGTH]), "int32")
        return {"token_ids": ids, "padding_mask": tf.cast(ids > 0, "int32")}

    __call__ = call


class _HashedWordsWithLabels(_HashedWords):
    """keras-hub style: `call` takes and returns labels (here: shifted by 1)."""

    def call(self, texts, y=None, sample_weight=None):
        return super().call(texts), y + 1, sample_weight

    __call__ = call


class _RecordingModel(PipelineModel):
    """Remembers the data `fit` was about to train on."""

    def _prepare_fit(self, x, batch_size, epochs, steps_per_epoch, initial_epoch):
        self.prepared = (x, batch_size, epochs)


HASHED_WORDS = _HashedWords()


def _toy_model(preprocessor=HASHED_WORDS, with_sequence_output=True):
    """Outputs `pooled` (batch, 2) and, optionally, `per_token` (batch, sequence, 3)."""
    inputs = {
        "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
    }
    mask = keras.ops.cast(inputs["padding_mask"], "float32")[..., None]
    embedded = keras.layers.Embedding(NUM_WORD_IDS + 1, 4)(inputs["token_ids"]) * mask
    outputs = {"pooled": keras.layers.Dense(2)(keras.ops.sum(embedded, axis=1))}
    if with_sequence_output:
        outputs["per_token"] = keras.layers.Dense(3)(embedded)
    else:
        outputs = outputs["pooled"]
    model = _RecordingModel(inputs=inputs, outputs=outputs, name="toy_model")
    model.preprocessor = preprocessor
    return model


def _eager(model, x):
    return keras.tree.map_structure(
        keras.ops.convert_to_numpy, model(keras.tree.map_structure(np.asarray, x))
    )


def test_strings_are_predicted_by_length_in_input_order():
    model = _toy_model()
    texts = texts_of_many_lengths(37)
    dataset = model._as_preprocessed_data(texts, np.zeros(37), batch_size=8)[0]
    widths = [int(x["padding_mask"].shape[1]) for x, _ in dataset]
    assert set(widths) <= set(bucket_lengths_for(SEQUENCE_LENGTH)), widths
    assert min(widths) < SEQUENCE_LENGTH
    assert sum(len(x["padding_mask"]) for x, _ in dataset) == 37

    found = model.predict(texts, batch_size=8, verbose=0)
    packed = model.preprocessor(texts)
    expected = _eager(model, packed)
    np.testing.assert_allclose(found["pooled"], expected["pooled"], atol=1e-5)
    assert found["per_token"].shape == (37, SEQUENCE_LENGTH, 3)
    mask = packed["padding_mask"].numpy().astype(bool)
    np.testing.assert_allclose(
        found["per_token"][mask], expected["per_token"][mask], atol=1e-5
    )
    assert not found["per_token"][~mask].any()  # past each text's end: zeros


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TF predict without XLA only"
)
def test_tf_predict_pads_each_batch_to_its_own_longest_text_with_one_trace(
    monkeypatch,
):
    model = _toy_model()
    texts = texts_of_many_lengths(37)
    widths = []
    keras_predict_on_batch = keras.Model.predict_on_batch

    def recording_predict_on_batch(self, x):
        widths.append(x["padding_mask"].shape[1])
        return keras_predict_on_batch(self, x)

    monkeypatch.setattr(keras.Model, "predict_on_batch", recording_predict_on_batch)
    found = model.predict(texts, batch_size=8, verbose=0)

    # Longest first, the partial batch (37 = 5 + 4 * 8) first of all.
    lengths = np.sort(model.preprocessor(texts)["padding_mask"].numpy().sum(axis=1))
    bounds = [(32, 37), (24, 32), (16, 24), (8, 16), (0, 8)]
    longest = [lengths[start:end].max() for start, end in bounds]
    assert widths == longest
    # Traced once for any rows and length (Keras alone traces twice).
    assert model.predict_function.experimental_get_tracing_count() == 1
    expected = _eager(model, model.preprocessor(texts))
    np.testing.assert_allclose(found["pooled"], expected["pooled"], atol=1e-5)
    model.predict(texts[:3], batch_size=8, verbose=0)
    assert model.predict_function.experimental_get_tracing_count() == 1


def test_a_string_fit_plans_with_the_bucketed_batches():
    model = _toy_model(with_sequence_output=False)
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    texts, labels = texts_of_many_lengths(40), np.arange(40) % 2
    history = model.fit(texts, labels, batch_size=8, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    prepared, batch_size, epochs = model.prepared
    batches = sum(1 for _ in prepared)
    assert batches_per_epoch(prepared) == batches >= 40 // 8
    assert (batch_size, epochs) == (None, 2)  # the dataset is batched already
    assert int(model.optimizer.iterations) == 2 * batches


def _fit_recording_batches(weighted, jit_compile=True):
    """Batch shapes and train-step traces of one string `fit` (263 texts, batch 8)."""
    model = _toy_model(with_sequence_output=False)
    traces = []
    compute_loss = model.compute_loss

    def counting_compute_loss(*args, **kwargs):
        traces.append(1)  # under jit: once per traced batch shape
        return compute_loss(*args, **kwargs)

    model.compute_loss = counting_compute_loss
    metric = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=None if weighted else metric,
        weighted_metrics=metric if weighted else None,
        jit_compile=jit_compile,
    )
    texts, labels = texts_of_many_lengths(263), np.arange(263) % 2
    model.fit(texts, labels, batch_size=8, epochs=1, verbose=0)
    shapes = [tuple(x["padding_mask"].shape) for x, *_ in model.prepared[0]]
    lengths = model.preprocessor(texts)["padding_mask"].numpy().sum(axis=1)
    # Under XLA, one length per 16 batches (here 2); else the geometric 8.
    if jit_compile:
        buckets = compiled_bucket_lengths(lengths, 8, SEQUENCE_LENGTH)
    else:
        buckets = bucket_lengths_for(SEQUENCE_LENGTH)
    per_bucket = collections.Counter(
        buckets[np.searchsorted(buckets, n)] for n in lengths
    )
    return shapes, len(traces), per_bucket


def test_xla_string_fit_fills_partial_batches_with_zero_weight_rows():
    shapes, _, per_bucket = _fit_recording_batches(weighted=True)
    assert {batch for batch, _ in shapes} == {8}
    assert {width for _, width in shapes} == set(per_bucket)
    # With an unweighted metric, which would count the padding rows, or
    # without XLA, which compiles no program per shape: partial batches stay.
    for unpadded in (
        _fit_recording_batches(weighted=False),
        _fit_recording_batches(weighted=True, jit_compile=False),
    ):
        assert {batch for batch, _ in unpadded[0]} != {8}


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="JAX traces one step per batch shape"
)
def test_jax_string_fit_traces_one_train_step_per_bucket():
    _, traces, per_bucket = _fit_recording_batches(weighted=True)
    _, unpadded_traces, _ = _fit_recording_batches(weighted=False)
    # A bucket's partial batch after full ones was a shape of its own.
    extra_shapes = sum(count > 8 and count % 8 > 0 for count in per_bucket.values())
    assert extra_shapes >= 1
    assert unpadded_traces - traces == extra_shapes
    # One per bucket; Keras adds one trace to build.
    assert traces <= len(per_bucket) + 1


class _EagerRecordingWords(_HashedWordsWithLabels):
    """Records, per call, whether it ran eagerly (False: traced in tf.data)."""

    def __init__(self):
        self.eager_calls = []

    def call(self, texts, y=None, sample_weight=None):
        self.eager_calls.append(tf.executing_eagerly())
        return super().call(texts, y, sample_weight)

    __call__ = call


def _as_lists(dataset):
    return [keras.tree.map_structure(lambda t: t.numpy().tolist(), e) for e in dataset]


def test_small_data_is_tokenized_once_before_tf_data_into_the_same_batches(
    monkeypatch,
):
    texts, labels = texts_of_many_lengths(37), np.arange(37)
    eager_model = _toy_model(preprocessor=_EagerRecordingWords())
    eager = eager_model._as_preprocessed_data(
        texts, labels, batch_size=8, pad_partial_batches=True
    )[0]
    # Two epochs: the texts were tokenized once, eagerly, not in tf.data.
    assert _as_lists(eager) == _as_lists(eager)
    assert eager_model.preprocessor.eager_calls == [True]
    # Nothing left for tf.data to tune (its autotuner delayed epoch ends).
    assert eager.options().autotune.enabled is False

    # Data over the limit streams through the preprocessor inside tf.data.
    limit = len(texts) * SEQUENCE_LENGTH - 1
    monkeypatch.setattr(string_batches, "EAGER_TOKEN_SLOTS", limit)
    streamed_model = _toy_model(preprocessor=_EagerRecordingWords())
    streamed = streamed_model._as_preprocessed_data(
        texts, labels, batch_size=8, pad_partial_batches=True
    )[0]
    assert True not in streamed_model.preprocessor.eager_calls
    assert _as_lists(streamed) == _as_lists(eager)
    widths = {len(x["padding_mask"][0]) for x, *_ in _as_lists(eager)}
    assert max(widths) < SEQUENCE_LENGTH  # bucketed
    y = [label for _, batch_labels, _ in _as_lists(eager) for label in batch_labels]
    assert sorted(y)[-37:] == list(range(1, 38))  # shifted by the preprocessor


def test_a_batched_dataset_keeps_its_batches():
    model = _toy_model()
    texts = tf.data.Dataset.from_tensor_slices(texts_of_many_lengths(7)).batch(3)
    dataset = model._as_preprocessed_data(texts)[0]
    assert [int(x["padding_mask"].shape[0]) for x in dataset] == [3, 3, 1]
    assert {int(x["padding_mask"].shape[1]) for x in dataset} == {SEQUENCE_LENGTH}
    with pytest.raises(ValueError, match="put labels and weights in it"):
        model._as_preprocessed_data(texts, y=np.zeros(7))


def test_a_preprocessor_that_takes_labels_returns_them():
    model = _toy_model(preprocessor=_HashedWordsWithLabels())
    x, y, sample_weight = model.preprocess_samples(
        tf.constant(["the fox"]), tf.constant([1])
    )
    assert x["token_ids"].shape == (1, SEQUENCE_LENGTH)
    assert y.numpy().tolist() == [2] and sample_weight is None


def test_token_ids_go_straight_to_keras_and_strings_need_a_preprocessor():
    model = _toy_model(preprocessor=None)
    x = {
        "token_ids": np.ones((2, 5), "int32"),
        "padding_mask": np.ones((2, 5), "int32"),
    }
    assert model.preprocess_samples(x)[0] is x
    assert model.predict(x, verbose=0)["per_token"].shape == (2, 5, 3)
    with pytest.raises(ValueError, match="has no preprocessor"):
        model.predict(["no preprocessor attached"], verbose=0)


def test_in_memory_strings_are_preprocessed_by_one_graph_until_it_is_replaced(
    monkeypatch,
):
    # Traced at the first call (by default the first calls run eagerly).
    monkeypatch.setattr(in_memory_preprocessing, "EAGER_SECONDS_BEFORE_TRACING", 0.0)
    traces = []

    class _CountingWords(_HashedWords):
        def call(self, texts):
            traces.append(self)  # Python runs only while tracing
            return super().call(texts)

        __call__ = call

    model = _toy_model(preprocessor=_CountingWords())
    for count in (1, 5, 37):
        texts = texts_of_many_lengths(count, seed=count)
        found = model.predict(texts, batch_size=8, verbose=0)
        expected = _eager(model, HASHED_WORDS(texts))
        np.testing.assert_allclose(found["pooled"], expected["pooled"], atol=1e-5)
    assert len(traces) == 1
    model.preprocessor = _CountingWords()
    model.predict(texts_of_many_lengths(3), verbose=0)
    assert len(traces) == 2 and traces[1] is model.preprocessor


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TF's train-step tracing"
)
def test_tf_fit_traces_its_train_step_once(monkeypatch):
    # Keras builds the optimizer inside the first trace unless it is built
    # before, and a tf.function that created variables is traced again.
    traces = []
    keras_train_step = PipelineModel.train_step

    def counting_train_step(self, *args):
        traces.append(1)  # Python runs only while tracing
        return keras_train_step(self, *args)

    monkeypatch.setattr(PipelineModel, "train_step", counting_train_step)
    model = _toy_model(with_sequence_output=False)
    model.compile(optimizer="adam", loss="mse")
    model.fit(texts_of_many_lengths(40), np.zeros((40, 2)), batch_size=8, verbose=0)
    assert len(traces) == 1
    assert model.optimizer.iterations.numpy() > 0  # it trained
