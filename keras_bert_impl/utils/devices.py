"""Whether the Keras backend computes on an accelerator (GPU or TPU)."""

import functools

import keras


@functools.cache
def accelerator_present():
    """Whether Keras computes on a GPU or TPU (checked once per process).

    JAX and TensorFlow: the devices `keras.distribution` lists. torch, which
    has no `keras.distribution`: the device Keras puts new tensors on.
    """
    if keras.backend.backend() == "torch":
        return keras.ops.zeros(()).device.type != "cpu"
    try:
        devices = keras.distribution.list_devices()
    except (AttributeError, NotImplementedError, RuntimeError):
        devices = []
    return any(
        str(device).split(":")[0].lower() in ("gpu", "tpu") for device in devices
    )
