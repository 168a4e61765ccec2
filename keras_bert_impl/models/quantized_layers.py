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
"""

import warnings

import keras


def policy_with_quantized_layers(layers, policy):
    """`policy`, or a `DTypePolicyMap` over it naming each quantized layer's policy.

    Args:
        layers: the layers to look at (e.g. `model._flatten_layers()` of a
            backbone and its task heads).
        policy: the model's own dtype policy: the map's default, returned as
            is when no layer is quantized.
    """
    quantized = {
        layer.path: layer.dtype_policy
        for layer in layers
        if getattr(layer, "quantization_mode", None) is not None
    }
    if not quantized:
        return policy
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


class QuantizeWithoutNoise:
    """`quantize()` without Keras' warning for every layer it has no int8 form of.

    Keras warns once per LayerNormalization, Dropout, Activation, tokenizer...
    (dozens in a BERT): nothing a user can act on, as those stay in float by
    design. Put it before the Keras model class in the bases.
    """

    def quantize(self, mode, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Layer .* does not have a `quantize` method"
            )
            super().quantize(mode, **kwargs)
