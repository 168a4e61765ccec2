import json
import os
import pathlib
import signal
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from keras_bert_impl.training.resumable_checkpoint import ResumableCheckpoint
from tests.training import resume_script

SCRIPT = pathlib.Path(resume_script.__file__)
ROOT = SCRIPT.parents[2]


def _start(run_dir, mode, kill_at):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(run_dir), mode, str(kill_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _finish(process, killed):
    stdout, stderr = process.communicate(timeout=300)
    if killed:
        assert process.returncode == -signal.SIGKILL, stderr[-3000:]
        return None
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both callbacks: SIGKILL after step 17 (mid-epoch 1), then the same command.

    The four subprocesses run two at a time; the uninterrupted reference runs
    in this process meanwhile.
    """
    root = tmp_path_factory.mktemp("resume")
    killed = [_start(root / mode, mode, kill_at=17) for mode in ("ours", "keras")]
    reference = resume_script.train(str(root / "reference"))
    for process in killed:
        _finish(process, killed=True)
    listing = {
        mode: sorted(os.listdir(root / mode / "backup")) for mode in ("ours", "keras")
    }
    with open(root / "keras" / "backup" / "training_metadata.json") as f:
        keras_metadata = json.load(f)
    restarted = [_start(root / mode, mode, kill_at=-1) for mode in ("ours", "keras")]
    ours, keras_resumed = (_finish(p, killed=False) for p in restarted)
    return {
        "root": root,
        "reference": reference,
        "listing": listing,
        "keras_metadata": keras_metadata,
        "ours": ours,
        "keras": keras_resumed,
    }


def _assert_same_weights(actual, expected):
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(np.array(a), np.array(e))


def test_sigkilled_run_resumes_and_ends_at_planned_step(runs):
    reference = runs["reference"]
    assert reference["iterations"] == resume_script.PLANNED_STEPS
    # The last checkpoint before the kill is step 16, in the middle of epoch 1.
    assert "ckpt-16.weights.h5" in runs["listing"]["ours"]
    assert "ckpt-20.weights.h5" not in runs["listing"]["ours"]
    resumed = runs["ours"]
    assert resumed["initial_step"] == 16
    assert resumed["iterations"] == resume_script.PLANNED_STEPS
    # Same batches (the pipeline skips 16), same optimizer state, same dropout
    # masks (seed states restored): bit-identical to the uninterrupted run.
    _assert_same_weights(resumed["weights"], reference["weights"])

    # Running the finished command again trains nothing.
    again = resume_script.train(str(runs["root"] / "ours"))
    assert again["initial_step"] == again["iterations"] == resume_script.PLANNED_STEPS
    assert again["epochs_run"] == 0
    _assert_same_weights(again["weights"], reference["weights"])


def test_keras_backup_and_restore_restarts_the_epoch(runs):
    # Pins the Keras 3 behaviour ResumableCheckpoint exists for: weights,
    # optimizer state and epoch come back, but the interrupted epoch starts
    # again at batch 0, so the run overshoots its 30 planned steps.
    assert runs["keras_metadata"] == {"epoch": 1, "batch": 5}
    assert runs["listing"]["keras"] == ["latest.weights.h5", "training_metadata.json"]
    resumed = runs["keras"]
    assert resumed["epochs_run"] == 2
    assert resumed["iterations"] == 16 + 2 * resume_script.STEPS_PER_EPOCH


def _tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _fit(model, callback, epochs=2, steps=5):
    x = np.ones((steps * 2, 2), "float32")
    return model.fit(
        x, x[:, :1], batch_size=2, epochs=epochs, callbacks=[callback], verbose=0
    )


def test_keeps_last_checkpoints_and_records_state(tmp_path):
    checkpoint = ResumableCheckpoint(tmp_path, save_freq=3, max_to_keep=2)
    _fit(_tiny_model(), checkpoint)
    assert sorted(os.listdir(tmp_path)) == [
        "ckpt-10.weights.h5",
        "ckpt-9.weights.h5",
        "training_metadata.json",
    ]
    with h5py.File(tmp_path / "ckpt-9.weights.h5") as f:
        assert f["resume_state"].attrs["step"] == 9
        assert f["resume_state"].attrs["epoch"] == 1
        assert "optimizer" in f  # Keras' weights file carries the optimizer
    assert ResumableCheckpoint.latest_checkpoint(tmp_path)[1:] == (10, 2)
    with h5py.File(tmp_path / "ckpt-10.weights.h5") as f:
        assert f["resume_state"].attrs["epoch"] == 2


def test_unreadable_newest_checkpoint_falls_back(tmp_path):
    _fit(_tiny_model(), ResumableCheckpoint(tmp_path, save_freq=4, max_to_keep=None))
    (tmp_path / "ckpt-12.weights.h5").write_bytes(b"truncated")
    (tmp_path / ".tmp-1-ckpt-13.weights.h5").write_bytes(b"partial write")
    checkpoint = ResumableCheckpoint(tmp_path, save_freq=4, num_train_steps=14)
    assert checkpoint.initial_step == 10
    model = _tiny_model()
    _fit(model, checkpoint, epochs=3)  # restored at epoch 2, stops at step 14
    assert checkpoint.step == 14
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 14
    assert not (tmp_path / ".tmp-1-ckpt-13.weights.h5").exists()


def test_epoch_save_freq_and_validation(tmp_path):
    checkpoint = ResumableCheckpoint(tmp_path, save_freq="epoch")
    _fit(_tiny_model(), checkpoint, epochs=3, steps=2)
    assert ResumableCheckpoint.latest_checkpoint(tmp_path)[1:] == (6, 3)
    assert {p for p in os.listdir(tmp_path) if p.startswith("ckpt")} == {
        "ckpt-2.weights.h5",
        "ckpt-4.weights.h5",
        "ckpt-6.weights.h5",
    }
    with pytest.raises(ValueError, match="save_freq"):
        ResumableCheckpoint(tmp_path, save_freq=0)
