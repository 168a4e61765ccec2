import json
import math
import os

import keras


class TrainingCurvesPlot(keras.callbacks.Callback):
    """Writes the loss and metric curves of a run as a PNG and a JSON file.

    Records the logs `fit` reports every `record_freq` steps (Keras' running
    means over the current epoch) and at every epoch end (including `val_`
    metrics), against the global step. At the end of training, and every
    `save_freq` steps when given, it writes `training_curves.json` and
    `training_curves.png` into `output_dir`: one panel of the losses, one of
    the accuracy-type metrics (every other metric), with epoch-end values as
    markers. A resumed run (the optimizer's step restored by a checkpoint
    callback placed before this one) continues the curves of the JSON file
    already there, dropping points past the restored step.

    Matplotlib draws on an Agg canvas without pyplot; nothing opens a window.

    Args:
        output_dir: str. Where the two files go (created if needed).
        record_freq: int. Record the batch logs every that many steps.
        save_freq: int or `None`. Also write the files every that many steps.
        filename: str. Base name of the two files.

    Example:
    ```python
    model.fit(x, y, epochs=3, callbacks=[TrainingCurvesPlot("/tmp/run")])
    ```
    """

    def __init__(
        self, output_dir, record_freq=10, save_freq=None, filename="training_curves"
    ):
        super().__init__()
        if record_freq < 1:
            raise ValueError(f"`record_freq` must be >= 1. Received: {record_freq}")
        self.output_dir = os.fspath(output_dir)
        self.record_freq = record_freq
        self.save_freq = save_freq
        self.filename = filename
        self.history = {"train": [], "epoch": []}
        self._step = 0
        self._last_batch = -1

    @property
    def json_path(self):
        return os.path.join(self.output_dir, f"{self.filename}.json")

    @property
    def png_path(self):
        return os.path.join(self.output_dir, f"{self.filename}.png")

    def on_train_begin(self, logs=None):
        self._step = _optimizer_step(self.model)
        self.history = {"train": [], "epoch": []}
        if self._step and os.path.exists(self.json_path):
            with open(self.json_path) as f:
                previous = json.load(f)
            for kind in self.history:
                self.history[kind] = [
                    r for r in previous.get(kind, []) if r["step"] <= self._step
                ]

    def on_epoch_begin(self, epoch, logs=None):
        self._last_batch = -1

    def on_train_batch_end(self, batch, logs=None):
        before = self._step
        self._step += batch - self._last_batch
        self._last_batch = batch
        if self._step // self.record_freq > before // self.record_freq:
            self.history["train"].append({"step": self._step, **_floats(logs)})
        if self.save_freq and self._step // self.save_freq > before // self.save_freq:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        record = {"step": self._step, "epoch": epoch + 1, **_floats(logs)}
        self.history["epoch"].append(record)

    def on_train_end(self, logs=None):
        self.save()

    def save(self):
        """Write the JSON file and the PNG now."""
        os.makedirs(self.output_dir, exist_ok=True)
        temporary = self.json_path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(self.history, f, indent=1)
        os.replace(temporary, self.json_path)
        plot_training_curves(self.history, self.png_path)


def plot_training_curves(history, path):
    """Draw `TrainingCurvesPlot`'s history (`{"train": [...], "epoch": [...]}`)."""
    # The object API with an Agg canvas: no pyplot state, never a window.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    train, epochs = history.get("train", []), history.get("epoch", [])
    names = []
    for record in train + epochs:
        for name in record:
            if name not in ("step", "epoch") and name not in names:
                names.append(name)
    losses = [n for n in names if "loss" in n]
    others = [n for n in names if "loss" not in n and n != "learning_rate"]
    panels = [("loss", losses)] + ([("metrics", others)] if others else [])
    figure = Figure(figsize=(6 * len(panels), 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)
    for axis, (title, panel_names) in zip(axes[0], panels):
        for name in panel_names:
            points = [(r["step"], r[name]) for r in train if _finite(r.get(name))]
            if points:
                axis.plot(*zip(*points), label=name)
            points = [(r["step"], r[name]) for r in epochs if _finite(r.get(name))]
            if points:
                axis.plot(*zip(*points), "o--", label=f"{name} (epoch end)")
        axis.set_xlabel("step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        if panel_names:
            axis.legend(fontsize="small")
    figure.tight_layout()
    temporary = path + ".tmp.png"
    figure.savefig(temporary, dpi=100)
    os.replace(temporary, path)


def _optimizer_step(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.built:
        return 0
    steps = int(keras.ops.convert_to_numpy(optimizer.iterations))
    return steps * (getattr(optimizer, "gradient_accumulation_steps", None) or 1)


def _floats(logs):
    values = {}
    for name, value in (logs or {}).items():
        try:
            values[name] = float(keras.ops.convert_to_numpy(value))
        except (TypeError, ValueError):
            continue
    return values


def _finite(value):
    return value is not None and math.isfinite(value)
