import keras
import numpy as np

from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from tests.bert_test_case import tiny_backbone


class _OutputBias(keras.layers.Layer):
    def build(self, input_shape):
        self.output_bias = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", name="output_bias"
        )

    def call(self, x):
        return x + self.output_bias


def small_bert_like_model():
    """Variables named as the BERT layers name theirs (keras Dense/LN/Embedding)."""
    tokens = keras.Input((3,), dtype="int32")
    x = keras.layers.Embedding(11, 4, name="token_embedding")(tokens)
    x = keras.layers.Dense(8, name="intermediate", bias_initializer="ones")(x)
    x = keras.layers.LayerNormalization(
        name="output_layer_norm", beta_initializer="ones"
    )(x)
    x = keras.layers.Dense(4, name="output", bias_initializer="ones")(x)
    x = keras.layers.LayerNormalization(beta_initializer="ones")(x)
    x = _OutputBias(name="masked_lm_head")(x)
    return keras.Model(tokens, x)


def _decayed_paths(optimizer, model):
    """Paths that move on a zero-gradient step: only weight decay moves them."""
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    zeros = [keras.ops.zeros(v.shape) for v in model.trainable_variables]
    optimizer.apply(zeros, model.trainable_variables)
    moved = set()
    for v, old in zip(model.trainable_variables, before):
        new = keras.ops.convert_to_numpy(v)
        if not np.array_equal(new, old):
            np.testing.assert_allclose(new, old * (1 - 0.5 * 0.1), rtol=1e-6)
            moved.add(v.path)
    return moved


def test_layer_norm_and_biases_are_not_decayed():
    model = small_bert_like_model()
    optimizer = AdamWeightDecay(learning_rate=0.5, weight_decay=0.1)
    assert _decayed_paths(optimizer, model) == {
        "token_embedding/embeddings",
        "intermediate/kernel",
        "output/kernel",
    }


def test_keras_adamw_matching_depends_on_backend():
    # Why AdamWeightDecay resolves exclusions itself: Keras 3.15 searches
    # `variable.name`, which is "gamma" on JAX but the tf.Variable's
    # "output_layer_norm/gamma:0" on TensorFlow, so the original BERT list
    # ["LayerNorm", "layer_norm", "bias"] spares LayerNorm on one backend only.
    model = small_bert_like_model()
    optimizer = keras.optimizers.AdamW(learning_rate=0.5, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["LayerNorm", "layer_norm", "bias"])
    decayed = _decayed_paths(optimizer, model)
    assert not any("bias" in path for path in decayed)
    layer_norm_decayed = "output_layer_norm/gamma" in decayed
    assert layer_norm_decayed == (keras.backend.backend() != "tensorflow")


def test_custom_exclusions_match_paths():
    model = small_bert_like_model()
    optimizer = AdamWeightDecay(
        learning_rate=0.5, weight_decay=0.1, exclude_from_weight_decay=["intermediate"]
    )
    decayed = _decayed_paths(optimizer, model)
    assert "intermediate/kernel" not in decayed
    assert "intermediate/bias" not in decayed
    assert "output/bias" in decayed and "output_layer_norm/gamma" in decayed


def _reference_adamw(w, grads, lr, wd, decay, b1=0.9, b2=0.999, eps=1e-6):
    """Adam (Kingma & Ba 2015, Alg. 1 in the efficient form of its section 2,
    `alpha_t = lr * sqrt(1 - b2^t) / (1 - b1^t)`, `eps` added to `sqrt(v)`) with
    decoupled weight decay as BERT's optimization.py: `w -= lr * wd * w`."""
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if decay:
            w = w - lr * wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(v) + eps)
    return w


def test_two_steps_match_reference():
    rng = np.random.default_rng(0)
    kernel0 = rng.normal(size=(3, 2)).astype("float32")
    bias0 = rng.normal(size=(2,)).astype("float32")
    kernel = keras.Variable(kernel0, name="kernel")
    bias = keras.Variable(bias0, name="bias")
    grads = [rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 2))]
    optimizer = AdamWeightDecay(learning_rate=0.01, weight_decay=0.3)
    for step in range(2):
        optimizer.apply(
            [grads[0][step].astype("float32"), grads[1][step].astype("float32")],
            [kernel, bias],
        )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(kernel),
        _reference_adamw(kernel0, grads[0], 0.01, 0.3, decay=True),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bias),
        _reference_adamw(bias0, grads[1], 0.01, 0.3, decay=False),
        rtol=1e-5,
        atol=1e-6,
    )


def test_config_round_trip_keeps_exclusions():
    optimizer = AdamWeightDecay(
        learning_rate=3e-4, exclude_from_weight_decay=["bias"], global_clipnorm=1.0
    )
    config = keras.saving.serialize_keras_object(optimizer)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, AdamWeightDecay)
    assert restored.weight_decay_exclusions == ["bias"]
    assert restored.epsilon == 1e-6 and restored.global_clipnorm == 1.0


def test_bert_pretrainer_decays_kernels_and_embeddings_only():
    from keras_bert_impl.models.bert_pretrainer import BertPretrainer

    model = BertPretrainer(tiny_backbone())
    optimizer = AdamWeightDecay(learning_rate=0.5, weight_decay=0.1)
    decayed = _decayed_paths(optimizer, model)
    expected = {
        v.path
        for v in model.trainable_variables
        if v.path.endswith("/kernel") or v.path.endswith("/embeddings")
    }
    assert decayed == expected
    assert any("token_embedding" in p for p in decayed)
    assert not any("norm" in p or "bias" in p for p in decayed)


def test_compiled_training_matches_keras_adamw():
    # On TensorFlow the update runs TF's fused Adam kernel inside the compiled
    # train step; it must train exactly as Keras' own AdamW does.
    rng = np.random.default_rng(0)
    # No id twice in a batch: Keras' AdamW mishandles TF's sparse embedding
    # gradients of repeated ids (see `gradients.densify`).
    x = np.stack([rng.permutation(11)[:3] for _ in range(16)]).astype("int32")
    y = rng.normal(size=(16, 3, 4)).astype("float32")
    models = [small_bert_like_model() for _ in range(2)]
    models[1].set_weights(models[0].get_weights())
    ours = AdamWeightDecay(learning_rate=0.01, weight_decay=0.1)
    theirs = keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.1, epsilon=1e-6)
    theirs.exclude_from_weight_decay(
        var_list=[
            v
            for v in models[1].trainable_variables
            if "layer_norm" in v.path
            or v.name in ("bias", "beta", "gamma")
            or "output_bias" in v.name
        ]
    )
    for model, optimizer in zip(models, (ours, theirs)):
        model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
        model.fit(x, y, batch_size=1, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(models[0].trainable_variables, models[1].trainable_variables):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=2e-6
        )
