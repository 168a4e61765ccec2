"""`create_optimizer`: BERT's optimizer and learning-rate schedule in one call."""

import keras

from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.optimizers.lamb import Lamb
from keras_bert_impl.optimizers.linear_warmup_decay import LinearWarmupDecay
from keras_bert_impl.optimizers.variable_patterns import BERT_WEIGHT_DECAY_EXCLUSIONS


def needs_loss_scaling(dtype):
    """Whether a model of dtype policy `dtype` computes in float16, whose
    gradients underflow without loss scaling (`create_optimizer`'s
    `dynamic_loss_scale`). `None` is the float32 default."""
    return dtype is not None and keras.dtype_policies.get(dtype).compute_dtype == (
        "float16"
    )


def create_optimizer(
    name="adamw",
    learning_rate=1e-4,
    num_train_steps=None,
    num_warmup_steps=0,
    weight_decay=0.01,
    global_clipnorm=1.0,
    clipnorm=None,
    gradient_accumulation_steps=None,
    end_learning_rate=0.0,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    exclude_from_weight_decay=BERT_WEIGHT_DECAY_EXCLUSIONS,
    exclude_from_layer_adaptation=None,
    dynamic_loss_scale=False,
    **kwargs,
):
    """BERT's optimizer: AdamW or LAMB with linear warmup and linear decay.

    As the original `optimization.create_optimizer`: decoupled weight decay
    0.01 that spares LayerNorm gammas/betas and biases, epsilon 1e-6, global
    gradient-norm clipping at 1.0, and the `LinearWarmupDecay` schedule.

    Steps here count parameter updates. With `gradient_accumulation_steps=k`
    each update averages the gradients of `k` batches (Keras' own
    accumulation), the schedule is told `k` so that it advances once per
    update, and clipping and decay apply to the averaged gradient; one update
    then sees `k` times the batch, e.g. a global batch of 4096 from 16
    batches of 256.

    Args:
        name: `"adamw"` (`AdamWeightDecay`) or `"lamb"` (`Lamb`).
        learning_rate: float. Peak learning rate.
        num_train_steps: int or `None`. Updates over which the rate decays
            linearly to `end_learning_rate`; `None` keeps `learning_rate`
            constant (no schedule, no warmup).
        num_warmup_steps: int. Updates of linear warmup from 0.
        weight_decay: float. Weight-decay rate.
        global_clipnorm: float or `None`. Clip the gradients' global norm.
        clipnorm: float or `None`. Clip each gradient's norm instead.
        gradient_accumulation_steps: int or `None`. Batches per update.
        end_learning_rate: float. Rate at the end of the decay.
        beta_1: float. First-moment decay.
        beta_2: float. Second-moment decay.
        epsilon: float. Adam/LAMB epsilon.
        exclude_from_weight_decay: list of regexes searched in variable paths
            and names; matches are not decayed.
        exclude_from_layer_adaptation: LAMB only; regexes of variables whose
            trust ratio is 1. `None` means `exclude_from_weight_decay`.
        dynamic_loss_scale: bool. Wrap the optimizer in Keras'
            `LossScaleOptimizer` (the loss is scaled up so that float16
            gradients do not underflow; a step whose gradients overflow is
            skipped and the scale halved). For `mixed_float16` models.
        **kwargs: passed to the optimizer (`name`, `use_ema`, ...).

    Returns:
        A `keras.optimizers.Optimizer`.

    Example:
    ```python
    optimizer = create_optimizer(
        "lamb", learning_rate=1.76e-3, num_train_steps=125_000,
        num_warmup_steps=3_125, gradient_accumulation_steps=4,
    )
    pretrainer.compile(optimizer=optimizer, ...)
    ```
    """
    if global_clipnorm is not None and clipnorm is not None:
        raise ValueError("Pass `global_clipnorm` or `clipnorm`, not both.")
    if num_train_steps is not None:
        schedule = LinearWarmupDecay(
            learning_rate=learning_rate,
            num_train_steps=num_train_steps,
            num_warmup_steps=num_warmup_steps,
            end_learning_rate=end_learning_rate,
            gradient_accumulation_steps=gradient_accumulation_steps or 1,
        )
    elif num_warmup_steps:
        raise ValueError("`num_warmup_steps` needs `num_train_steps`.")
    else:
        schedule = learning_rate
    common = dict(
        learning_rate=schedule,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        weight_decay=weight_decay,
        global_clipnorm=global_clipnorm,
        clipnorm=clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
        exclude_from_weight_decay=list(exclude_from_weight_decay or ()),
        **kwargs,
    )
    key = name.lower().replace("_", "").replace("-", "")
    if key in ("adamw", "adam", "adamweightdecay"):
        if exclude_from_layer_adaptation is not None:
            raise ValueError("`exclude_from_layer_adaptation` is for LAMB only.")
        optimizer = AdamWeightDecay(**common)
    elif key == "lamb":
        optimizer = Lamb(
            exclude_from_layer_adaptation=exclude_from_layer_adaptation, **common
        )
    else:
        raise ValueError(f"Unknown optimizer {name!r}: expected 'adamw' or 'lamb'.")
    if dynamic_loss_scale:
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
