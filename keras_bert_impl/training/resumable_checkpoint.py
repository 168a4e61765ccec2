import glob
import json
import os
import re
import warnings

import keras
import numpy as np

from keras_bert_impl.utils.remote_folder import remote_folder_of

_CHECKPOINT = re.compile(r"ckpt-(\d+)\.weights\.h5$")
_STATE_GROUP = "resume_state"


class ResumableCheckpoint(keras.callbacks.BackupAndRestore):
    """Periodic checkpoints that let a killed run continue to its planned step.

    `keras.callbacks.BackupAndRestore`'s contract (run the same command
    again after a crash and training picks up where it stopped), made exact
    for step-based runs. What Keras 3.15's `BackupAndRestore` does and why
    this subclass changes it:

    - It restores the weights, the optimizer (moments, step counter) and the
      *epoch*, but it restarts that epoch at its first batch: a run killed
      mid-epoch trains the finished part of the epoch again and ends past its
      planned step. Here the callback counts the global step, stops `fit` at
      the planned step (`num_train_steps`, or `epochs * steps_per_epoch`),
      and `initial_step` tells the caller how many batches to skip in its
      (deterministic) input pipeline, so the batches after a restart are
      exactly those an uninterrupted run would have seen.
    - It overwrites `latest.weights.h5` in place, so a kill during the write
      can leave no usable checkpoint; the JSON metadata is a second file, so
      a kill between the two leaves them disagreeing. Here each checkpoint
      is one file, `ckpt-STEP.weights.h5` (weights, optimizer state, and the
      step, epoch and dropout seed states as extra HDF5 data), written under
      a temporary name and renamed into place; the newest readable one is
      restored and the last `max_to_keep` are kept.
    - `Dropout`'s seed-generator state is not part of Keras' weights file, so
      after a restart Keras draws different dropout masks; it is saved and
      restored here, which makes a resumed run equal to an uninterrupted one.

    Use it with an input pipeline that repeats and is deterministic, skipping
    `initial_step` batches:

    ```python
    checkpoint = ResumableCheckpoint(run_dir / "checkpoints", save_freq=1000,
                                     num_train_steps=100_000)
    dataset = make_dataset(seed=0).repeat().skip(checkpoint.initial_step)
    model.fit(dataset, epochs=100, steps_per_epoch=1000, callbacks=[checkpoint])
    ```

    Steps count batches (`fit` steps; with gradient accumulation, several per
    parameter update). With `steps_per_execution=k`, Keras calls back every
    `k` batches, so `save_freq` and `num_train_steps` should be multiples of
    `k`. Paths are local (the rename is what makes a write atomic); in a
    run whose output folder is a URL (`remote_run_directory`) each checkpoint
    is uploaded once written, and an object appears whole or not at all. In a
    multi-process job every process restores from the same directory (the
    chief's; shared or copied) and writes into it only on the chief: the
    others pass a scratch `write_dir` (they must save too, as saving creates
    variables, a collective step under a multi-worker strategy).

    Args:
        backup_dir: str. Directory of the checkpoints.
        save_freq: int (every that many steps, counted globally: steps 1000,
            2000, ... also after a restart) or `"epoch"`.
        num_train_steps: int or `None`. The planned last step; `None` means
            `epochs * steps_per_epoch` of the `fit` call.
        max_to_keep: int or `None`. Checkpoints kept; `None` keeps all.
        delete_checkpoint: bool. Delete `backup_dir` when training ends
            (a later run of the same command then starts from scratch).
        write_dir: str or `None`. Where checkpoints are written (default
            `backup_dir`); a scratch folder on the processes of a job that
            are not its chief.

    Example:
    ```python
    checkpoint = ResumableCheckpoint("/tmp/run/checkpoints", save_freq=100)
    model.fit(x, y, epochs=3, callbacks=[checkpoint])
    ```
    """

    def __init__(
        self,
        backup_dir,
        save_freq="epoch",
        num_train_steps=None,
        max_to_keep=3,
        delete_checkpoint=False,
        write_dir=None,
    ):
        super().__init__(
            backup_dir=backup_dir,
            save_freq=save_freq,
            double_checkpoint=False,
            delete_checkpoint=delete_checkpoint,
        )
        if isinstance(save_freq, int) and save_freq < 1:
            raise ValueError(f"`save_freq` must be >= 1. Received: {save_freq}")
        if max_to_keep is not None and max_to_keep < 1:
            raise ValueError(f"`max_to_keep` must be >= 1. Received: {max_to_keep}")
        self.backup_dir = os.fspath(backup_dir)
        self.num_train_steps = num_train_steps
        self.max_to_keep = max_to_keep
        self.write_dir = os.fspath(write_dir or backup_dir)
        self._step = 0
        self._epoch = 0
        self._saved_step = 0
        self._last_batch = -1
        self._current_epoch = 0
        self._planned_steps = num_train_steps
        latest = self.latest_checkpoint(self.backup_dir)
        self.initial_step = latest[1] if latest else 0

    @staticmethod
    def latest_checkpoint(backup_dir):
        """`(path, step, epoch)` of the newest readable checkpoint, or `None`."""
        for path, _ in _checkpoints(backup_dir, newest_first=True):
            state = _read_state(path)
            if state is not None:
                return path, state["step"], state["epoch"]
        return None

    @property
    def step(self):
        """The global step (batches trained) as this callback counts it."""
        return self._step

    def on_train_begin(self, logs=None):
        model = self.model
        if not model.built:
            raise ValueError(
                "ResumableCheckpoint needs a built model: build it (or call it "
                "on a batch) before `fit()`."
            )
        self._planned_steps = self.num_train_steps
        epochs, steps = self.params.get("epochs"), self.params.get("steps")
        if self._planned_steps is None and epochs and steps:
            self._planned_steps = epochs * steps
        self._step, self._epoch, self._saved_step = 0, 0, 0
        stale = os.path.join(glob.escape(self.write_dir), ".tmp-*.weights.h5")
        for path in glob.glob(stale):
            os.remove(path)  # left by a process killed while writing
        state = self._restore_newest()
        if state is not None:
            self._step, self._epoch = state["step"], state["epoch"]
            self._saved_step = self._step
        self.initial_step = self._step
        if self._planned_steps is not None and self._step >= self._planned_steps:
            # Already done: make fit's epoch loop empty.
            model._initial_epoch = epochs
        elif self._step:
            model._initial_epoch = self._epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._last_batch = -1
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the last batch index of this call (steps_per_execution).
        self._step += batch - self._last_batch
        self._last_batch = batch
        steps = self.params.get("steps")
        # Epochs completed, counting this one when this was its last batch.
        self._epoch = self._current_epoch + int(bool(steps) and batch + 1 >= steps)
        done = self._planned_steps is not None and self._step >= self._planned_steps
        due = (
            isinstance(self.save_freq, int)
            and self._step // self.save_freq > self._saved_step // self.save_freq
        )
        if due or done:
            self._save_model()
        if done:
            # `self._model`, not `self.model`: no JAX state sync needed.
            self._model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.save_freq == "epoch" and self._saved_step != self._step:
            self._save_model()

    def on_train_end(self, logs=None):
        if self._saved_step != self._step:
            self._save_model()
        self._model._initial_epoch = None
        if self.write_dir == self.backup_dir:
            super().on_train_end(logs)

    def _save_model(self):
        model = self.model  # On JAX this syncs the training state back.
        os.makedirs(self.write_dir, exist_ok=True)
        path = os.path.join(self.write_dir, f"ckpt-{self._step}.weights.h5")
        temporary = os.path.join(
            self.write_dir, f".tmp-{os.getpid()}-ckpt-{self._step}.weights.h5"
        )
        model.save_weights(temporary, overwrite=True)
        _write_state(temporary, model, self._step, self._epoch)
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())  # complete on disk before it gets its name
        os.replace(temporary, path)
        metadata = os.path.join(self.write_dir, "training_metadata.json")
        with open(metadata + ".tmp", "w") as f:
            json.dump({"step": self._step, "epoch": self._epoch, "checkpoint": path}, f)
        os.replace(metadata + ".tmp", metadata)
        self._saved_step = self._step
        if self.max_to_keep:
            for old, _ in _checkpoints(self.write_dir, newest_first=True)[
                self.max_to_keep :
            ]:
                os.remove(old)
        # A run whose output folder is a URL uploads each checkpoint it writes.
        remote = remote_folder_of(self.write_dir)
        if remote is not None:
            remote.push()

    def restore_finished_run(self, model):
        """Loads the newest checkpoint into `model` without training.

        What a rerun of a finished run needs: `fit` has nothing left to do,
        yet the model must be the trained one before it is evaluated or saved.
        Returns the checkpoint's step (0 when there is none).
        """
        self.set_model(model)
        state = self._restore_newest()
        return state["step"] if state else 0

    def _restore_newest(self):
        """Restores the newest readable checkpoint; its state, or None."""
        for path, _ in _checkpoints(self.backup_dir, newest_first=True):
            state = _read_state(path)
            if state is None:
                continue
            try:
                self._restore(path)
            except (OSError, ValueError, KeyError) as error:
                warnings.warn(
                    f"ResumableCheckpoint: skipping unreadable {path}: {error}",
                    stacklevel=3,
                )
                continue
            return state
        return None

    def _restore(self, path):
        model = self.model
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(path)
        _restore_seed_states(path, model)


