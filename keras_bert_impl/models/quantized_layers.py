"""The dtype policy that lets a quantized model be saved, loaded and exported.

`model.quantize("int8")` (Keras' own mechanism) swaps the kernels of every
`Dense`, `EinsumDense` and `Embedding` layer for int8 weights and scales and
gives each layer a quantized dtype policy (`int8_from_float32`). A model that
rebuilds its layers from constructor arguments, as ours do, would rebuild them
in float and fail to load the int8 weights. So the config records one
`keras.dtype_policies.DTypePolicyMap` from each quantized layer's path (e.g.
`transformer_layer_0/attention/query`) to its policy; every layer of the
rebuilt model is given that map as its `dtype` and looks its own path up in it
(keras-hub's backbones record quantization the same way).

`QuantizedModel` is the models' `quantize()`: quiet, and on TensorFlow an int8
model runs on oneDNN's int8 kernel (`layers/onednn_int8_dense.py`) where the
CPU has 8-bit dot-product instructions, else through XLA, whose int8 matmuls
are fast where TensorFlow's own are not.
"""

import warnings

import keras
from keras.src.trainers.trainer import model_supports_jit

from keras_bert_impl.layers.onednn_int8_dense import onednn_int8_matmul_usable


def policy_with_quantized_layers(layers, policy):
    """`policy`, or a `DTypePolicyMap` over it naming each quantized layer's policy.

    Args:
        layers: the layers to look at (e.g. `model._flatten_layers()` of a
            backbone and its task heads).
        policy: the model's own dtype policy: the map's default, returned as
            is when no layer is quantized.
    """
    quantized_layers = [
        layer
        for layer in layers
        if getattr(layer, "quantization_mode", None) is not None
    ]
    if not quantized_layers:
        return policy
    check_quantization_configs(quantized_layers)
    quantized = {layer.path: layer.dtype_policy for layer in quantized_layers}
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        default = policy.default_policy
    else:
        default = policy
    policy_map = keras.dtype_policies.DTypePolicyMap(default_policy=default)
    for path, layer_policy in quantized.items():
        if isinstance(layer_policy, keras.dtype_policies.DTypePolicyMap):
            layer_policy = layer_policy[path]
        policy_map[path] = layer_policy
    return policy_map


def check_quantization_configs(layers):
    """Refuses quantized layers whose config a dtype policy cannot record.

    A rebuilt layer gets its policy's mode only (e.g. `int8_from_float32`) and
    builds with that mode's default config: a custom one (say weights-only
    int8, `Int8QuantizationConfig(activation_quantizer=None)`) would come back
    as the default, computing something else without a word.
    """
    for layer in layers:
        _check_default_quantization_config(layer)


def _check_default_quantization_config(layer):
    config = getattr(layer, "quantization_config", None)
    if config is None:
        return
    try:
        default = type(config)()
    except TypeError:
        return  # GPTQ, AWQ: their policy names carry their parameters.
    if _settings(config) != _settings(default):
        raise ValueError(
            f"Layer {layer.path} was quantized with a custom "
            f"{type(config).__name__}, which this model's config cannot record "
            "(it would load with Keras' default for that mode). Save the float "
            "model and call quantize() with the same config after loading."
        )


def _settings(config):
    """A quantization config's fields, its quantizers as (class, config) pairs.

    Not `serialize_keras_object`: while a model saves, it turns every object
    seen before (the one config `Model.quantize` hands all layers) into a
    reference.
    """
    settings = dict(vars(config))
    for name, value in settings.items():
        if isinstance(value, keras.quantizers.Quantizer):
            settings[name] = (type(value).__name__, value.get_config())
    return settings


class QuantizedModel:
    """`quantize()` for our models: quiet, and on TensorFlow run through XLA.

    Keras warns once per LayerNormalization, Dropout, Activation, tokenizer...
    (dozens in a BERT) that it has no int8 form of: nothing a user can act on,
    as those stay in float by design, so the warning is silenced.

    `quantize("int8")` with Keras' default config quantizes each `Dense` and
    `EinsumDense` input too and multiplies int8 by int8. TensorFlow's own
    int8 matmul kernel is slow on CPUs (measured on an AMX Xeon: 30 GFLOP/s
    against 130-160 in float32), while XLA's runs at 660 (as JAX's does). So
    on TensorFlow a model holding such layers resolves `jit_compile="auto"`
    to XLA, CPU-only machines included (Keras' own "auto" keeps TensorFlow on
    CPUs out of XLA), unless the encoder's int8 layers run on oneDNN's int8
    kernel (a CPU with VNNI or AMX-INT8), which is faster again and which XLA
    cannot compile: then "auto" is False. An explicit
    `compile(jit_compile=False)` is kept, and so is Keras' refusal under a
    `tf.distribute` strategy. Put this class before the Keras model class in
    the bases.
    """

    def compile(self, *args, jit_compile="auto", **kwargs):
        # Whether quantizing may change jit_compile: only if the user left it.
        object.__setattr__(self, "_jit_compile_is_auto", jit_compile == "auto")
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    def quantize(self, mode, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Layer .* does not have a `quantize` method"
            )
            super().quantize(mode, **kwargs)
        if getattr(self, "_jit_compile_is_auto", True) and not self.run_eagerly:
            self._jit_compile = None  # Resolved again, int8 layers included.

    def save(self, filepath, *args, **kwargs):
        # Before Keras opens the file: a config error inside its save would
        # leave a half-written archive at the user's path.
        check_quantization_configs(self._flatten_layers())
        super().save(filepath, *args, **kwargs)

    def _resolve_auto_jit_compile(self):
        if keras.backend.backend() == "tensorflow" and has_int8_input_quantization(
            self
        ):
            # oneDNN's int8 kernel is faster still, and XLA cannot compile it.
            if onednn_int8_matmul_usable():
                return False
            if not self._distribute_strategy and model_supports_jit(self):
                return True
        return super()._resolve_auto_jit_compile()


def has_int8_input_quantization(model):
    """Whether some layer of `model` multiplies int8 inputs by int8 weights.

    Keras' default int8 config (`Int8QuantizationConfig()`) quantizes the
    inputs of `Dense` and `EinsumDense`; with `activation_quantizer=None`
    (weights only) and for `Embedding` the matmul or lookup runs in float.
    """
    return any(
        layer.quantization_mode == "int8"
        and getattr(layer, "inputs_quantizer", None) is not None
        for layer in model._flatten_layers()
    )
