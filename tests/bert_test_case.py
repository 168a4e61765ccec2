"""Tiny backbones, a tiny preprocessor and round-trip checks for the task tests."""

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
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    return BertPreprocessor(BertTokenizer(TINY_VOCABULARY), sequence_length)


def random_inputs(shape, seed=0):
    """The backbone's input dict of `shape`: random real tokens, no padding."""
    rng = np.random.default_rng(seed)
    return {
        "token_ids": rng.integers(5, len(TINY_VOCABULARY), size=shape).astype("int32"),
        "segment_ids": np.zeros(shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }


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


def assert_round_trips(task, x, tmp_path):
    """`.keras` and preset round trips give the same config, outputs, preprocessor.

    Raw-string `x` goes through the task's own preprocessing; the models are
    called eagerly (cheaper than tracing a predict function per model).
    """
    if task.preprocessor is not None:
        x = task.preprocess_samples(x)[0]
    x = _as_numpy(x)
    expected = _as_numpy(task(x, training=False))
    path = str(tmp_path / "task.keras")
    task.save(path)
    restored = keras.models.load_model(path)
    task.save_to_preset(tmp_path / "preset")
    from_preset = type(task).from_preset(str(tmp_path / "preset"))
    for model in (restored, from_preset):
        assert type(model) is type(task)
        assert model.get_config() == task.get_config()
        found = _as_numpy(model(x, training=False))
        keras.tree.map_structure(
            lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), found, expected
        )
        if task.preprocessor is not None:
            assert model.preprocessor.get_config() == task.preprocessor.get_config()
    return restored, from_preset
