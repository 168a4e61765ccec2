import keras
import numpy as np
import pytest

from keras_bert_impl.optimizers.linear_warmup_decay import LinearWarmupDecay


def _values(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in steps])


def test_values_match_original_bert_formula():
    schedule = LinearWarmupDecay(1e-3, num_train_steps=100, num_warmup_steps=10)
    steps = [0, 1, 5, 9, 10, 11, 55, 99, 100, 150]
    # Original optimization.py: warmup ramp below num_warmup_steps, else
    # polynomial_decay(power=1) over num_train_steps counted from step 0.
    expected = [0.0, 1e-4, 5e-4, 9e-4, 9e-4, 8.9e-4, 4.5e-4, 1e-5, 0.0, 0.0]
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-5, atol=1e-9)


def test_end_learning_rate_and_no_warmup():
    schedule = LinearWarmupDecay(
        1e-3, num_train_steps=100, num_warmup_steps=0, end_learning_rate=1e-5
    )
    expected = [1e-3, (1e-3 - 1e-5) * 0.5 + 1e-5, 1e-5, 1e-5]
    np.testing.assert_allclose(
        _values(schedule, [0, 50, 100, 1000]), expected, rtol=1e-5
    )


def test_gradient_accumulation_counts_updates():
    plain = LinearWarmupDecay(1e-3, num_train_steps=20, num_warmup_steps=4)
    accumulated = LinearWarmupDecay(
        1e-3, num_train_steps=20, num_warmup_steps=4, gradient_accumulation_steps=3
    )
    updates = np.arange(25)
    # Keras evaluates the schedule at its micro-step counter; update u is
    # applied at micro-step 3u + 2.
    np.testing.assert_allclose(
        _values(accumulated, 3 * updates + 2), _values(plain, updates), rtol=1e-6
    )


def test_serialization_round_trip():
    schedule = LinearWarmupDecay(
        2e-5, num_train_steps=7, num_warmup_steps=2, end_learning_rate=1e-7
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert isinstance(restored, LinearWarmupDecay)
    assert restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    restored = keras.optimizers.Adam.from_config(optimizer.get_config())
    assert restored.learning_rate is not None
    assert restored._learning_rate.get_config() == schedule.get_config()


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_train_steps"):
        LinearWarmupDecay(1e-3, num_train_steps=0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        LinearWarmupDecay(1e-3, num_train_steps=5, gradient_accumulation_steps=0)
