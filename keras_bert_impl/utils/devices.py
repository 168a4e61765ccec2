"""What this process computes on: an accelerator, or a CPU and its instructions."""

import functools
import pathlib

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


@functools.cache
def cpu_flags():
    """This CPU's instruction-set flags from /proc/cpuinfo (read once).

    Returns:
        set of str, or None where /proc/cpuinfo is absent (not Linux) or has
        no flags line: then nothing is known.
    """
    try:
        cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return listed_cpu_flags(cpuinfo)


def listed_cpu_flags(cpuinfo):
    """The flags a /proc/cpuinfo text lists: x86's "flags", Arm's "Features".

    Returns:
        set of str, or None where the text has neither line.
    """
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None
