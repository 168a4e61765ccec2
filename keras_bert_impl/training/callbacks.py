"""`default_callbacks`: the callbacks of a pretraining or fine-tuning run."""

import os

import keras

from keras_bert_impl.training.resumable_checkpoint import ResumableCheckpoint
from keras_bert_impl.training.training_curves_plot import TrainingCurvesPlot


def default_callbacks(
    output_dir,
    save_checkpoints_steps=1000,
    num_train_steps=None,
    keep_checkpoints=3,
    log_every_steps=100,
    plot_every_steps=None,
    tensorboard=True,
    chief=True,
    log_dir=None,
):
    """Checkpoints to resume from, TensorBoard logs and training-curve plots.

    In `output_dir`:
    - `checkpoints/ckpt-STEP.weights.h5`: `ResumableCheckpoint` every
      `save_checkpoints_steps` steps and at the end (the last
      `keep_checkpoints` kept); running the same command again resumes.
    - `logs/`: `keras.callbacks.TensorBoard` (scalars every
      `log_every_steps` steps; no graph or histograms, which cost time).
    - `training_curves.png` / `.json`: `TrainingCurvesPlot`, recorded every
      `log_every_steps` steps and written at the end (and every
      `plot_every_steps` steps when given).

    The checkpoint callback comes first, so the others see the restored step.
    Its `initial_step` says how many batches to skip in the input pipeline:

    ```python
    callbacks = default_callbacks(run_dir, save_checkpoints_steps=1000,
                                  num_train_steps=100_000)
    dataset = dataset.repeat().skip(callbacks[0].initial_step)
    ```

    Args:
        output_dir: str. The run directory.
        save_checkpoints_steps: int. Steps between checkpoints.
        num_train_steps: int or `None`. Planned last step (see
            `ResumableCheckpoint`); `None` means epochs x steps per epoch.
        keep_checkpoints: int. Checkpoints kept.
        log_every_steps: int. TensorBoard and curve recording interval.
        plot_every_steps: int or `None`. Also redraw the curves this often.
        tensorboard: bool. Include the TensorBoard callback (needs
            `tensorflow`, on any backend).
        chief: bool. Whether this process writes checkpoints into
            `output_dir` (see `is_chief`); the others restore from there and
            write theirs into `log_dir`.
        log_dir: str or `None`. Where the logs and curves go (default
            `output_dir`; a scratch folder on the processes that are not the
            chief, see `process_log_dir`).

    Returns:
        A list of callbacks: `[ResumableCheckpoint, (TensorBoard,)
        TrainingCurvesPlot]`.
    """
    output_dir = os.fspath(output_dir)
    log_dir = os.fspath(log_dir or output_dir)
    callbacks = [
        ResumableCheckpoint(
            os.path.join(output_dir, "checkpoints"),
            save_freq=save_checkpoints_steps,
            num_train_steps=num_train_steps,
            max_to_keep=keep_checkpoints,
            write_dir=None if chief else os.path.join(log_dir, "checkpoints"),
        )
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=os.path.join(log_dir, "logs"),
                update_freq=log_every_steps,
                write_graph=False,
                profile_batch=0,
            )
        )
    callbacks.append(
        TrainingCurvesPlot(
            log_dir, record_freq=log_every_steps, save_freq=plot_every_steps
        )
    )
    return callbacks
