"""The tests' shared pieces: the one tiny config, and one check per kind of object.

As keras-hub's `TestCase`: `run_layer_test`, `run_backbone_test`,
`run_task_test`, `run_preset_test` and `run_serialization_test` hold the checks
every layer, backbone, task, preset and saved model must pass, so that a test
file adds only what is particular to its object. The tiny model every test
builds is `tiny_backbone()` (`TINY_BACKBONE_CONFIG` over `TINY_VOCABULARY`);
tests override fields of it (`tiny_backbone(num_layers=2)`), never copy it.
"""

import json

import keras
import numpy as np

from keras_bert_impl.models import BertBackbone

# A vocabulary small enough to keep models tiny, with the BERT special tokens.
TINY_VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "movie", "was",
    "good", "bad", "great", "dull", "fox", "jumps", "who", "where", "what", "is",
    "in", "paris", "london", "he", "she", "runs", "eats", "sings", ".", "?", ",",
]  # fmt: skip


# The one tiny architecture of the tests (BertBackbone arguments, vocabulary aside).
TINY_BACKBONE_CONFIG = dict(
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    max_sequence_length=16,
    dropout=0.0,
)


def tiny_backbone(**overrides):
    """A `BertBackbone` of `TINY_BACKBONE_CONFIG` over `TINY_VOCABULARY`."""
    config = {"vocabulary_size": len(TINY_VOCABULARY), **TINY_BACKBONE_CONFIG}
    return BertBackbone(**{**config, **overrides})


def tiny_preprocessor(sequence_length=12):
    """A `BertPreprocessor` over `TINY_VOCABULARY`."""
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    return BertPreprocessor(BertTokenizer(TINY_VOCABULARY), sequence_length)


def tiny_striding_preprocessor(sequence_length=12, stride=4):
    """`tiny_preprocessor` reading long texts in windows `stride` pieces apart."""
    from keras_bert_impl.tokenizers import BertPreprocessor

    tokenizer = tiny_preprocessor().tokenizer
    return BertPreprocessor(tokenizer, sequence_length, stride=stride)


def assert_short_documents_give_the_single_window_result(task):
    """A task with `tiny_striding_preprocessor` predicts on texts shorter than a
    window exactly what it predicts without windows."""
    short = ["the movie was good", "she sings", "", "a dull fox jumps in paris"]
    found = task.predict(short, verbose=0)
    task.preprocessor = tiny_preprocessor(task.preprocessor.sequence_length)
    np.testing.assert_array_equal(found, task.predict(short, verbose=0))


def random_inputs(shape, seed=0):
    """The backbone's input dict of `shape`: random real tokens, no padding."""
    rng = np.random.default_rng(seed)
    return {
        "token_ids": rng.integers(5, len(TINY_VOCABULARY), size=shape).astype("int32"),
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }


def texts_of_many_lengths(count, seed=0):
    """`count` texts of 1 to 44 words of `TINY_VOCABULARY`, for length bucketing."""
    rng = np.random.default_rng(seed)
    words = TINY_VOCABULARY[5:]
    return [" ".join(rng.choice(words, size=rng.integers(1, 45))) for _ in range(count)]


def fast_compile(task, learning_rate=1e-2):
    """Plain Adam with a large rate: overfitting a tiny batch in a few steps."""
    task.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return task


def repeat_batch(x, y, times):
    """`times` copies of a small batch, for many steps in few (cheap) epochs."""
    return keras.tree.map_structure(lambda v: np.concatenate([v] * times), (x, y))


def assert_overfits(
    task, x, y, steps=30, final_loss=0.05, epochs=6, learning_rate=1e-2
):
    """Trains `steps` steps on one batch; the last epoch's mean loss is ~0."""
    x_many, y_many = repeat_batch(x, y, steps // epochs)
    batch_size = len(keras.tree.flatten(y)[0])
    history = (
        fast_compile(task, learning_rate)
        .fit(x_many, y_many, batch_size=batch_size, epochs=epochs, verbose=0)
        .history
    )
    assert history["loss"][-1] < final_loss, history["loss"]
    assert history["loss"][-1] < 0.2 * history["loss"][0], history["loss"]
    return history


def call(model, x):
    """Eager inference as NumPy (cheaper than tracing a predict function)."""
    return _as_numpy(model(x, training=False))


def _as_numpy(outputs):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def assert_all_close(found, expected, atol=1e-5):
    """Every leaf of two output structures is equal within `atol`."""
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(
            np.asarray(a, "float32"), np.asarray(b, "float32"), atol=atol
        ),
        _as_numpy(found),
        _as_numpy(expected),
    )


def _shapes(outputs):
    return keras.tree.map_structure(lambda output: tuple(output.shape), outputs)


def _model_inputs(model, x):
    """`x` as the model's own inputs: raw strings go through its preprocessing."""
    if getattr(model, "preprocessor", None) is not None:
        x = model.preprocess_samples(x)[0]
    return _as_numpy(x)


