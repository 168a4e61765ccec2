"""Settings for a process that runs inference only.

On TensorFlow, a Dense layer's matmul and bias add run as one oneDNN inner
product. With weights read from variables it takes oneDNN's plain-layout
kernel, which does not use AMX tiles: bfloat16 BERT-Base inference on an AMX
Xeon ran at 27.7 sequences/s. `TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1` lets each
kernel reorder its weight once into oneDNN's blocked layout and keep it:
38.1 sequences/s (README, "bfloat16 on a CPU with AMX"). In float32 it was 9%
slower on the same machine, so it is set for bfloat16 models only. TF reads it
once per process, and every kernel keeps the first weight it sees, so it is
only correct where no weight changes after its first use: a process that
loads a model and predicts (`keras-bert predict` and `evaluate` with
`--dtype=mixed_bfloat16`), never one that trains: `fit` refuses to train
under it (`refuse_training_under_frozen_weights`).
"""

import os

FROZEN_WEIGHTS_VARIABLE = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"


def cache_weights_for_inference(model):
    """Lets TF's oneDNN kernels keep `model`'s weights in their AMX layout.

    Call it in a process that will run nothing but inference with weights
    that no longer change, after loading the model and before its first
    prediction. It sets `TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1` when the backend
    is TensorFlow and `model` computes in bfloat16; a value the user set is
    kept. Where a matmul already ran in this process TF has read the setting,
    and this changes nothing.

    Args:
        model: a Keras model.

    Returns:
        bool: whether the setting is on for this process.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    # A functional model's own policy may stay float32 while its layers
    # compute in bfloat16: ask the layers.
    layers = model._flatten_layers(include_self=True, recursive=True)
    if any(layer.dtype_policy.compute_dtype == "bfloat16" for layer in layers):
        os.environ.setdefault(FROZEN_WEIGHTS_VARIABLE, "1")
    return frozen_weights_on()


def frozen_weights_on():
    """Whether `TF_ONEDNN_ASSUME_FROZEN_WEIGHTS` is set on in this process."""
    return os.environ.get(FROZEN_WEIGHTS_VARIABLE, "").lower() in ("1", "true")


def refuse_training_under_frozen_weights():
    """Raises where TF would train with the setting on.

    Measured: a tiny BERT fine-tuned on STS-B in such a process ended at loss
    9.6 where the same run without it reached 2.7 (its oneDNN kernels kept
    computing with the first weights they saw). Intel's guides tell users to
    export it for inference, so a shell may carry it into a training run.

    Raises:
        ValueError: on TensorFlow with the setting on.
    """
    import keras

    if keras.backend.backend() == "tensorflow" and frozen_weights_on():
        raise ValueError(
            f"{FROZEN_WEIGHTS_VARIABLE}={os.environ[FROZEN_WEIGHTS_VARIABLE]} is "
            "set in this training process: TensorFlow's oneDNN kernels would "
            "keep the first weights they see and training would not take. "
            f"Expected it unset for training; run `unset {FROZEN_WEIGHTS_VARIABLE}` "
            "(it is for processes that only predict)."
        )
