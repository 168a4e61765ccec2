"""`convert_to_preset`: any BERT checkpoint into a preset folder, atomically.

What `keras-bert convert --source DIR --preset NAME_OR_DIR` runs.
"""

import hashlib
import json
import os
import pathlib
import warnings

from keras_bert_impl import __version__
from keras_bert_impl.convert.google_checkpoint import find_google_checkpoint
from keras_bert_impl.convert.google_checkpoint import from_google_checkpoint
from keras_bert_impl.convert.huggingface import from_huggingface
from keras_bert_impl.convert.keras_hub import VOCABULARY_FILE as KERAS_HUB_VOCABULARY
from keras_bert_impl.convert.keras_hub import from_keras_hub
from keras_bert_impl.models.bert_pretrainer import BertPretrainer
from keras_bert_impl.models.preset_mixin import BACKBONE_WEIGHTS_FILE
from keras_bert_impl.models.preset_mixin import CONFIG_FILE
from keras_bert_impl.models.preset_mixin import METADATA_FILE
from keras_bert_impl.models.preset_mixin import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.models.preset_mixin import TASK_WEIGHTS_FILE
from keras_bert_impl.models.preset_mixin import TOKENIZER_CONFIG_FILE
from keras_bert_impl.models.preset_mixin import VOCABULARY_FILE
from keras_bert_impl.models.preset_mixin import _read_json
from keras_bert_impl.models.preset_mixin import _write_json
from keras_bert_impl.models.preset_mixin import presets_home
from keras_bert_impl.models.preset_mixin import shipped_presets_dir
from keras_bert_impl.models.preset_mixin import staged_directory
from keras_bert_impl.presets import file_sha256
from keras_bert_impl.presets import read_vocabulary_tokens

SOURCE_FORMATS = ("google", "huggingface", "keras_hub")
# Config entries that fix the shapes of the weights: a known preset's must match.
ARCHITECTURE_KEYS = (
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "max_sequence_length",
    "num_segments",
)


def detect_source_format(source):
    """`"google"`, `"huggingface"` or `"keras_hub"` for a checkpoint folder.

    Args:
        source: a folder (or, for Google checkpoints, a checkpoint prefix).
    """
    path = pathlib.Path(source).expanduser()
    if not path.is_dir():
        if pathlib.Path(f"{path}.index").is_file():
            return "google"
        raise FileNotFoundError(f"{path} is neither a folder nor a TF checkpoint.")
    config_file = path / "config.json"
    if config_file.is_file():
        config = _read_json(config_file)
        if "class_name" in config and "keras_hub" in json.dumps(
            [config.get("module"), config.get("registered_name")]
        ):
            return "keras_hub"
        weights = ("model.safetensors", "pytorch_model.bin")
        if "model_type" in config or any((path / w).is_file() for w in weights):
            return "huggingface"
    if (path / "bert_config.json").is_file() or any(path.glob("*.index")):
        return "google"
    raise ValueError(
        f"Cannot tell which checkpoint format {path} holds: expected a Google TF1 "
        "release (bert_config.json + bert_model.ckpt.*), a Hugging Face folder "
        "(config.json + model.safetensors) or a keras-hub preset (config.json + "
        "model.weights.h5). Pass source_format= to say which."
    )


def _source_vocabulary(source, source_format):
    """The source's vocabulary file, its lowercase flag if it says, and the tokens."""
    path = pathlib.Path(source).expanduser()
    folder = path if path.is_dir() else path.parent
    if source_format == "google":
        vocabulary = find_google_checkpoint(path)[2] if path.is_dir() else None
        vocabulary = vocabulary or folder / VOCABULARY_FILE
        return vocabulary, None
    if source_format == "keras_hub":
        tokenizer_file = folder / "tokenizer.json"
        lowercase = None
        if tokenizer_file.is_file():
            lowercase = _read_json(tokenizer_file).get("config", {}).get("lowercase")
        return folder / KERAS_HUB_VOCABULARY, lowercase
    lowercase = None
    if (folder / "tokenizer_config.json").is_file():
        lowercase = _read_json(folder / "tokenizer_config.json").get("do_lower_case")
    return folder / VOCABULARY_FILE, lowercase


def _tokens_from_huggingface_tokenizer_json(path):
    model = _read_json(path).get("model", {})
    if model.get("type") != "WordPiece":
        return None
    vocabulary = model["vocab"]
    return [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]


def _guess_lowercase(tokens):
    # An uncased vocabulary holds no upper-case letter outside "[SPECIAL]" tokens.
    return not any(
        character.isupper()
        for token in tokens
        if not (token.startswith("[") and token.endswith("]"))
        for character in token
    )