def _call_layer(layer, input_data):
    # A dict holds the layer's call arguments by name, as keras-hub's tests.
    if isinstance(input_data, dict):
        return layer(**input_data)
    return layer(input_data)


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape):
    """A layer's config round trip, then symbolic and eager calls of the right shapes.

    `input_data` is one array or a dict of call arguments by name;
    `expected_output_shape` a shape (tuple) or a structure of them. Returns
    the eager outputs.
    """
    run_serialization_test(cls(**init_kwargs))
    layer = cls(**init_kwargs)
    symbolic = keras.tree.map_structure(
        lambda value: keras.KerasTensor(value.shape, str(value.dtype)), input_data
    )
    assert _shapes(_call_layer(layer, symbolic)) == expected_output_shape
    assert layer.built
    outputs = _call_layer(cls(**init_kwargs), input_data)
    assert _shapes(outputs) == expected_output_shape
    return outputs


def run_backbone_test(backbone, input_data, expected_output_shape):
    """A backbone's outputs have the expected shapes and names, eagerly and in
    `predict`, and its config round trips. Returns the eager outputs."""
    run_serialization_test(backbone)
    outputs = call(backbone, input_data)
    assert _shapes(outputs) == expected_output_shape
    assert set(backbone.input) == set(input_data)
    assert_all_close(backbone.predict(input_data, verbose=0), outputs)
    return outputs


def run_task_test(task, x, y, expected_output_shape, batch_size=2, **fit_kwargs):
    """A task fits a few steps and predicts on tiny inputs (raw strings included).

    The loss stays finite; `predict`'s outputs have `expected_output_shape`
    and, for token-id inputs, equal an eager call. Returns the fit's history.
    """
    history = task.fit(
        x, y, batch_size=batch_size, epochs=1, verbose=0, **fit_kwargs
    ).history
    assert np.isfinite(history["loss"]).all(), history["loss"]
    outputs = task.predict(x, batch_size=batch_size, verbose=0)
    assert _shapes(outputs) == expected_output_shape
    if getattr(task, "preprocessor", None) is None:
        assert_all_close(outputs, call(task, x))
    return history


def run_serialization_test(instance, x=None, tmp_path=None, atol=1e-5):
    """`get_config`/`from_config` round trips; with `tmp_path`, so does `.keras`.

    The config survives `from_config` and a trip through JSON unchanged. With
    `x` and `tmp_path`, a model saved to a `.keras` file loads back as the same
    class with the same config, preprocessor and outputs on `x` (raw strings
    go through the model's own preprocessing). Returns the loaded model, or
    the instance revived from its config.
    """
    config = instance.get_config()
    revived = type(instance).from_config(config)
    assert revived.get_config() == config
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))
    assert keras.saving.deserialize_keras_object(serialized).get_config() == config
    if tmp_path is None:
        return revived
    path = str(tmp_path / f"{instance.name}.keras")
    instance.save(path)
    restored = keras.models.load_model(path)
    _assert_same_model(restored, instance, x, atol)
    return restored


def run_preset_test(model, x, tmp_path, atol=1e-5, **from_preset_kwargs):
    """`save_to_preset` then `from_preset` gives the same class, config and outputs.

    Returns the model loaded from the preset.
    """
    preset_dir = tmp_path / f"{model.name}_preset"
    model.save_to_preset(preset_dir)
    loaded = type(model).from_preset(str(preset_dir), **from_preset_kwargs)
    _assert_same_model(loaded, model, x, atol)
    return loaded


def _assert_same_model(found, expected, x, atol):
    assert type(found) is type(expected)
    assert found.get_config() == expected.get_config()
    preprocessor = getattr(expected, "preprocessor", None)
    if preprocessor is not None:
        assert found.preprocessor.get_config() == preprocessor.get_config()
    if x is not None:
        x = _model_inputs(expected, x)
        assert_all_close(call(found, x), call(expected, x), atol=atol)


def windows_by_hand(tokenizer, texts, sequence_length, stride):
    """Each text's windows packed as `[CLS] window [SEP]`, cut by run_squad.py's
    doc-span loop: (the backbone's input dict, [(text, start, length)] per row)."""
    from tests.utils.test_document_windows import _run_squad_doc_spans

    rows, spans = [], []
    for number, text in enumerate(texts):
        pieces = [int(i) for i in np.asarray(tokenizer.tokenize(text))]
        for start, length in _run_squad_doc_spans(
            len(pieces), sequence_length - 2, stride
        ) or [(0, 0)]:
            ids = [tokenizer.cls_token_id, *pieces[start : start + length]]
            ids.append(tokenizer.sep_token_id)
            rows.append(ids + [tokenizer.pad_token_id] * (sequence_length - len(ids)))
            spans.append((number, start, length))
    token_ids = np.array(rows, "int32")
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "padding_mask": (token_ids != tokenizer.pad_token_id).astype("int32"),
    }, spans
