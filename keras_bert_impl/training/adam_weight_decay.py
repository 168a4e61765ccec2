import keras

from keras_bert_impl.training.gradients import BertGradientHandling
from keras_bert_impl.training.variable_patterns import BERT_WEIGHT_DECAY_EXCLUSIONS
from keras_bert_impl.training.variable_patterns import matches_any


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class AdamWeightDecay(BertGradientHandling, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with BERT's defaults and weight-decay exclusions.

    Adam with decoupled weight decay (`w -= lr * weight_decay * w` before the
    Adam step, the same product the original `AdamWeightDecayOptimizer`
    adds to its update), epsilon `1e-6`, betas `0.9`/`0.999`, and no decay on
    the variables `exclude_from_weight_decay` names: by default LayerNorm
    gammas and betas and every bias, as in the original BERT. Unlike the
    original it applies Adam's bias correction (as Keras, tf-models-official
    and Hugging Face do); in the first ~1/(1-beta_2) steps that makes the
    updates larger than the original's, which the warmup covers.

    Two differences from a plain `AdamW` whose `exclude_from_weight_decay()`
    method is called: the patterns are searched in each variable's *path*
    (`transformer_layer_0/output_layer_norm/gamma`) as well as its name
    (`gamma`) — Keras 3.15 searches the name only — and they are part of
    `get_config()`, so they survive `.keras` saving and `from_config`.
    They are resolved when the optimizer is built; calling the
    `exclude_from_weight_decay()` method afterwards is not supported.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        weight_decay: float. Decoupled weight-decay rate.
        beta_1: float. First-moment decay.
        beta_2: float. Second-moment decay.
        epsilon: float. Added to the root of the second moment.
        exclude_from_weight_decay: list of regexes. A variable whose path or
            name contains a match is not decayed. `None` means BERT's list.
        **kwargs: passed to `keras.optimizers.AdamW` (`global_clipnorm`,
            `gradient_accumulation_steps`, `name`, ...).

    Example:
    ```python
    optimizer = AdamWeightDecay(learning_rate=1e-4, global_clipnorm=1.0)
    model.compile(optimizer=optimizer, loss="mse")
    ```
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=None,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            **kwargs,
        )
        if exclude_from_weight_decay is None:
            exclude_from_weight_decay = BERT_WEIGHT_DECAY_EXCLUSIONS
        self.weight_decay_exclusions = list(exclude_from_weight_decay)

    def build(self, var_list):
        if self.built:
            return
        excluded = [v for v in var_list if matches_any(v, self.weight_decay_exclusions)]
        # Keras' own API, fed the matched variables instead of name patterns.
        self.exclude_from_weight_decay(var_list=excluded)
        super().build(var_list)

    def get_config(self):
        config = super().get_config()
        config["exclude_from_weight_decay"] = list(self.weight_decay_exclusions)
        return config
