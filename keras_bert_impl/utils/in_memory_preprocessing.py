"""Raw in-memory inputs featurized before the model runs, as NumPy arrays.

`PipelineModel.predict(strings)` tokenizes every text before the model runs,
so that all lengths are known (`predict_by_length`). Run eagerly, the
preprocessor is about a hundred small TF ops per call: most of what `predict`
on one sentence cost (BERT-mini, TF; 8.4 ms eager, 1.8 ms traced). A
`tf.data` map would trace it anew on every call. So the model keeps one
`tf.function` per input structure, with the batch axis unknown
(`InMemoryPreprocessing`), reused by every later call of any size, until the
model's preprocessor is replaced or the settings a user may change after
construction (`sequence_length`, `truncate`) change. Tracing it costs
0.5-0.9 s, more than a one-off `predict` on 1,000 texts spends tokenizing
eagerly (0.04 s): calls run eagerly until they have cost
`EAGER_SECONDS_BEFORE_TRACING` together, then the graph is traced.

`fit` and `evaluate` run once per call on a whole dataset, where the
trade-off turns: tracing the tokenizer (0.5 s) and instantiating its graph in
a `tf.data` iterator (0.3 s, twice: a pass for the lengths, then training)
cost more than tokenizing 1,024 texts eagerly in one call (0.04 s; 65,536
in 0.7 s). `featurized_eagerly` does that, with labels and weights.
"""

import time
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


# Eager calls, together, may cost this much before the preprocessor is traced:
# about what tracing `BertPreprocessor` costs (0.5-0.9 s), so a one-off call
# never pays a trace and repeated calls (a serving loop: ~60 one-text calls)
# pay at most twice what the best choice knowing the calls to come would
# (ski rental).
EAGER_SECONDS_BEFORE_TRACING = 0.5

# Preprocessor attributes that are settable after construction (keras-hub's
# `preprocessor.sequence_length = 64`): a traced graph holds their old value.
SETTABLE_ATTRIBUTES = ("sequence_length", "truncate")


def _any_batch_size(tensor):
    return tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype)


class InMemoryPreprocessing:
    """`preprocess(x)` on in-memory raw inputs as NumPy features, in chunks.

    Eagerly until the eager calls have cost `EAGER_SECONDS_BEFORE_TRACING`,
    then through one traced function per input structure.

    Args:
        preprocessor: the layer `preprocess` runs (identifies the cache).
        preprocess: function from a batch of raw inputs (tensors) to features.
    """

    def __init__(self, preprocessor, preprocess):
        self.preprocessor = preprocessor
        self.preprocess = preprocess
        self.functions = {}  # input structure and dtypes -> traced function
        self.eager_seconds = 0.0  # spent in eager calls so far

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
        function = self.functions.get(key)
        if function is None and self.eager_seconds < EAGER_SECONDS_BEFORE_TRACING:
            start = time.perf_counter()
            with ascii_tracing or nullcontext():
                features = _in_chunks(self.preprocess, tensors, chunk_size)
            self.eager_seconds += time.perf_counter() - start
            return features
        if function is None:
            function = tf.function(self.preprocess, input_signature=[specs])
            self.functions[key] = function
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
