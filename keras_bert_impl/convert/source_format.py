"""Which checkpoint format a folder holds, what vocabulary it carries, and loading it.

The one place that knows the four layouts: a Google TF1 release, a Hugging Face
folder, a keras-hub preset and a keras-bert preset (or a `keras-bert finetune`
run, whose `model/` is one). `convert_to_preset` and `pretrain
--init_checkpoint` both load through `load_checkpoint`.
"""

import hashlib
import json
import pathlib

from keras_bert_impl.convert.google_checkpoint import find_google_checkpoint
from keras_bert_impl.convert.google_checkpoint import from_google_checkpoint
from keras_bert_impl.convert.huggingface import from_huggingface
from keras_bert_impl.convert.huggingface import huggingface_labels
from keras_bert_impl.convert.keras_hub import VOCABULARY_FILE as KERAS_HUB_VOCABULARY
from keras_bert_impl.convert.keras_hub import from_keras_hub
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import resolve_preset
from keras_bert_impl.utils.preset_files import run_preset_folder
from keras_bert_impl.utils.preset_io import load_preset_model
from keras_bert_impl.utils.vocabulary_file import read_vocabulary

SOURCE_FORMATS = ("google", "huggingface", "keras_hub", "keras_bert")


def detect_source_format(source):
    """`"google"`, `"huggingface"`, `"keras_hub"` or `"keras_bert"` for a folder.

    Args:
        source: a folder (or, for Google checkpoints, a checkpoint prefix).
    """
    path = pathlib.Path(source).expanduser()
    if not path.is_dir():
        if pathlib.Path(f"{path}.index").is_file():
            return "google"
        raise FileNotFoundError(f"{path} is neither a folder nor a TF checkpoint.")
    config_file = run_preset_folder(path) / CONFIG_FILE
    if config_file.is_file():
        config = read_json(config_file)
        registration = json.dumps([config.get("module"), config.get("registered_name")])
        if "class_name" in config and "keras_hub" in registration:
            return "keras_hub"
        if "class_name" in config and "keras_bert_impl" in registration:
            return "keras_bert"
        weights = ("model.safetensors", "pytorch_model.bin")
        if "model_type" in config or any((path / w).is_file() for w in weights):
            return "huggingface"
    if (path / "bert_config.json").is_file() or any(path.glob("*.index")):
        return "google"
    raise ValueError(
        f"Cannot tell which checkpoint format {path} holds: expected a Google TF1 "
        "release (bert_config.json + bert_model.ckpt.*), a Hugging Face folder "
        "(config.json + model.safetensors), a keras-hub preset (config.json + "
        "model.weights.h5) or a keras-bert preset or `keras-bert finetune` run "
        "(config.json + task.json + task.weights.h5, or model/ holding them). "
        "Pass source_format= to say which."
    )


def run_config_beside(folder):
    """The run_config.json beside a finetune run's `model/` folder ({} elsewhere)."""
    path = folder.parent / RUN_CONFIG_FILE
    return read_json(path) if folder.name == RUN_MODEL_DIR and path.is_file() else {}


def _vocabulary_location(source, source_format):
    """The source's vocabulary file and its lowercase flag (None: it does not say)."""
    path = pathlib.Path(source).expanduser()
    folder = path if path.is_dir() else path.parent
    if source_format == "google":
        vocabulary = find_google_checkpoint(path)[2] if path.is_dir() else None
        return vocabulary or folder / VOCABULARY_FILE, None
    if source_format == "keras_bert":
        folder = run_preset_folder(path)
        run_config = run_config_beside(folder)
        lowercase = run_config.get("lowercase")
        if lowercase is None and (folder / TOKENIZER_CONFIG_FILE).is_file():
            lowercase = read_json(folder / TOKENIZER_CONFIG_FILE).get("lowercase")
        vocabulary = folder / VOCABULARY_FILE
        if not vocabulary.is_file() and run_config:
            vocabulary = folder.parent / VOCABULARY_FILE
        return vocabulary, lowercase
    if source_format == "keras_hub":
        tokenizer_file = folder / "tokenizer.json"
        lowercase = None
        if tokenizer_file.is_file():
            lowercase = read_json(tokenizer_file).get("config", {}).get("lowercase")
        return folder / KERAS_HUB_VOCABULARY, lowercase
    lowercase = None
    if (folder / "tokenizer_config.json").is_file():
        lowercase = read_json(folder / "tokenizer_config.json").get("do_lower_case")
    return folder / VOCABULARY_FILE, lowercase


