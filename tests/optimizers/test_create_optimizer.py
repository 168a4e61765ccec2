import keras
import numpy as np
import pytest

from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.optimizers.create_optimizer import create_optimizer
from keras_bert_impl.optimizers.create_optimizer import needs_loss_scaling
from keras_bert_impl.optimizers.lamb import Lamb
from keras_bert_impl.optimizers.linear_warmup_decay import LinearWarmupDecay


def test_create_optimizer_defaults():
    adamw = create_optimizer(
        "adamw", learning_rate=1e-4, num_train_steps=100, num_warmup_steps=10
    )
    assert isinstance(adamw, AdamWeightDecay)
    assert isinstance(adamw._learning_rate, LinearWarmupDecay)
    assert adamw.global_clipnorm == 1.0 and adamw.weight_decay == 0.01
    assert adamw.epsilon == 1e-6 and (adamw.beta_1, adamw.beta_2) == (0.9, 0.999)
    lamb = create_optimizer("LAMB", learning_rate=1e-3, num_train_steps=10)
    assert isinstance(lamb, Lamb) and lamb.lamb_weight_decay == 0.01
    assert lamb.layer_adaptation_exclusions == lamb.weight_decay_exclusions
    constant = create_optimizer("adamw", learning_rate=2e-5)
    assert float(keras.ops.convert_to_numpy(constant.learning_rate)) == pytest.approx(
        2e-5
    )
    with pytest.raises(ValueError, match="Unknown optimizer"):
        create_optimizer("sgd")


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_gradient_accumulation_equals_one_big_batch(name):
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(3, 2)).astype("float32")
    g1, g2, g3, g4 = (rng.normal(size=(3, 2)).astype("float32") for _ in range(4))
    kwargs = dict(learning_rate=0.1, num_train_steps=10, num_warmup_steps=3)

    accumulated = keras.Variable(w0, name="kernel")
    optimizer = create_optimizer(name, gradient_accumulation_steps=2, **kwargs)
    for g in (g1, g2, g3, g4):
        optimizer.apply([g], [accumulated])

    plain = keras.Variable(w0, name="kernel")
    optimizer = create_optimizer(name, **kwargs)
    optimizer.apply([(g1 + g2) / 2], [plain])
    optimizer.apply([(g3 + g4) / 2], [plain])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(accumulated),
        keras.ops.convert_to_numpy(plain),
        rtol=1e-6,
        atol=1e-7,
    )
    assert not np.allclose(keras.ops.convert_to_numpy(plain), w0)


def test_global_clipnorm_clips_the_joint_norm():
    grads = [np.full((2,), 30.0, "float32"), np.full((2,), 40.0, "float32")]
    clipped = create_optimizer("adamw")._clip_gradients(grads)
    joint = np.sqrt(sum(np.sum(keras.ops.convert_to_numpy(g) ** 2) for g in clipped))
    assert joint == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("size", [0.1, 30.0, float("nan")])
def test_global_clipnorm_clips_as_keras_does(size):
    # TF takes the norm with its fused L2Loss instead of Keras' sum(square(g)).
    from keras.src.optimizers.base_optimizer import clip_by_global_norm

    rng = np.random.default_rng(0)
    grads = [
        (size * rng.standard_normal(shape)).astype("float32")
        for shape in ((64, 48), (48,), (300,))
    ]
    expected = clip_by_global_norm([keras.ops.convert_to_tensor(g) for g in grads], 1.0)
    clipped = create_optimizer("adamw")._clip_gradients(grads)
    for found, wanted in zip(clipped, expected):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(found),
            keras.ops.convert_to_numpy(wanted),
            rtol=1e-6,
            atol=1e-9,
        )


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_repeated_embedding_ids_update_like_dense_gradients(name):
    # On TF an Embedding gradient is IndexedSlices with one row per id
    # occurrence; Keras 3.15's Adam squares those rows one by one. Ours
    # densify first, so clipping (which densifies) changes nothing.
    def train(global_clipnorm):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((4,), dtype="int32"),
                keras.layers.Embedding(5, 2, name="token_embedding"),
                keras.layers.Flatten(),
                keras.layers.Dense(1, name="output"),
            ]
        )
        model.compile(
            optimizer=create_optimizer(
                name, learning_rate=0.1, global_clipnorm=global_clipnorm
            ),
            loss="mse",
        )
        x = np.array([[1, 1, 1, 2], [1, 3, 3, 3]], "int32")
        model.fit(x, np.array([[0.0], [5.0]]), epochs=3, batch_size=2, verbose=0)
        return model.get_weights()[0]

    np.testing.assert_allclose(train(None), train(1e9), rtol=1e-6, atol=1e-7)


def test_only_float16_policies_need_loss_scaling():
    assert needs_loss_scaling("mixed_float16") and needs_loss_scaling("float16")
    for dtype in (None, "float32", "mixed_bfloat16", "bfloat16"):
        assert not needs_loss_scaling(dtype), dtype


@pytest.mark.parametrize("dynamic_loss_scale", [False, True])
def test_dynamic_loss_scale_keeps_float16_gradients_that_would_underflow(
    dynamic_loss_scale,
):
    # The loss' gradient (1e-9 per output) is below float16's smallest
    # subnormal (6e-8): unscaled, the float16 layer's gradient is exactly 0
    # and nothing trains; scaled (2**15 to start), it trains, without NaN.
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(1, dtype="mixed_float16", kernel_initializer="ones"),
        ]
    )
    model.compile(
        optimizer=create_optimizer(
            learning_rate=1e-2,
            weight_decay=0.0,
            global_clipnorm=None,
            dynamic_loss_scale=dynamic_loss_scale,
        ),
        loss=lambda y, p: 1e-9 * keras.ops.sum(keras.ops.cast(p, "float32")),
    )
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    assert np.isfinite(history.history["loss"]).all()
    if dynamic_loss_scale:
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert (kernel < 1.0).all()  # trained: the loss falls as the kernel does
    else:
        np.testing.assert_array_equal(kernel, np.ones((4, 1)))