def _output_location(output):
    """`(directory, known preset name or None)` for a preset name or a directory."""
    text = os.fspath(output)
    is_path = (
        os.sep in text
        or "/" in text
        or text.startswith((".", "~"))
        or pathlib.Path(text).is_absolute()
    )
    if is_path:
        return pathlib.Path(text).expanduser().absolute(), None
    shipped = shipped_presets_dir() / text
    return presets_home() / text, text if (shipped / CONFIG_FILE).is_file() else None


def _read_vocabulary(source, source_format, vocabulary):
    """`(file, tokens, bytes, lowercase)` of the source's (or the given) vocabulary.

    Hugging Face folders without `vocab.txt` give their `tokenizer.json`'s
    WordPiece vocabulary. Everything is `None` when there is no vocabulary.
    """
    source_file, source_lowercase = _source_vocabulary(source, source_format)
    file = pathlib.Path(vocabulary or source_file).expanduser()
    if file.is_file():
        data = file.read_bytes()
        return file, read_vocabulary_tokens(file), data, source_lowercase
    if vocabulary is not None:
        raise FileNotFoundError(f"Vocabulary {file} does not exist.")
    tokenizer_json = file.parent / "tokenizer.json"
    if source_format == "huggingface" and tokenizer_json.is_file():
        tokens = _tokens_from_huggingface_tokenizer_json(tokenizer_json)
        if tokens is not None:
            data = "".join(f"{token}\n" for token in tokens).encode("utf-8")
            return tokenizer_json, tokens, data, source_lowercase
    return file, None, None, source_lowercase


def _check_known_vocabulary(name, vocabulary_sha256, vocabulary_file):
    """The shipped preset's tokenizer.json and metadata.json, vocabulary checked."""
    shipped = shipped_presets_dir() / name
    tokenizer = _read_json(shipped / TOKENIZER_CONFIG_FILE)
    expected = tokenizer.get("vocabulary_sha256")
    if vocabulary_sha256 is None:
        raise FileNotFoundError(
            f"Preset '{name}' needs its vocabulary (sha256 {expected}); the source "
            f"has none ({vocabulary_file} does not exist). Pass vocabulary=..."
        )
    if expected and vocabulary_sha256 != expected:
        raise ValueError(
            f"Vocabulary {vocabulary_file} does not belong to preset '{name}': its "
            f"sha256 is {vocabulary_sha256}, the preset's is {expected} "
            f"({tokenizer.get('vocabulary_size')} tokens). Convert into another "
            "name or a directory, or use the checkpoint's own vocab.txt."
        )
    tokenizer.pop("vocabulary_source", None)
    metadata = _read_json(shipped / METADATA_FILE)
    metadata.pop("weights_source", None)
    return tokenizer, metadata


def _check_known_architecture(name, backbone):
    config = _read_json(shipped_presets_dir() / name / CONFIG_FILE)["config"]
    converted = backbone.get_config()
    differences = [
        f"{key}: checkpoint {converted[key]}, preset {config[key]}"
        for key in ARCHITECTURE_KEYS
        if converted[key] != config[key]
    ]
    if differences:
        raise ValueError(
            f"The checkpoint does not have the architecture of preset '{name}' ("
            + "; ".join(differences)
            + "). Convert it into another name or a directory instead."
        )


