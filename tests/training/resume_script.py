"""A tiny training run that can SIGKILL itself; used by test_resumable_checkpoint.

`python resume_script.py RUN_DIR MODE KILL_AT` with MODE `ours`
(ResumableCheckpoint) or `keras` (keras.callbacks.BackupAndRestore as is) and
KILL_AT the global step after which the process SIGKILLs itself (-1: never).
Prints one JSON line. `train()` is importable to run in-process.
"""

import json
import os
import signal
import sys

EPOCHS, STEPS_PER_EPOCH, SAVE_FREQ, BATCH = 3, 10, 4, 4
PLANNED_STEPS = EPOCHS * STEPS_PER_EPOCH


class _KillAt:
    def __init__(self, step):
        import keras

        class Kill(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.step = 0

            def on_train_batch_end(self, batch, logs=None):
                self.step += 1
                if self.step == step:
                    os.kill(os.getpid(), signal.SIGKILL)

        self.callback = Kill()


def build_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    x = keras.layers.Dense(8, activation="relu", name="intermediate")(inputs)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.LayerNormalization(name="output_layer_norm")(x)
    outputs = keras.layers.Dense(1, name="output")(x)
    return keras.Model(inputs, outputs)


def batches(skip):
    """Batch i of an endless, fixed sequence, from batch `skip` on.

    A plain generator, so the JAX run never imports TensorFlow.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
    index = skip
    while True:
        start = (index * BATCH) % len(x)
        yield x[start : start + BATCH], y[start : start + BATCH]
        index += 1


def train(run_dir, mode="ours", kill_at=-1):
    import keras
    import numpy as np

    from keras_bert_impl.optimizers.create_optimizer import create_optimizer
    from keras_bert_impl.training.resumable_checkpoint import ResumableCheckpoint

    model = build_model()
    model.compile(
        optimizer=create_optimizer(
            "adamw",
            learning_rate=0.05,
            num_train_steps=PLANNED_STEPS,
            num_warmup_steps=3,
        ),
        loss="mse",
    )
    backup_dir = os.path.join(run_dir, "backup")
    if mode == "ours":
        checkpoint = ResumableCheckpoint(backup_dir, save_freq=SAVE_FREQ)
        skip = checkpoint.initial_step
    else:
        checkpoint = keras.callbacks.BackupAndRestore(
            backup_dir, save_freq=SAVE_FREQ, delete_checkpoint=False
        )
        skip = 0
    callbacks = [checkpoint]
    if kill_at >= 0:
        callbacks.append(_KillAt(kill_at - skip).callback)
    history = model.fit(
        batches(skip),
        epochs=EPOCHS,
        steps_per_epoch=STEPS_PER_EPOCH,
        callbacks=callbacks,
        verbose=0,
    )
    return {
        "initial_step": skip,
        "epochs_run": len(history.history.get("loss", [])),
        "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "weights": [np.asarray(w).tolist() for w in model.get_weights()],
    }


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = train(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    print(json.dumps(result))
