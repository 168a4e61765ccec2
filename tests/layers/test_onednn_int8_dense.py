"""`OneDnnInt8Dense`: Keras' int8 `Dense`, computed by oneDNN's int8 kernel on
TensorFlow CPUs with VNNI/AMX-INT8; the reference is Keras' own layer."""

import keras
import numpy as np
import pytest

from keras_bert_impl.layers import onednn_int8_dense
from keras_bert_impl.layers.onednn_int8_dense import OneDnnInt8Dense
from keras_bert_impl.layers.onednn_int8_dense import onednn_int8_matmul_usable
from keras_bert_impl.layers.onednn_int8_dense import portable_int8_matmuls

ON_ONEDNN = pytest.mark.skipif(
    not onednn_int8_matmul_usable(),
    reason="oneDNN's int8 kernel serves TensorFlow on CPUs listing avx512_vnni, "
    "avx_vnni or amx_int8",
)


def _pair(units=48, features=40, activation="gelu"):
    """Keras' int8 `Dense` and ours with the same float weights, quantized."""
    rng = np.random.default_rng(0)
    weights = [
        rng.normal(0, 0.2, (features, units)).astype("float32"),
        rng.normal(0, 0.1, (units,)).astype("float32"),
    ]
    layers = []
    for cls in (keras.layers.Dense, OneDnnInt8Dense):
        layer = cls(units, activation=activation)
        layer.build((None, features))
        layer.set_weights(weights)
        layer.quantize("int8")
        layers.append(layer)
    return layers


def _graph_ops(function, *args):
    graph = function.get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}


@ON_ONEDNN
@pytest.mark.parametrize("rows", [1, 7, 256])
def test_int8_rows_equal_keras_int8_dense(rows):
    import tensorflow as tf

    keras_layer, layer = _pair()
    x = tf.constant(np.random.default_rng(rows).normal(0, 1, (rows, 40)), "float32")
    ours = tf.function(lambda x: layer(x))
    assert "QuantizedMatMulWithBias" in _graph_ops(ours, x)
    # The integer sums are Keras' exactly; the float steps after them too.
    np.testing.assert_allclose(ours(x), keras_layer(x), rtol=1e-6, atol=1e-6)


@ON_ONEDNN
def test_gradients_flow_to_the_inputs_as_through_keras_int8_dense():
    import tensorflow as tf

    keras_layer, layer = _pair(activation=None)
    x = tf.constant(np.random.default_rng(1).normal(0, 1, (5, 40)), "float32")
    gradients = []
    for each in (keras_layer, layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(each(x) ** 2)
        gradients.append(tape.gradient(loss, x))
    np.testing.assert_allclose(gradients[1], gradients[0], rtol=1e-5, atol=1e-5)


@ON_ONEDNN
def test_xla_exports_and_three_dimensional_inputs_take_keras_int8_matmul():
    import tensorflow as tf

    keras_layer, layer = _pair()
    rows = tf.constant(np.random.default_rng(2).normal(0, 1, (6, 40)), "float32")
    xla = tf.function(lambda x: layer(x), jit_compile=True)
    np.testing.assert_allclose(xla(rows), keras_layer(rows), rtol=1e-5, atol=1e-5)

    def exported(x):
        with portable_int8_matmuls():
            return layer(x)

    assert "QuantizedMatMulWithBias" not in _graph_ops(tf.function(exported), rows)
    tokens = tf.reshape(rows, (2, 3, 40))
    assert "QuantizedMatMulWithBias" not in _graph_ops(tf.function(layer), tokens)


def test_float_layers_are_keras_dense_and_quantize_like_it():
    keras_layer, layer = _pair()
    assert layer.quantization_mode == keras_layer.quantization_mode == "int8"
    x = np.random.default_rng(3).normal(0, 1, (4, 40)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        keras.ops.convert_to_numpy(keras_layer(x)),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "flags, usable",
    [
        ({"avx2", "avx512f", "avx512_vnni"}, True),  # Cascade Lake, Zen 4
        ({"avx2", "avx_vnni"}, True),  # Alder Lake
        ({"avx2", "amx_int8", "amx_tile"}, True),  # Sapphire Rapids
        ({"avx2", "avx512f"}, False),  # Skylake-SP: u8 x s8 saturates
        (None, False),  # no /proc/cpuinfo
    ],
)
def test_the_kernel_needs_an_8_bit_dot_product_instruction(monkeypatch, flags, usable):
    monkeypatch.setattr(onednn_int8_dense, "cpu_flags", lambda: flags)
    monkeypatch.setattr(onednn_int8_dense, "accelerator_present", lambda: False)
    onednn_int8_matmul_usable.cache_clear()
    try:
        expected = usable and keras.backend.backend() == "tensorflow"
        assert onednn_int8_matmul_usable() is expected
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
        onednn_int8_matmul_usable.cache_clear()
        assert onednn_int8_matmul_usable() is False
    finally:
        onednn_int8_matmul_usable.cache_clear()
