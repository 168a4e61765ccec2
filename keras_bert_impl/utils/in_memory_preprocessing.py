"""Raw in-memory inputs featurized before the model runs, as NumPy arrays.

`PipelineModel.predict(strings)` tokenizes every text before the model runs,
so that all lengths are known (`predict_by_length`). Run eagerly, the
preprocessor is about a hundred small TF ops per call: most of what `predict`
on one sentence cost (BERT-mini, TF). A `tf.data` map would trace it anew on
every call. So the model keeps one `tf.function` per input structure, with
the batch axis unknown (`InMemoryPreprocessing`): traced on the first call,
reused by every later call of any size, until the model's preprocessor is
replaced or the settings a user may change after construction
(`sequence_length`, `truncate`) change.

`fit` and `evaluate` run once per call on a whole dataset, where the
trade-off turns: tracing the tokenizer (0.5 s) and instantiating its graph in
a `tf.data` iterator (0.3 s, twice: a pass for the lengths, then training)
cost more than tokenizing 1,024 texts eagerly in one call (0.04 s; 65,536
in 0.7 s). `featurized_eagerly` does that, with labels and weights.
"""

from contextlib import nullcontext

import keras
import numpy as np
import tensorflow as tf

from keras_bert_impl.utils.printable_ascii import printable_ascii_tracing


def _as_tensors(x):
    # tf.data's rule for raw inputs: tuples and dicts are structure (a pair of
    # texts), lists and arrays are tensors.
    if isinstance(x, dict):
        return {key: _as_tensors(value) for key, value in x.items()}
    if isinstance(x, tuple):
        return tuple(_as_tensors(value) for value in x)
    return tf.convert_to_tensor(x)


def _rows(tensors, start, stop):
    return tf.nest.map_structure(lambda tensor: tensor[start:stop], tensors)


# Preprocessor attributes that are settable after construction (keras-hub's
# `preprocessor.sequence_length = 64`): a traced graph holds their old value.
SETTABLE_ATTRIBUTES = ("sequence_length", "truncate")


def _any_batch_size(tensor):
    return tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype)


class InMemoryPreprocessing:
    """`preprocess(x)` on in-memory raw inputs as NumPy features, in chunks.

    Args:
        preprocessor: the layer `preprocess` runs (identifies the cache).
        preprocess: function from a batch of raw inputs (tensors) to features.
    """

    def __init__(self, preprocessor, preprocess):
        self.preprocessor = preprocessor
        self.preprocess = preprocess
        self.functions = {}  # input structure and dtypes -> traced function

    def __call__(self, x, chunk_size=4096):
        """Features of `x` as NumPy arrays, or None if the preprocessor is ragged."""
        tensors = _as_tensors(x)
        specs = tf.nest.map_structure(_any_batch_size, tensors)
        preprocessor = self.preprocessor
        settings = [getattr(preprocessor, name, None) for name in SETTABLE_ATTRIBUTES]
        # A graph traced for printable ASCII alone is kept apart from the
        # general one: it must never see other texts.
        ascii_tracing = printable_ascii_tracing(preprocessor, x)
        key = repr((specs, settings, ascii_tracing is not None))
        if key not in self.functions:
            self.functions[key] = tf.function(self.preprocess, input_signature=[specs])
        function = self.functions[key]
        with ascii_tracing or nullcontext():  # the first call traces
            return _in_chunks(function, tensors, chunk_size)


def _in_chunks(function, tensors, chunk_size):
    """`function` on `tensors` in row chunks, joined as NumPy; None if ragged."""
    size = int(tf.nest.flatten(tensors)[0].shape[0])
    parts = []
    for start in range(0, max(size, 1), chunk_size):
        features = function(_rows(tensors, start, start + chunk_size))
        leaves = keras.tree.flatten(features)
        if any(isinstance(leaf, tf.RaggedTensor) for leaf in leaves):
            return None
        parts.append(keras.tree.map_structure(np.asarray, features))
    return keras.tree.map_structure(lambda *arrays: np.concatenate(arrays), *parts)


def featurized_eagerly(preprocess_element, data, preprocessor, chunk_size=8192):
    """`preprocess_element(*data)` run eagerly on in-memory data, as NumPy.

    Args:
        preprocess_element: function from the items of a `(x,)`, `(x, y)` or
            `(x, y, sample_weight)` batch of tensors to the same structure
            featurized (`PipelineModel._preprocess_element`).
        data: that tuple of in-memory raw inputs, labels and weights.
        preprocessor: the tokenizing layer (its ASCII-only path is used when
            every text is printable ASCII).

    Returns:
        The featurized tuple of NumPy arrays, or None if a feature is ragged.
    """
    tensors = _as_tensors(data)
    ascii_tracing = printable_ascii_tracing(preprocessor, data[0])
    with ascii_tracing or nullcontext():
        return _in_chunks(lambda rows: preprocess_element(*rows), tensors, chunk_size)
