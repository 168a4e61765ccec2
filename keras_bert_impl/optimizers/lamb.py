import keras
from keras import ops

from keras_bert_impl.optimizers.gradients import BertGradientHandling
from keras_bert_impl.optimizers.variable_patterns import BERT_WEIGHT_DECAY_EXCLUSIONS
from keras_bert_impl.optimizers.variable_patterns import matches_any


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class Lamb(BertGradientHandling, keras.optimizers.Optimizer):
    """LAMB (You et al. 2019, arXiv:1904.00962), as tf-addons / tf-models-official.

    Per variable `w` with gradient `g` at step `t` (1-based):

    ```
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g**2
    r = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)
    r = r + weight_decay * w                  # unless excluded from decay
    ratio = ||w|| / ||r||  (1 if either norm is 0; 1 if excluded from adaptation)
    w = w - learning_rate * ratio * r
    ```

    The weight decay sits inside the update, so the trust ratio sees it, as
    in the paper's Algorithm 2 and tf-addons' `LAMB`. `keras.optimizers.Lamb`
    (Keras 3.15) differs: it applies decoupled decay outside the trust ratio
    and cannot exclude variables from layer adaptation, which is why this
    class exists.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        beta_1: float. First-moment decay.
        beta_2: float. Second-moment decay.
        epsilon: float. Added to the root of the second moment.
        weight_decay: float. Weight-decay rate inside the update (`0.01` for
            BERT pretraining).
        exclude_from_weight_decay: list of regexes searched in each variable's
            path and name; matches get no weight decay. `None` means BERT's
            list (LayerNorm gammas/betas and biases).
        exclude_from_layer_adaptation: list of regexes; matches get a trust
            ratio of 1. `None` means the same list as
            `exclude_from_weight_decay` (tf-models-official's default).
        **kwargs: passed to `keras.optimizers.Optimizer` (`global_clipnorm`,
            `gradient_accumulation_steps`, `name`, ...).

    Example:
    ```python
    optimizer = Lamb(learning_rate=1e-3, weight_decay=0.01, global_clipnorm=1.0)
    model.compile(optimizer=optimizer, loss="mse")
    ```
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        weight_decay=0.0,
        exclude_from_weight_decay=None,
        exclude_from_layer_adaptation=None,
        **kwargs,
    ):
        # The decay lives inside `update_step`; the base class' decoupled
        # decay must stay off.
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.lamb_weight_decay = weight_decay
        if exclude_from_weight_decay is None:
            exclude_from_weight_decay = BERT_WEIGHT_DECAY_EXCLUSIONS
        if exclude_from_layer_adaptation is None:
            exclude_from_layer_adaptation = exclude_from_weight_decay
        self.weight_decay_exclusions = list(exclude_from_weight_decay)
        self.layer_adaptation_exclusions = list(exclude_from_layer_adaptation)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._decays = [
            not matches_any(v, self.weight_decay_exclusions) for v in var_list
        ]
        self._adapts = [
            not matches_any(v, self.layer_adaptation_exclusions) for v in var_list
        ]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)

        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(
            v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2)
        )
        m_hat = ops.divide(m, 1.0 - beta_1_power)
        v_hat = ops.divide(v, 1.0 - beta_2_power)
        update = ops.divide(m_hat, ops.add(ops.sqrt(v_hat), self.epsilon))
        if self.lamb_weight_decay and self._decays[index]:
            update = ops.add(
                update, ops.multiply(ops.cast(self.lamb_weight_decay, dtype), variable)
            )
        if self._adapts[index]:
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            r_norm = ops.sqrt(ops.sum(ops.square(update)))
            ratio = ops.where(
                ops.greater(w_norm, 0),
                ops.where(
                    ops.greater(r_norm, 0),
                    ops.divide(w_norm, ops.maximum(r_norm, 1e-30)),
                    1.0,
                ),
                1.0,
            )
            update = ops.multiply(ops.cast(ratio, dtype), update)
        self.assign_sub(variable, ops.multiply(lr, update))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "weight_decay": self.lamb_weight_decay,
                "exclude_from_weight_decay": list(self.weight_decay_exclusions),
                "exclude_from_layer_adaptation": list(self.layer_adaptation_exclusions),
            }
        )
        return config