def _tokens_of_huggingface_tokenizer_json(path):
    model = read_json(path).get("model", {})
    if model.get("type") != "WordPiece":
        return None
    vocabulary = model["vocab"]
    return [token for token, _ in sorted(vocabulary.items(), key=lambda item: item[1])]


def guess_lowercase(tokens):
    """An uncased vocabulary holds no upper-case letter outside "[SPECIAL]" tokens."""
    return not any(
        character.isupper()
        for token in tokens
        if not (token.startswith("[") and token.endswith("]"))
        for character in token
    )


def converted_tokenizer_config(tokens, vocabulary_bytes, lowercase=None):
    """`tokenizer.json` of a preset converted from a checkpoint's vocabulary.

    Records the vocabulary's sha256, size and bytes, so that loading checks it
    as it checks a shipped preset's. `lowercase` None: guessed from the tokens.
    """
    return {
        "vocabulary_file": VOCABULARY_FILE,
        "vocabulary_sha256": hashlib.sha256(vocabulary_bytes).hexdigest(),
        "vocabulary_size": len(tokens),
        "vocabulary_bytes": len(vocabulary_bytes),
        "lowercase": guess_lowercase(tokens) if lowercase is None else bool(lowercase),
        "strip_accents": None,
    }


def read_source_vocabulary(source, source_format, vocabulary=None):
    """`(file, tokens, bytes, lowercase)` of the source's (or the given) vocabulary.

    Hugging Face folders without `vocab.txt` give their `tokenizer.json`'s
    WordPiece vocabulary. `lowercase` is None when the source does not say;
    tokens and bytes are None when there is no vocabulary.

    Args:
        source: the checkpoint folder (or Google checkpoint prefix).
        source_format: one of `SOURCE_FORMATS`.
        vocabulary: a `vocab.txt` to use instead of the source's.
    """
    source_file, lowercase = _vocabulary_location(source, source_format)
    file = pathlib.Path(vocabulary or source_file).expanduser()
    if file.is_file():
        return file, read_vocabulary(file), file.read_bytes(), lowercase
    if vocabulary is not None:
        raise FileNotFoundError(f"Vocabulary {file} does not exist.")
    tokenizer_json = file.parent / "tokenizer.json"
    if source_format == "huggingface" and tokenizer_json.is_file():
        tokens = _tokens_of_huggingface_tokenizer_json(tokenizer_json)
        if tokens is not None:
            data = "".join(f"{token}\n" for token in tokens).encode("utf-8")
            return tokenizer_json, tokens, data, lowercase
    return file, None, None, lowercase


def load_checkpoint(source, source_format="auto", with_heads="auto"):
    """The model a checkpoint holds, whichever format and heads, and its class names.

    Args:
        source: a Google TF1 release folder or checkpoint prefix, a Hugging
            Face folder, a keras-hub preset folder, a keras-bert preset folder
            or `keras-bert finetune`/`pretrain` run directory, or (with
            `source_format="auto"`) a preset name.
        source_format: `"auto"` or one of `SOURCE_FORMATS`.
        with_heads: Google and Hugging Face checkpoints: `"auto"` keeps the
            heads the checkpoint has, True requires the pretraining heads,
            False loads the backbone only.

    Returns:
        `(model, labels)`: a `BertBackbone`, `BertPretrainer` or fine-tuned
        task model, and the class names the checkpoint records (or None).
    """
    path = pathlib.Path(source).expanduser()
    if source_format == "auto":
        if not path.exists() and not pathlib.Path(f"{path}.index").is_file():
            # Not a path: a preset name (an unknown one fails naming close ones).
            path = resolve_preset(source)
        source_format = detect_source_format(path)
    if source_format not in SOURCE_FORMATS:
        raise ValueError(
            f"Unknown source_format {source_format!r}; expected 'auto' or one of "
            f"{SOURCE_FORMATS}."
        )
    if source_format == "google":
        return from_google_checkpoint(path, with_heads=with_heads), None
    if source_format == "keras_hub":
        return from_keras_hub(path), None
    if source_format == "keras_bert":
        folder = run_preset_folder(path)
        model = load_preset_model(folder)
        labels = getattr(model, "labels", None)
        return model, labels or run_config_beside(folder).get("label_list")
    model = from_huggingface(path, with_heads=with_heads)
    return model, huggingface_labels(read_json(path / CONFIG_FILE))
