"""`Dense` whose int8 form runs on oneDNN's int8 matmul on TensorFlow CPUs.

After `quantize("int8")` (Keras' int8: an int8 kernel with per-column scales,
inputs quantized per row by their absolute maximum, int8 x int8 products),
Keras' `Dense` multiplies on TensorFlow with `MatMul` on int32 (~30 GOP/s on
an AMX Xeon) or, through XLA, at 230 GOP/s (AMD EPYC, AVX512-VNNI) to 660
(AMX Xeon). TensorFlow's oneDNN kernel `QuantizedMatMulWithBias` multiplies
unsigned by signed 8-bit integers at 429 GOP/s on that EPYC (torch's fbgemm,
behind transformers' `quantize_dynamic`: 340; 4096 x 768 x 3072,
`benchmarks/int8_matmul_rates.py`). It takes
the rows as uint8, so they are shifted by 128 and the shift's product (128 x
each kernel column's sum) is taken off: the integer sums equal Keras' exactly,
so the outputs equal Keras' int8 layer's.

The kernel serves 2-D inputs (the token rows of `dense_over_tokens`) with
Keras' default input quantizer and no LoRA, on TensorFlow outside XLA, on a
CPU whose flags list VNNI or AMX-INT8: without them oneDNN's u8 x s8 products
saturate at 16 bits. Everywhere else the layer is Keras' `Dense`, and so it
is while an export traces the model (`portable_int8_matmuls`): a served
model must run wherever TensorFlow, LiteRT or ONNX Runtime does.
"""

import contextlib
import functools
import os
import threading

import keras

from keras_bert_impl.utils.devices import accelerator_present
from keras_bert_impl.utils.devices import cpu_flags

# 8-bit dot-product instructions oneDNN's u8 x s8 kernels accumulate in 32 bits
# with: AVX512-VNNI, AVX-VNNI, AMX-INT8.
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# The quantized rows are value + ROW_SHIFT in [1, 255].
ROW_SHIFT = 128


@functools.cache
def onednn_int8_matmul_usable():
    """Whether int8 `Dense` layers may run on TensorFlow's oneDNN int8 kernel.

    TensorFlow backend, computing on a CPU whose flags list an 8-bit
    dot-product instruction, with oneDNN on (`TF_ENABLE_ONEDNN_OPTS` not 0).
    """
    if keras.backend.backend() != "tensorflow" or accelerator_present():
        return False
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() in ("0", "false"):
        return False
    return bool((cpu_flags() or set()) & INT8_DOT_PRODUCT_FLAGS)


_PORTABLE = threading.local()


@contextlib.contextmanager
def portable_int8_matmuls():
    """In the block, int8 layers trace Keras' own int8 matmul (exports)."""
    before = getattr(_PORTABLE, "on", False)
    _PORTABLE.on = True
    try:
        yield
    finally:
        _PORTABLE.on = before


def _inside_xla():
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    graph = tf.compat.v1.get_default_graph()
    return control_flow_util.GraphOrParentsInXlaContext(graph)


def onednn_int8_sums(rows, kernel):
    """`rows @ kernel` in int32 on oneDNN's u8 x s8 kernel (TensorFlow).

    Args:
        rows: uint8 tensor `(m, k)`.
        kernel: int8 tensor `(k, n)`.
    """
    import tensorflow as tf

    sums = tf.raw_ops.QuantizedMatMulWithBias(
        a=tf.bitcast(rows, tf.quint8),
        b=tf.bitcast(kernel, tf.qint8),
        bias=tf.zeros(tf.shape(kernel)[1:]),
        # With these ranges and an int32 output the kernel returns the plain
        # integer sums (the tests compare with Keras' int8 layer).
        min_a=0.0,
        max_a=255.0,
        min_b=-127.0,
        max_b=127.0,
        Toutput=tf.qint32,
    )[0]
    return tf.bitcast(sums, tf.int32)


