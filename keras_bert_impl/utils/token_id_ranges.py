"""Range checks on token and segment ids where they enter a model.

An id outside the embedding table is never an error inside the compiled model:
on JAX a gather past the end gives NaN, and on both backends a negative id
reads a row from the end of the table. So ids are checked where they come in:
concrete arrays in Python (`check_id_ranges`), `tf.data` pipelines and exported
signatures in the TensorFlow graph (`assert_id_ranges`). The cost is one
min/max per batch.
"""

import numpy as np

_FIX = (
    "ids must index the backbone's embeddings: tokenize with the preprocessor "
    "of the model's preset (same vocabulary)"
)


def id_limits(backbone):
    """`{input name: number of rows}` of a backbone's id embeddings."""
    return {
        "token_ids": int(backbone.vocabulary_size),
        "segment_ids": int(backbone.num_segments),
    }


def _concrete(value):
    """A NumPy view of `value`, or None for a symbolic/traced tensor."""
    if isinstance(value, (np.ndarray, list, tuple, int, np.integer)):
        return np.asarray(value)
    if hasattr(value, "numpy") and callable(value.numpy):  # eager TensorFlow
        try:
            return value.numpy()
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            return None
    if type(value).__module__.startswith("jax"):
        import jax

        # A tracer has no values: inside jit nothing can be checked.
        return None if isinstance(value, jax.core.Tracer) else np.asarray(value)
    return None


def check_id_ranges(inputs, limits):
    """Raises ValueError when a concrete id in `inputs` is out of its range.

    Args:
        inputs: the model's input dict (other structures are left alone).
        limits: `{name: size}` (`id_limits`); each `inputs[name]` must lie in
            `[0, size)`.
    """
    if not isinstance(inputs, dict):
        return
    for name, limit in limits.items():
        values = _concrete(inputs.get(name)) if name in inputs else None
        if values is None or values.size == 0:
            continue
        if not np.issubdtype(values.dtype, np.integer):
            continue
        outside = (values < 0) | (values >= limit)
        if outside.any():
            where = tuple(int(i) for i in np.argwhere(outside)[0])
            raise ValueError(
                f"{name}{list(where)} is {int(values[where])}, outside [0, {limit})"
                f" (the embedding has {limit} rows); {_FIX}."
            )


def assert_id_ranges(inputs, limits, where):
    """`inputs` with TensorFlow assertions that its ids lie in their ranges.

    For graphs: `tf.data` maps and exported signatures. A violation raises
    `InvalidArgumentError` whose message names `where`, the input and the range.
    """
    import tensorflow as tf

    checks = []
    for name, limit in limits.items():
        if name not in inputs:
            continue
        message = f"{where}: {name} must lie in [0, {limit}); {_FIX}"
        ids = inputs[name]
        checks.append(tf.debugging.assert_non_negative(ids, message=message))
        checks.append(
            tf.debugging.assert_less(ids, tf.cast(limit, ids.dtype), message=message)
        )
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in inputs.items()}
