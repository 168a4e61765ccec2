"""Models with every weight visibly set, and the check that a round trip kept them."""

import keras
import numpy as np


def spread_weights(model, seed=0):
    """Draws every float weight with a wide spread (LayerNorm scales around 1).

    Freshly built models have zero biases and unit LayerNorm scales, which a
    converter could drop or swap unnoticed; after this every weight matters.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if "float" not in str(variable.dtype):
            continue
        base = 1.0 if variable.path.endswith("gamma") else 0.0
        variable.assign(base + 0.2 * rng.standard_normal(variable.shape))
    return model


def _unnamed(config):
    """A config without the layer names Keras numbers per process."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    return config


def assert_bit_identical(model, restored, **changed_config):
    """Same class, same config (but `changed_config`), every weight equal to the bit."""
    assert type(restored) is type(model)
    expected = _unnamed({**model.get_config(), **changed_config})
    assert _unnamed(restored.get_config()) == expected
    assert len(restored.weights) == len(model.weights)
    for original, found in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(found),
            keras.ops.convert_to_numpy(original),
            err_msg=original.path,
        )


def real_vocabulary_batch(seed=5):
    """Two rows of ids from the uncased vocabulary's word range, one padded."""
    rng = np.random.default_rng(seed)
    batch = {
        "token_ids": rng.integers(1000, 30000, size=(2, 32)).astype("int32"),
        "segment_ids": np.repeat([[0] * 16 + [1] * 16], 2, axis=0).astype("int32"),
        "padding_mask": np.array([[1] * 32, [1] * 20 + [0] * 12], "int32"),
    }
    batch["token_ids"][:, 0] = 101  # [CLS]
    return batch