def convert_to_preset(
    source,
    output,
    source_format="auto",
    vocabulary=None,
    lowercase=None,
    with_heads="auto",
):
    """Converts a BERT checkpoint into a preset folder that `from_preset` loads.

    Detects the format, converts every tensor (checked by name and shape),
    and writes `config.json`, the weights (`model.weights.h5`, or `task.json` +
    `task.weights.h5` when the masked-LM/NSP heads are present), `vocab.txt`,
    `tokenizer.json`, `metadata.json` (parameter count, source, sha256 of the
    weights) and `preprocessor.json` into a temporary folder, then renames it
    into place: a failure never leaves a partial preset behind. Converting into
    the name of a shipped preset also checks the architecture and that the
    vocabulary's sha256 is the preset's.

    Args:
        source: a Google TF1 release folder (or checkpoint prefix), a Hugging
            Face BERT folder or a keras-hub BERT preset folder.
        output: a preset name (written to `$KERAS_BERT_HOME/<name>`, default
            `~/.keras/keras_bert_impl/<name>`) or a directory path (anything
            with a path separator, or starting with "." or "~").
        source_format: `"auto"`, `"google"`, `"huggingface"` or `"keras_hub"`.
        vocabulary: path of the `vocab.txt` when the source has none.
        lowercase: whether the tokenizer lower-cases; default: the shipped
            preset's setting, else the source's tokenizer config, else guessed
            from the vocabulary (no upper-case tokens means uncased).
        with_heads: passed to the converter: `"auto"` keeps the pretraining
            heads when the checkpoint has them.

    Returns:
        The preset directory (a `pathlib.Path`).

    Example:
    ```python
    convert_to_preset("uncased_L-12_H-768_A-12/", "bert_base_en_uncased")
    backbone = BertBackbone.from_preset("bert_base_en_uncased")
    convert_to_preset("hf_bert/", "./my_preset")
    ```
    """
    if source_format == "auto":
        source_format = detect_source_format(source)
    if source_format not in SOURCE_FORMATS:
        raise ValueError(
            f"Unknown source_format {source_format!r}; expected 'auto' or one of "
            f"{SOURCE_FORMATS}."
        )
    target, known_name = _output_location(output)

    vocabulary_file, tokens, vocabulary_bytes, source_lowercase = _read_vocabulary(
        source, source_format, vocabulary
    )
    vocabulary_sha256 = None
    if vocabulary_bytes is not None:
        vocabulary_sha256 = hashlib.sha256(vocabulary_bytes).hexdigest()
    metadata = {}
    tokenizer = None
    if known_name is not None:
        # Checked before converting: a wrong vocabulary fails fast.
        tokenizer, metadata = _check_known_vocabulary(
            known_name, vocabulary_sha256, vocabulary_file
        )

    if source_format == "google":
        model = from_google_checkpoint(source, with_heads=with_heads)
    elif source_format == "huggingface":
        model = from_huggingface(source, with_heads=with_heads)
    else:
        model = from_keras_hub(source)
    backbone = model.backbone if isinstance(model, BertPretrainer) else model
    if known_name is not None:
        _check_known_architecture(known_name, backbone)
    if tokens is not None and len(tokens) > backbone.vocabulary_size:
        raise ValueError(
            f"Vocabulary {vocabulary_file} has {len(tokens)} tokens, more than the "
            f"model's {backbone.vocabulary_size} token embeddings."
        )
    if known_name is None and tokens is not None:
        tokenizer = {
            "vocabulary_file": VOCABULARY_FILE,
            "vocabulary_sha256": vocabulary_sha256,
            "vocabulary_size": len(tokens),
            "vocabulary_bytes": len(vocabulary_bytes),
            "lowercase": None,
            "strip_accents": None,
        }
    if tokenizer is not None:
        if lowercase is not None:
            tokenizer["lowercase"] = bool(lowercase)
        elif tokenizer["lowercase"] is None:
            tokenizer["lowercase"] = (
                source_lowercase
                if source_lowercase is not None
                else _guess_lowercase(tokens)
            )

    with staged_directory(target) as staging:
        model._write_preset_files(staging)
        weights_file = staging / (
            TASK_WEIGHTS_FILE
            if isinstance(model, BertPretrainer)
            else BACKBONE_WEIGHTS_FILE
        )
        if tokenizer is not None:
            (staging / VOCABULARY_FILE).write_bytes(vocabulary_bytes)
            _write_json(staging / TOKENIZER_CONFIG_FILE, tokenizer)
            preprocessor = _preprocessor_config(tokens, tokenizer)
            if preprocessor is not None:
                _write_json(staging / PREPROCESSOR_CONFIG_FILE, preprocessor)
        metadata.update(
            {
                "name": known_name or target.name,
                "parameter_count": backbone.count_params(),
                "weights": {
                    "file": weights_file.name,
                    "bytes": weights_file.stat().st_size,
                    "sha256": file_sha256(weights_file),
                },
                "converted_from": {
                    "format": source_format,
                    "path": str(pathlib.Path(source).expanduser().resolve()),
                    "activation": backbone.activation,
                    "pretraining_heads": isinstance(model, BertPretrainer),
                },
                "converted_with": f"keras_bert_impl {__version__}",
            }
        )
        metadata.setdefault("license", "unknown (see the source checkpoint)")
        if known_name is None:
            metadata["convert_command"] = (
                f"keras-bert convert --source {metadata['converted_from']['path']} "
                f"--preset {target}"
            )
        _write_json(staging / METADATA_FILE, metadata)
    return target


def _preprocessor_config(tokens, tokenizer):
    """The serialized `BertPreprocessor` of the preset (None if unavailable)."""
    try:
        from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor
        from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
    except ImportError:
        return None
    import keras

    try:
        word_piece = BertTokenizer(
            tokens,
            lowercase=tokenizer["lowercase"],
            strip_accents=tokenizer.get("strip_accents"),
        )
    except ValueError as error:  # e.g. a vocabulary without "[MASK]".
        warnings.warn(
            f"No preprocessor.json written: the vocabulary does not make a "
            f"BertTokenizer ({error})",
            stacklevel=3,
        )
        return None
    return keras.saving.serialize_keras_object(BertPreprocessor(word_piece))
