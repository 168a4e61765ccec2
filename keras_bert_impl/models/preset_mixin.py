import difflib
import json
import os
import pathlib
import shutil
import tempfile

import keras

# Preset folders shipped with the project (`presets/` beside the package).
SHIPPED_PRESETS_DIR = pathlib.Path(__file__).resolve().parents[2] / "presets"
CONFIG_FILE = "config.json"
BACKBONE_WEIGHTS_FILE = "model.weights.h5"
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"


def presets_home():
    """The preset cache: `$KERAS_BERT_HOME`, default `~/.keras/keras_bert_impl`."""
    default = pathlib.Path.home() / ".keras" / "keras_bert_impl"
    return pathlib.Path(os.environ.get("KERAS_BERT_HOME", default))


def available_presets():
    """Names of the presets found in the shipped folder and the user's cache."""
    names = set()
    for root in (SHIPPED_PRESETS_DIR, presets_home()):
        if root.is_dir():
            names.update(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file())
    return sorted(names)


def resolve_preset(preset):
    """Maps a preset name or directory to the directory that holds its files.

    A preset found in the user's cache wins over the shipped folder of the same
    name: the cache is where converted weights are written.
    """
    path = pathlib.Path(os.path.expanduser(str(preset)))
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a preset folder: no {CONFIG_FILE}.")
        return path
    for root in (presets_home(), SHIPPED_PRESETS_DIR):
        if (root / str(preset) / CONFIG_FILE).is_file():
            return root / str(preset)
    close = difflib.get_close_matches(str(preset), available_presets(), n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown preset {preset!r}: not a directory and not a preset name.{hint} "
        f"Known presets: {', '.join(available_presets()) or 'none'}."
    )


def _read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _write_json(path, content):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=2, sort_keys=True)
        file.write("\n")


def load_serialized(path, **overrides):
    """Deserializes a Keras object from a JSON config file, with config overrides."""
    serialized = _read_json(path)
    serialized["config"].update(overrides)
    return keras.saving.deserialize_keras_object(serialized)


def load_weights_checked(model, weights_path, preset_dir):
    if not weights_path.is_file():
        raise FileNotFoundError(
            f"Preset {preset_dir} has no weights ({weights_path.name}). Convert a "
            "checkpoint into it with `keras-bert convert`, or pass load_weights=False "
            "to build the model untrained."
        )
    model.load_weights(str(weights_path))


class PresetMixin:
    """`from_preset` and `save_to_preset` for backbones and task models.

    A preset folder holds `config.json` (the backbone's serialized config) and
    either `model.weights.h5` (a backbone) or `task.json` + `task.weights.h5`
    (a whole task model, backbone included), plus `preprocessor.json` when a
    preprocessor was saved with it. Only JSON and HDF5 are read: loading a
    preset never executes code from it.
    """

    @classmethod
    def from_preset(cls, preset, load_weights=True, **overrides):
        """Builds the model a preset describes and (optionally) loads its weights.

        Args:
            preset: str. A preset name (`keras-bert presets` lists them) or a
                preset directory.
            load_weights: bool. False builds the architecture untrained.
            **overrides: backbone config overrides (e.g. `dropout=0.0`) for a
                backbone; task constructor arguments for a task model.
        """
        preset_dir = resolve_preset(preset)
        return cls._from_preset_dir(preset_dir, load_weights, **overrides)

    def save_to_preset(self, preset_dir):
        """Writes this model as a preset folder that `from_preset` loads back.

        Files are written to a temporary folder first and renamed into place,
        so an interrupted save never leaves a half-written preset behind.
        """
        preset_dir = pathlib.Path(preset_dir)
        preset_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(
            tempfile.mkdtemp(prefix=f".{preset_dir.name}.", dir=preset_dir.parent)
        )
        try:
            self._write_preset_files(staging)
            if preset_dir.exists():
                shutil.rmtree(preset_dir)
            os.replace(staging, preset_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return preset_dir


def backbone_from_preset_dir(preset_dir, load_weights=True, **overrides):
    """Builds the backbone of a preset folder, from a backbone or a task preset."""
    backbone = load_serialized(preset_dir / CONFIG_FILE, **overrides)
    if not load_weights:
        return backbone
    if (preset_dir / BACKBONE_WEIGHTS_FILE).is_file() or not (
        preset_dir / TASK_CONFIG_FILE
    ).is_file():
        load_weights_checked(backbone, preset_dir / BACKBONE_WEIGHTS_FILE, preset_dir)
        return backbone
    # A task preset stores its backbone's weights inside the task's weights.
    task = load_serialized(preset_dir / TASK_CONFIG_FILE)
    load_weights_checked(task, preset_dir / TASK_WEIGHTS_FILE, preset_dir)
    backbone.set_weights(task.backbone.get_weights())
    return backbone


def write_backbone_preset(backbone, preset_dir, include_weights=True):
    """Writes `config.json` and, unless a task's weights will hold them, the weights."""
    _write_json(preset_dir / CONFIG_FILE, keras.saving.serialize_keras_object(backbone))
    if include_weights:
        backbone.save_weights(str(preset_dir / BACKBONE_WEIGHTS_FILE))
