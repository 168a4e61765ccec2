"""Input/output conversion shared by the tokenizer, packer and preprocessor.

The preprocessing layers compute with TensorFlow ops on every Keras backend.
Inside a `tf.function` / `tf.data` graph they take and return tf tensors
unchanged. Eagerly, raw inputs (Python strings, lists, NumPy arrays, backend
tensors) are converted to tf tensors, and outputs are converted back: ragged
results to (nested) Python lists, dense ones to tensors of the active Keras
backend, strings to Python `str` — the convention of keras-hub's preprocessing
layers.
"""

import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf

_STATE = threading.local()


def no_autograph(fn):
    """Marks graph code written with explicit tf control flow (`tf.cond`).

    Tracing it inside `tf.function`/`tf.data` then skips AutoGraph's source
    rewrite, which costs seconds per trace for code this size.
    """
    return tf.autograph.experimental.do_not_convert(fn)


def in_tf_graph():
    return not tf.executing_eagerly()


@contextlib.contextmanager
def no_convert_scope():
    """Inside, layers calling layers keep tf values (no output conversion)."""
    _STATE.depth = getattr(_STATE, "depth", 0) + 1
    try:
        yield
    finally:
        _STATE.depth -= 1


def converting():
    return tf.executing_eagerly() and getattr(_STATE, "depth", 0) == 0


def to_tf(x):
    """Converts one raw input (strings or ids) to a tf.Tensor / tf.RaggedTensor."""
    if isinstance(x, (tf.Tensor, tf.RaggedTensor)):
        return x
    if isinstance(x, (str, bytes)):
        return tf.constant(x)
    if isinstance(x, (list, tuple)):
        if x and isinstance(x[0], (str, bytes)):
            try:
                return tf.constant(x, tf.string)
            except (TypeError, ValueError):
                pass
        try:
            array = np.array(x)
        except ValueError:
            return tf.ragged.constant(x)
        if array.dtype == object:
            return tf.ragged.constant(x)
        if array.dtype.kind in "US":
            return tf.constant(x)
        if array.dtype.kind in "iu":
            return tf.constant(array.astype(np.int32))
        return tf.constant(array)
    if isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind in "US":
            return tf.constant(x.tolist() if x.dtype == object else x)
        if x.dtype.kind in "iu":
            return tf.constant(x.astype(np.int32))
        return tf.constant(x)
    if keras.ops.is_tensor(x):
        return tf.constant(keras.ops.convert_to_numpy(x))
    return tf.convert_to_tensor(x)


def convert_call_inputs(x):
    """Python containers to tf values before `Layer.__call__` sees them.

    Keras' `__call__` walks every element of a nested Python input (100k
    strings cost seconds); a tuple stays a tuple of converted segments.
    """
    if not tf.executing_eagerly():
        return x
    if isinstance(x, tuple):
        return tuple(convert_call_inputs(v) for v in x)
    if isinstance(x, list) or isinstance(x, np.ndarray):
        return to_tf(x)
    return x


def to_output(x):
    """Converts tf results back to Python / backend values (eager only)."""

    def convert(value):
        if isinstance(value, tf.RaggedTensor):
            return (
                _decode(value.to_list())
                if value.dtype == tf.string
                else (value.to_list())
            )
        if isinstance(value, tf.Tensor):
            if value.dtype == tf.string:
                array = value.numpy()
                if value.shape.rank == 0:
                    return array.decode("utf-8", errors="replace")
                return _decode(array.tolist())
            return keras.ops.convert_to_tensor(value.numpy())
        return value

    return keras.tree.map_structure(convert, x)


def to_list(x):
    """tf ragged/dense int values to Python lists (for eager ragged outputs)."""
    if isinstance(x, tf.RaggedTensor):
        if x.ragged_rank != 1 or x.flat_values.shape.rank != 1:
            return x.to_list()
        values = x.flat_values.numpy().tolist()
        splits = x.row_splits.numpy().tolist()
        return [values[a:b] for a, b in zip(splits[:-1], splits[1:])]
    array = x.numpy()
    return array.tolist() if array.ndim else array.item()


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value
