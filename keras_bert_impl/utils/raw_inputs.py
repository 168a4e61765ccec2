"""What raw inputs to `fit`, `evaluate` and `predict` are, read without tf.

`PipelineModel` asks these whether data holds strings, how many examples and
batches it makes, and whether its preprocessed features may be cut by length;
multiple-choice tasks preprocess their candidates with `preprocess_choices`.
TensorFlow is imported only where a function needs it.
"""

import inspect

import keras


def has_strings(value):
    """Whether a leaf of `value` (nested tuples/dicts/lists) holds strings."""
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, dict):
        return any(has_strings(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return bool(value) and any(has_strings(v) for v in value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    kind = getattr(dtype, "kind", None)
    if kind in ("U", "S"):
        return True
    if kind == "O":
        return any(isinstance(item, (str, bytes)) for item in value.flat)
    return "string" in str(getattr(dtype, "name", dtype))


def is_dataset(value):
    """Whether `value` is a `tf.data.Dataset` (checked without importing tf)."""
    return hasattr(value, "element_spec") and hasattr(value, "map")


def num_examples(x):
    """Length of the first array-like leaf of `x`, or None."""
    for leaf in keras.tree.flatten(x):
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) and shape[0] is not None:
            return int(shape[0])
        if isinstance(leaf, (list, tuple)):
            return len(leaf)
    return None


def num_raw_examples(x):
    """Rows of raw inputs by `tf.data`'s rule: tuples and dicts are structure."""
    while isinstance(x, (tuple, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return len(x)


def batches_per_epoch(x, batch_size=None):
    """How many batches one pass over `x` gives, as `fit` would batch it.

    `x` is what `fit` trains on: a dataset (its cardinality), a
    `keras.utils.PyDataset` (its `num_batches`) or in-memory arrays (split in
    batches of `batch_size`, Keras' default 32). None when unknown; a negative
    number for an infinite or unknown-length dataset.
    """
    if is_dataset(x):
        return int(x.cardinality())
    if isinstance(x, keras.utils.PyDataset):
        return x.num_batches
    examples = num_examples(x)
    if examples is None:
        return None
    return -(-examples // (batch_size or 32))


def takes_labels(preprocessor):
    try:
        parameters = inspect.signature(preprocessor.call).parameters
    except (TypeError, ValueError):
        return False
    return "y" in parameters and "sample_weight" in parameters


def bucketable_length(element_spec):
    """The padded length of batched preprocessed data, when it may be bucketed.

    Length bucketing trims the inputs' sequence axis; it applies when the
    inputs are the backbone's `(batch, sequence)` dict and no label or weight
    has a sequence axis of its own (token-level labels are not trimmed).
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element_spec)
    if not isinstance(x, dict) or "padding_mask" not in x:
        return None
    shape = x["padding_mask"].shape
    if shape.rank != 2 or shape[1] is None:
        return None
    for spec in keras.tree.flatten((y, sample_weight)):
        if spec is not None and spec.shape.rank > 1 and spec.shape[1] == shape[1]:
            return None
    return int(shape[1])


def spec_of(array):
    """The `tf.TensorSpec` of a NumPy array (for `bucketable_length`)."""
    import tensorflow as tf

    return tf.TensorSpec(array.shape, array.dtype)


def preprocess_choices(preprocessor, x, num_choices):
    """Runs `preprocessor` on every candidate of multiple-choice strings.

    `x` is `(contexts, choices)`: contexts `(batch,)`, choices
    `(batch, num_choices)`; each choice is paired with its context. Or just
    `choices` (single segments). Returns the preprocessor's dict, each feature
    of shape `(batch, num_choices, sequence)`.
    """
    import tensorflow as tf

    if isinstance(x, (tuple, list)):
        contexts, choices = x
        choices = tf.convert_to_tensor(choices)
        contexts = tf.repeat(tf.convert_to_tensor(contexts), num_choices)
        packed = preprocessor((contexts, tf.reshape(choices, [-1])))
    else:
        packed = preprocessor(tf.reshape(tf.convert_to_tensor(x), [-1]))
    return {
        name: tf.reshape(value, [-1, num_choices, tf.shape(value)[-1]])
        for name, value in packed.items()
    }
