import keras
import numpy as np
import pytest

from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.optimizers.create_optimizer import create_optimizer
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
