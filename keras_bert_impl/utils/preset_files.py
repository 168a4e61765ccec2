"""What a preset folder holds and where preset folders are.

A preset folder holds `config.json` (the backbone's serialized config) and
either `model.weights.h5` (a backbone) or `task.json` + `task.weights.h5` (a
whole task model, backbone included), plus `preprocessor.json` when a
preprocessor was saved with it, `tokenizer.json` + `vocab.txt` and
`metadata.json`. A training run directory keeps its final model as a preset
folder `model/` beside `run_config.json`.
"""

import difflib
import functools
import importlib.metadata
import os
import pathlib
import sys

from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.remote_inputs import local_copy

CONFIG_FILE = "config.json"
BACKBONE_WEIGHTS_FILE = "model.weights.h5"
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
# task.json entries beside the serialized task model: its class names, in
# class-id order, and the fine-tuning recipe it was (or is to be) trained with.
TASK_LABELS_KEY = "labels"
TASK_RECIPE_KEY = "fine_tuning"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
TOKENIZER_CONFIG_FILE = "tokenizer.json"
VOCABULARY_FILE = "vocab.txt"
# A training run directory keeps its final model as a preset folder `model/`;
# a fine-tuning run also writes `run_config.json` (task, labels, lengths) and
# its vocabulary beside it, so predict, export and convert need no preset.
RUN_MODEL_DIR = "model"
RUN_CONFIG_FILE = "run_config.json"
# Where setup.cfg's [options.data_files] installs the shipped presets.
INSTALLED_PRESETS_SUBDIR = ("share", "keras_bert_impl", "presets")


@functools.cache
def shipped_presets_dir():
    """The folder of the presets shipped with the project.

    In a source checkout (and an editable install) that is the top-level
    `presets/` beside the package. An installed wheel carries the same files as
    data files (setup.cfg `[options.data_files]`) under
    `<prefix>/share/keras_bert_impl/presets`; the distribution's file list says
    which prefix.
    """
    repository = pathlib.Path(__file__).resolve().parents[2]
    if (repository / "setup.cfg").is_file() and (repository / "presets").is_dir():
        return repository / "presets"
    try:
        files = importlib.metadata.distribution("keras_bert_impl").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        parts = pathlib.PurePosixPath(str(file)).parts
        for start in range(len(parts) - len(INSTALLED_PRESETS_SUBDIR)):
            if parts[start : start + 3] == INSTALLED_PRESETS_SUBDIR:
                located = pathlib.Path(file.locate()).resolve()
                depth = len(parts) - start - 3
                return located.parents[depth - 1]
    return pathlib.Path(sys.prefix).joinpath(*INSTALLED_PRESETS_SUBDIR)


def presets_home():
    """The preset cache: `$KERAS_BERT_HOME`, default `~/.keras/keras_bert_impl`."""
    default = pathlib.Path.home() / ".keras" / "keras_bert_impl"
    return pathlib.Path(os.environ.get("KERAS_BERT_HOME", default))


def available_presets():
    """Names of the presets found in the shipped folder and the user's cache."""
    names = set()
    for root in (shipped_presets_dir(), presets_home()):
        if root.is_dir():
            names.update(
                p.name
                for p in root.iterdir()
                if not p.name.startswith(".") and (p / CONFIG_FILE).is_file()
            )
    return sorted(names)


def resolve_preset(preset):
    """Maps a preset name or directory to the directory that holds its files.

    A preset found in the user's cache wins over the shipped folder of the same
    name: the cache is where converted weights are written. A URL
    (`gs://bucket/preset`) is read from its local copy (`local_copy`).
    """
    path = pathlib.Path(os.path.expanduser(str(local_copy(preset))))
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a preset folder: no {CONFIG_FILE}.")
        return path
    for root in (presets_home(), shipped_presets_dir()):
        if (root / str(preset) / CONFIG_FILE).is_file():
            return root / str(preset)
    close = difflib.get_close_matches(str(preset), available_presets(), n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown preset {preset!r}: not a directory and not a preset name.{hint} "
        f"Known presets: {', '.join(available_presets()) or 'none'}."
    )


def run_preset_folder(path):
    """The preset folder of a path: a training run's `model/`, else the path itself."""
    path = pathlib.Path(path).expanduser()
    run_model = path / RUN_MODEL_DIR
    return run_model if (run_model / CONFIG_FILE).is_file() else path


def read_metadata(preset_dir):
    """The preset's `metadata.json` as a dict (empty when the file is absent)."""
    path = pathlib.Path(preset_dir) / METADATA_FILE
    return read_json(path) if path.is_file() else {}


def convert_command(preset_dir):
    """The one command that writes a preset's weights into the cache."""
    metadata = read_metadata(preset_dir)
    if metadata.get("convert_command"):
        return metadata["convert_command"]
    return (
        "keras-bert convert --source PATH/TO/CHECKPOINT "
        f"--preset {pathlib.Path(preset_dir).name}"
    )
