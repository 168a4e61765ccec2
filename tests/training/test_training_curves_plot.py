import json

import keras
import numpy as np

from keras_bert_impl.training.callbacks import default_callbacks
from keras_bert_impl.training.resumable_checkpoint import ResumableCheckpoint
from keras_bert_impl.training.training_curves_plot import TrainingCurvesPlot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _model():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="classifier")]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def test_writes_png_and_json_with_steps(tmp_path):
    x, y = _data()
    plot = TrainingCurvesPlot(tmp_path, record_freq=2, save_freq=3)
    _model().fit(
        x,
        y,
        batch_size=4,
        epochs=2,
        validation_data=(x, y),
        callbacks=[plot],
        verbose=0,
    )
    assert (tmp_path / "training_curves.png").read_bytes()[:8] == PNG_MAGIC
    history = json.loads((tmp_path / "training_curves.json").read_text())
    assert [r["step"] for r in history["train"]] == [2, 4, 6, 8]
    assert {"loss", "sparse_categorical_accuracy"} <= set(history["train"][0])
    assert [(r["step"], r["epoch"]) for r in history["epoch"]] == [(4, 1), (8, 2)]
    assert "val_loss" in history["epoch"][0]


def test_resumed_run_continues_the_curves(tmp_path):
    x, y = _data()

    def fit(epochs):
        model = _model()
        callbacks = [
            ResumableCheckpoint(tmp_path / "checkpoints", save_freq=4),
            TrainingCurvesPlot(tmp_path, record_freq=1),
        ]
        model.fit(x, y, batch_size=4, epochs=epochs, callbacks=callbacks, verbose=0)
        return json.loads((tmp_path / "training_curves.json").read_text())

    fit(epochs=1)
    history = fit(epochs=2)  # restores step 4, trains steps 5..8
    assert [r["step"] for r in history["train"]] == list(range(1, 9))
    assert [r["epoch"] for r in history["epoch"]] == [1, 2]


def test_default_callbacks_write_checkpoints_logs_and_curves(tmp_path):
    x, y = _data()
    callbacks = default_callbacks(
        tmp_path, save_checkpoints_steps=3, log_every_steps=2, keep_checkpoints=2
    )
    assert [type(c).__name__ for c in callbacks] == [
        "ResumableCheckpoint",
        "TensorBoard",
        "TrainingCurvesPlot",
    ]
    assert callbacks[0].initial_step == 0
    _model().fit(x, y, batch_size=4, epochs=2, callbacks=callbacks, verbose=0)
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*")) == [
        "ckpt-6.weights.h5",
        "ckpt-8.weights.h5",
    ]
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert (tmp_path / "training_curves.png").read_bytes()[:8] == PNG_MAGIC
    assert default_callbacks(tmp_path, tensorboard=False)[0].initial_step == 8
