import keras
import numpy as np

from keras_bert_impl.optimizers.lamb import Lamb


def _reference_lamb(w, grads, lr, wd, decay, adapt, b1=0.9, b2=0.999, eps=1e-6):
    """LAMB, You et al. 2019 (arXiv:1904.00962) Algorithm 2, with phi = identity
    and the weight decay inside the trust-ratio update, as tf-addons' LAMB."""
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        r = m_hat / (np.sqrt(v_hat) + eps)
        if decay:
            r = r + wd * w
        ratio = 1.0
        if adapt:
            w_norm, r_norm = np.linalg.norm(w), np.linalg.norm(r)
            ratio = w_norm / r_norm if w_norm > 0 and r_norm > 0 else 1.0
        w = w - lr * ratio * r
    return w


def test_two_steps_match_reference():
    rng = np.random.default_rng(1)
    init = {
        "kernel": rng.normal(size=(4, 3)),
        "bias": rng.normal(size=(3,)),
        "gamma": rng.normal(size=(3,)),
    }
    variables = [keras.Variable(init[k].astype("float32"), name=k) for k in init]
    grads = {k: rng.normal(size=(2,) + init[k].shape) for k in init}
    optimizer = Lamb(learning_rate=0.02, weight_decay=0.1)
    for step in range(2):
        optimizer.apply([grads[k][step].astype("float32") for k in init], variables)
    for variable, key in zip(variables, init):
        excluded = key != "kernel"  # BERT's list: biases and LayerNorm gammas
        expected = _reference_lamb(
            init[key], grads[key], 0.02, 0.1, decay=not excluded, adapt=not excluded
        )
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(variable), expected, rtol=1e-5, atol=1e-6
        )


def test_separate_adaptation_exclusions_and_zero_weights():
    rng = np.random.default_rng(2)
    w0 = {"kernel": rng.normal(size=(2, 2)), "zeros": np.zeros((2, 2))}
    variables = [keras.Variable(w0[k].astype("float32"), name=k) for k in w0]
    grads = {k: rng.normal(size=(1, 2, 2)) for k in w0}
    optimizer = Lamb(
        learning_rate=0.1,
        weight_decay=0.5,
        exclude_from_weight_decay=[],
        exclude_from_layer_adaptation=["kernel"],
    )
    optimizer.apply([grads[k][0].astype("float32") for k in w0], variables)
    expected_kernel = _reference_lamb(
        w0["kernel"], grads["kernel"], 0.1, 0.5, decay=True, adapt=False
    )
    # ||w|| = 0 gives a trust ratio of 1.
    expected_zeros = _reference_lamb(
        w0["zeros"], grads["zeros"], 0.1, 0.5, decay=True, adapt=True
    )
    for variable, expected in zip(variables, [expected_kernel, expected_zeros]):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(variable), expected, rtol=1e-5, atol=1e-6
        )


def test_config_round_trip():
    optimizer = Lamb(
        learning_rate=1e-3,
        weight_decay=0.01,
        exclude_from_layer_adaptation=["bias"],
        global_clipnorm=1.0,
        gradient_accumulation_steps=2,
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(optimizer)
    )
    assert isinstance(restored, Lamb)
    assert restored.get_config() == optimizer.get_config()
    assert restored.lamb_weight_decay == 0.01 and restored.weight_decay is None
    assert restored.layer_adaptation_exclusions == ["bias"]
