import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class LinearWarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """BERT's learning-rate schedule: linear warmup, then linear decay.

    Exactly the schedule of the original `optimization.py`
    (google-research/bert): the decay is `tf.train.polynomial_decay` with
    `power=1` over `num_train_steps` steps counted from step 0, and for the
    first `num_warmup_steps` steps it is replaced by the warmup ramp
    `learning_rate * step / num_warmup_steps`:

    ```
    decayed = (learning_rate - end_learning_rate)
              * (1 - min(step, num_train_steps) / num_train_steps)
              + end_learning_rate
    lr(step) = learning_rate * step / num_warmup_steps   if step < num_warmup_steps
               decayed                                  otherwise
    ```

    So step 0 trains with a learning rate of 0 (as the original), the peak is
    reached at the end of warmup (minus the decay already accrued, again as
    the original), and the rate is `end_learning_rate` from `num_train_steps`
    on.

    Keras evaluates a schedule at the optimizer's micro-step counter, which
    counts batches, not parameter updates, when the optimizer accumulates
    gradients. Pass the optimizer's `gradient_accumulation_steps` here and
    the schedule divides the counter by it, so that `num_train_steps` and
    `num_warmup_steps` count parameter updates and update `u` gets exactly
    the rate it would get without accumulation.

    Args:
        learning_rate: float. The peak learning rate (`init_lr` in the
            original).
        num_train_steps: int. Steps (parameter updates) after which the rate
            is `end_learning_rate`.
        num_warmup_steps: int. Steps of linear warmup from 0. `0` disables
            warmup.
        end_learning_rate: float. The rate at and after `num_train_steps`.
        gradient_accumulation_steps: int. Batches per parameter update; the
            step the optimizer passes in is floor-divided by it.

    Example:
    ```python
    schedule = LinearWarmupDecay(
        learning_rate=1e-4, num_train_steps=1_000_000, num_warmup_steps=10_000
    )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    float(schedule(5_000))  # 5e-05
    ```
    """

    def __init__(
        self,
        learning_rate,
        num_train_steps,
        num_warmup_steps=0,
        end_learning_rate=0.0,
        gradient_accumulation_steps=1,
    ):
        if num_train_steps <= 0:
            raise ValueError(
                f"`num_train_steps` must be positive. Received: {num_train_steps}"
            )
        if num_warmup_steps < 0:
            raise ValueError(
                f"`num_warmup_steps` must be non-negative. Received: {num_warmup_steps}"
            )
        if gradient_accumulation_steps is None or gradient_accumulation_steps < 1:
            raise ValueError(
                "`gradient_accumulation_steps` must be a positive int. "
                f"Received: {gradient_accumulation_steps}"
            )
        self.learning_rate = learning_rate
        self.num_train_steps = num_train_steps
        self.num_warmup_steps = num_warmup_steps
        self.end_learning_rate = end_learning_rate
        self.gradient_accumulation_steps = gradient_accumulation_steps

    def __call__(self, step):
        step = ops.cast(step, "int32")
        if self.gradient_accumulation_steps > 1:
            step = ops.floor_divide(step, self.gradient_accumulation_steps)
        step = ops.cast(step, "float32")
        peak = ops.cast(self.learning_rate, "float32")
        end = ops.cast(self.end_learning_rate, "float32")
        total = float(self.num_train_steps)
        progress = ops.minimum(step, total) / total
        decayed = (peak - end) * (1.0 - progress) + end
        if not self.num_warmup_steps:
            return decayed
        warmup_steps = float(self.num_warmup_steps)
        warmup = peak * step / warmup_steps
        return ops.where(ops.less(step, warmup_steps), warmup, decayed)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