def _checkpoints(backup_dir, newest_first=False):
    found = []
    for path in glob.glob(os.path.join(glob.escape(backup_dir), "ckpt-*.weights.h5")):
        match = _CHECKPOINT.search(os.path.basename(path))
        if match:
            found.append((path, int(match.group(1))))
    return sorted(found, key=lambda item: item[1], reverse=newest_first)


def _seed_state_variables(model):
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _write_state(path, model, step, epoch):
    import h5py

    with h5py.File(path, "a") as f:
        group = f.require_group(_STATE_GROUP)
        group.attrs["step"] = int(step)
        group.attrs["epoch"] = int(epoch)
        seeds = group.require_group("seed_generators")
        for index, variable in enumerate(_seed_state_variables(model)):
            data = seeds.create_dataset(str(index), data=np.asarray(variable.numpy()))
            data.attrs["path"] = variable.path


def _read_state(path):
    import h5py

    try:
        with h5py.File(path, "r") as f:
            attrs = f[_STATE_GROUP].attrs
            return {"step": int(attrs["step"]), "epoch": int(attrs["epoch"])}
    except (OSError, KeyError):
        return None


def _restore_seed_states(path, model):
    import h5py

    variables = _seed_state_variables(model)
    with h5py.File(path, "r") as f:
        seeds = f[_STATE_GROUP]["seed_generators"]
        if len(seeds) != len(variables):
            warnings.warn(
                f"ResumableCheckpoint: {len(seeds)} saved dropout seed states "
                f"for {len(variables)} in the model; dropout masks will differ.",
                stacklevel=2,
            )
            return
        for index, variable in enumerate(variables):
            variable.assign(seeds[str(index)][()])