@functools.cache
def _elementwise_steps():
    """The steps before and after the kernel, each compiled by XLA to one loop.

    As separate TensorFlow ops they stream the (rows x features) tensor
    through memory once per op: at BERT-Base 32 x 128 on the AMD EPYC that
    made a batch 2.28 s against 1.82 s fused (no change at 32 x 16, whose
    tensors stay in cache). XLA keeps each op's float semantics, so the
    results stay Keras' (tests).

    Returns:
        `(quantize_rows, descale)`: `quantize_rows(inputs, limit, epsilon)`
        is Keras' `abs_max_quantize` op for op, shifted to uint8, with a last
        row of ones (the product's last row is then each kernel column's sum,
        which the shift multiplies: one more row in the matmul instead of a
        pass over the kernel per call), and the scale; `descale(sums,
        kernel_scale, scale, dtype)` takes the shift off and divides as
        Keras' layer does.
    """
    import tensorflow as tf

    @tf.function(jit_compile=True)
    def quantize_rows(inputs, limit, epsilon):
        largest = tf.reduce_max(tf.abs(inputs), axis=-1, keepdims=True)
        scale = tf.cast(limit / (largest + epsilon), inputs.dtype)
        rows = tf.clip_by_value(tf.round(inputs * scale), -limit, limit)
        rows = tf.cast(tf.cast(rows, "float32") + ROW_SHIFT, "uint8")
        return tf.concat([rows, tf.ones_like(rows[:1])], axis=0), scale

    @tf.function(jit_compile=True)
    def descale(sums, kernel_scale, scale, dtype):
        sums = sums[:-1] - ROW_SHIFT * sums[-1:]
        return tf.cast(sums, dtype) / (kernel_scale * scale)

    return quantize_rows, descale


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class OneDnnInt8Dense(keras.layers.Dense):
    """`keras.layers.Dense` whose int8 form uses oneDNN's kernel where it can.

    Same arguments, weights, config and float computation as `Dense`; only
    the int8 call after `quantize("int8")` differs, and only where
    `onednn_int8_matmul_usable()` and the input allow (see the module).

    Example:
    ```python
    dense = OneDnnInt8Dense(3072, activation="gelu")
    dense.build((None, 768))
    dense.quantize("int8")
    rows = dense(keras.random.normal((256, 768)))  # Keras' int8 result
    ```
    """

    def quantize(self, mode=None, type_check=True, config=None):
        # Keras refuses to quantize `Dense` subclasses, which may compute
        # something else; this one is `Dense` but for where int8 runs.
        super().quantize(mode, type_check=False, config=config)

    def _int8_call(self, inputs, training=None):
        if not self._runs_on_onednn(inputs):
            return super()._int8_call(inputs, training=training)
        import tensorflow as tf

        kernel = tf.convert_to_tensor(self._kernel)
        kernel_scale = tf.convert_to_tensor(self.kernel_scale)
        quantize_rows, descale = _elementwise_steps()

        @tf.custom_gradient
        def matmul(inputs):
            quantizer = self.inputs_quantizer
            rows, scale = quantize_rows(
                inputs, float(quantizer.value_range[1]), float(quantizer.epsilon)
            )
            sums = onednn_int8_sums(rows, kernel)
            outputs = descale(sums, kernel_scale, scale, self.compute_dtype)

            def gradient(upstream):
                # As Keras' layer: through the dequantized kernel.
                float_kernel = tf.cast(kernel, self.compute_dtype) / kernel_scale
                return tf.matmul(upstream, float_kernel, transpose_b=True)

            return outputs, gradient

        outputs = matmul(inputs)
        if self.bias is not None:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _runs_on_onednn(self, inputs):
        quantizer = getattr(self, "inputs_quantizer", None)
        return (
            onednn_int8_matmul_usable()
            and not getattr(_PORTABLE, "on", False)
            and len(inputs.shape) == 2
            and not self.lora_enabled
            and type(quantizer) is keras.quantizers.AbsMaxQuantizer
            and tuple(quantizer.value_range) == (-127, 127)
            and not _inside_xla()
        )
