import keras

ACTIVATIONS = ("gelu", "gelu_approximate", "relu", "tanh", "silu")


def get_activation(name):
    """Returns the callable for an activation name of BERT's configs.

    `"gelu"` is the exact (erf) GELU that Hugging Face checkpoints use;
    `"gelu_approximate"` is the tanh form of the original TensorFlow BERT.
    """
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    if name == "gelu_approximate":
        return lambda x: keras.activations.gelu(x, approximate=True)
    if name in ACTIVATIONS:
        return keras.activations.get(name)
    raise ValueError(f"activation must be one of {ACTIVATIONS}; got {name!r}.")
