"""Training to a planned step, resuming where an interrupted run left off."""

import math


def fit_to_step(
    model, dataset, num_train_steps, steps_per_epoch, callbacks, verbose="auto"
):
    """Fits `model` until `num_train_steps`, skipping the batches already taken.

    `callbacks[0]` is the `ResumableCheckpoint` of `default_callbacks`: it has
    restored the newest checkpoint, and its `initial_step` says how far that
    run got. `dataset` repeats and is deterministic for its seed, so skipping
    `initial_step` batches continues the interrupted run's data order. A
    finished run trains no further: its newest checkpoint is loaded, so that
    what the caller evaluates and saves is the trained model.

    Returns:
        int: the global step reached.
    """
    checkpoint = callbacks[0]
    if checkpoint.initial_step < num_train_steps:
        model.fit(
            dataset.skip(checkpoint.initial_step),
            epochs=math.ceil(num_train_steps / steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,  # the pipelines shuffle (per seed); Keras cannot
        )
    else:
        checkpoint.restore_finished_run(model)
    return int(max(checkpoint.step, checkpoint.initial_step))
