"""Raw in-memory inputs featurized for `predict`: one traced graph, reused.

`PipelineModel.predict(strings)` tokenizes every text before the model runs,
so that all lengths are known (`predict_by_length`). Run eagerly, the
preprocessor is about a hundred small TF ops per call: most of what `predict`
on one sentence cost (BERT-mini, TF). A `tf.data` map would trace it anew on
every call. So the model keeps one `tf.function` per input structure, with
the batch axis unknown: traced on the first call, reused by every later call
of any size, until the model's preprocessor is replaced or the settings a
user may change after construction (`sequence_length`, `truncate`) change.
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
        size = int(tf.nest.flatten(tensors)[0].shape[0])
        parts = []
        with ascii_tracing or nullcontext():  # the first call traces
            for start in range(0, max(size, 1), chunk_size):
                stop = start + chunk_size
                features = function(_rows(tensors, start, stop))
                leaves = keras.tree.flatten(features)
                if any(isinstance(leaf, tf.RaggedTensor) for leaf in leaves):
                    return None
                parts.append(keras.tree.map_structure(np.asarray, features))
        return keras.tree.map_structure(lambda *arrays: np.concatenate(arrays), *parts)
