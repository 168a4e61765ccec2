"""Fit a tiny model with BERT's variable paths on one device and distributed.

Run as `python distributed_fit_script.py {jax|tensorflow}`: the device setup
(8 simulated JAX CPU devices, or 2 logical TF CPU devices) must happen before
the backend is imported, hence a subprocess. Prints one JSON line.
"""

import json
import os
import sys
import time

BACKEND = sys.argv[1]
os.environ["KERAS_BACKEND"] = BACKEND
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

if BACKEND == "tensorflow":
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )

from keras_bert_impl.optimizers.create_optimizer import create_optimizer  # noqa: E402
from keras_bert_impl.training.distribution import distribution_scope  # noqa: E402
from keras_bert_impl.training.distribution import global_batch_size  # noqa: E402
from keras_bert_impl.utils.pipeline_model import PipelineModel  # noqa: E402

HIDDEN, INTERMEDIATE, VOCAB, SEQ = 8, 16, 24, 4


class Attention(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.query = keras.layers.Dense(HIDDEN, name="query")
        self.key = keras.layers.Dense(HIDDEN, name="key")
        self.value = keras.layers.Dense(HIDDEN, name="value")
        self.output_dense = keras.layers.Dense(HIDDEN, name="output")

    def build(self, shape):
        for dense in (self.query, self.key, self.value, self.output_dense):
            dense.build(shape)

    def call(self, x):
        scores = keras.ops.einsum("bqd,bkd->bqk", self.query(x), self.key(x))
        probabilities = keras.ops.softmax(scores / HIDDEN**0.5, axis=-1)
        context = keras.ops.einsum("bqk,bkd->bqd", probabilities, self.value(x))
        return self.output_dense(context)


class Block(keras.layers.Layer):
    """Paths as BERT's: transformer_layer_0/attention/query/kernel, ..."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attention = Attention(name="attention")
        self.attention_layer_norm = keras.layers.LayerNormalization(
            name="attention_layer_norm"
        )
        self.intermediate = keras.layers.Dense(
            INTERMEDIATE, activation="gelu", name="intermediate"
        )
        self.output_dense = keras.layers.Dense(HIDDEN, name="output")
        self.output_layer_norm = keras.layers.LayerNormalization(
            name="output_layer_norm"
        )

    def build(self, shape):
        self.attention.build(shape)
        self.attention_layer_norm.build(shape)
        self.intermediate.build(shape)
        self.output_dense.build(shape[:-1] + (INTERMEDIATE,))
        self.output_layer_norm.build(shape)

    def call(self, x):
        x = self.attention_layer_norm(x + self.attention(x))
        return self.output_layer_norm(x + self.output_dense(self.intermediate(x)))


def build_model():
    tokens = keras.Input((SEQ,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, HIDDEN, name="token_embedding")(tokens)
    x = Block(name="transformer_layer_0")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    logits = keras.layers.Dense(3, name="head")(x)
    return keras.Model(tokens, logits)


def run(strategy, optimizer_name, initial_weights, model_parallel=1):
    start = time.time()
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(32, SEQ)).astype("int32")
    y = rng.integers(0, 3, size=(32,)).astype("int32")
    with distribution_scope(strategy, model_parallel=model_parallel) as dist:
        batch = global_batch_size(8, dist)
        keras.utils.set_random_seed(0)
        model = build_model()
        if initial_weights is not None:
            model.set_weights(initial_weights)
        initial = [np.array(w) for w in model.get_weights()]
        model.compile(
            optimizer=create_optimizer(
                optimizer_name,
                learning_rate=0.05,
                num_train_steps=8,
                num_warmup_steps=2,
                global_clipnorm=0.5,  # small enough to clip every step
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        history = model.fit(x, y, batch_size=batch, epochs=2, shuffle=False, verbose=0)
        sharding = None
        if BACKEND == "jax" and dist is not None:
            query = model.get_layer("transformer_layer_0").attention.query.kernel
            sharding = list(query.value.sharding.spec)
    weights = [np.array(w).tolist() for w in model.get_weights()]
    return initial, {
        "loss": history.history["loss"],
        "weights": weights,
        "sharding": sharding,
        "replicas": None if dist is None else str(type(dist).__name__),
        "seconds": time.time() - start,
    }


class HashedWords:
    """Strings to hashed word ids padded to 16: a stand-in tokenizer."""

    def call(self, texts):
        import tensorflow as tf

        words = tf.strings.split(texts)
        ids = tf.cast(tf.strings.to_hash_bucket_fast(words, VOCAB - 1) + 1, "int32")
        ids = ids.to_tensor(shape=[None, 16])
        return {"token_ids": ids, "padding_mask": tf.cast(ids > 0, "int32")}

    __call__ = call


def predict_strings(strategy):
    """`predict` on 37 texts of many lengths: pooled and per-token outputs."""
    texts = [" ".join(f"w{i * j % 11}" for j in range(1 + i % 15)) for i in range(37)]
    with distribution_scope(strategy):
        keras.utils.set_random_seed(0)
        inputs = {
            "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask"),
        }
        # Zero on padding, so that outputs do not depend on the padded length.
        mask = keras.ops.cast(inputs["padding_mask"], "float32")[..., None]
        embedded = keras.layers.Embedding(VOCAB, HIDDEN)(inputs["token_ids"]) * mask
        outputs = {
            "pooled": keras.layers.Dense(2)(keras.ops.sum(embedded, axis=1)),
            "per_token": keras.layers.Dense(3)(embedded),
        }
        model = PipelineModel(inputs=inputs, outputs=outputs)
        model.preprocessor = HashedWords()
        found = model.predict(texts, batch_size=8, verbose=0)
    return {key: np.asarray(value) for key, value in found.items()}


results = {}
single = predict_strings("default")
distributed = predict_strings("data_parallel" if BACKEND == "jax" else "mirrored")
results["predict_strings"] = {
    key: {
        "shape": list(distributed[key].shape),
        "max_difference": float(np.abs(distributed[key] - single[key]).max()),
    }
    for key in single
}
for optimizer_name in ("adamw", "lamb"):
    initial, results[f"single/{optimizer_name}"] = run("default", optimizer_name, None)
    if BACKEND == "jax":
        if optimizer_name == "adamw":  # LAMB's sharded norms: ModelParallel
            results[f"data_parallel/{optimizer_name}"] = run(
                "data_parallel", optimizer_name, initial
            )[1]
        results[f"model_parallel/{optimizer_name}"] = run(
            "data_parallel", optimizer_name, initial, model_parallel=4
        )[1]
    else:
        results[f"mirrored/{optimizer_name}"] = run(
            "mirrored", optimizer_name, initial
        )[1]
print(json.dumps(results))
