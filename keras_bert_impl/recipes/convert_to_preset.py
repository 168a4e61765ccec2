"""`convert_to_preset`: any BERT checkpoint into a preset folder, atomically.

What `keras-bert convert --source DIR --preset NAME_OR_DIR` runs.
"""

import hashlib
import json
import os
import pathlib
import warnings

import keras

from keras_bert_impl.convert.google_checkpoint import find_google_checkpoint
from keras_bert_impl.convert.google_checkpoint import from_google_checkpoint
from keras_bert_impl.convert.huggingface import assign_huggingface_tensors
from keras_bert_impl.convert.huggingface import backbone_config_from_huggingface
from keras_bert_impl.convert.huggingface import from_huggingface
from keras_bert_impl.convert.huggingface import huggingface_labels
from keras_bert_impl.convert.huggingface import huggingface_tensors
from keras_bert_impl.convert.huggingface import read_huggingface_checkpoint
from keras_bert_impl.convert.huggingface import task_class_of_checkpoint
from keras_bert_impl.convert.keras_hub import VOCABULARY_FILE as KERAS_HUB_VOCABULARY
from keras_bert_impl.convert.keras_hub import from_keras_hub
from keras_bert_impl.models.bert_pretrainer import BertPretrainer
from keras_bert_impl.models.bert_task import BertTask
from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.file_io import read_json as _read_json
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json as _write_json
from keras_bert_impl.utils.preset_files import BACKBONE_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_LABELS_KEY
from keras_bert_impl.utils.preset_files import TASK_RECIPE_KEY
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import presets_home
from keras_bert_impl.utils.preset_files import shipped_presets_dir
from keras_bert_impl.utils.preset_io import load_preset_model
from keras_bert_impl.utils.version import __version__
from keras_bert_impl.utils.vocabulary_file import (
    read_vocabulary as read_vocabulary_tokens,
)

SOURCE_FORMATS = ("google", "huggingface", "keras_hub", "keras_bert")
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
    config_file = _keras_bert_folder(path) / CONFIG_FILE
    if config_file.is_file():
        config = _read_json(config_file)
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


def _keras_bert_folder(source):
    """The preset folder of a keras-bert source (a finetune run: its `model/`)."""
    path = pathlib.Path(source).expanduser()
    run_model = path / RUN_MODEL_DIR
    return run_model if (run_model / CONFIG_FILE).is_file() else path


def _run_config(folder):
    """The run_config.json beside a finetune run's `model/` folder ({} elsewhere)."""
    path = folder.parent / RUN_CONFIG_FILE
    return _read_json(path) if folder.name == RUN_MODEL_DIR and path.is_file() else {}


def _source_vocabulary(source, source_format):
    """The source's vocabulary file, its lowercase flag if it says, and the tokens."""
    path = pathlib.Path(source).expanduser()
    folder = path if path.is_dir() else path.parent
    if source_format == "google":
        vocabulary = find_google_checkpoint(path)[2] if path.is_dir() else None
        vocabulary = vocabulary or folder / VOCABULARY_FILE
        return vocabulary, None
    if source_format == "keras_bert":
        folder = _keras_bert_folder(path)
        run_config = _run_config(folder)
        lowercase = run_config.get("lowercase")
        if lowercase is None and (folder / TOKENIZER_CONFIG_FILE).is_file():
            lowercase = _read_json(folder / TOKENIZER_CONFIG_FILE).get("lowercase")
        vocabulary = folder / VOCABULARY_FILE
        if not vocabulary.is_file() and run_config:
            vocabulary = folder.parent / VOCABULARY_FILE
        return vocabulary, lowercase
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


def _check_known_architecture(name, converted):
    """Raises unless `converted` (backbone arguments) has preset `name`'s shapes."""
    config = _read_json(shipped_presets_dir() / name / CONFIG_FILE)["config"]
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


def _shipped_task(name):
    """The shipped task.json of a known task preset (None for other outputs)."""
    path = shipped_presets_dir() / name / TASK_CONFIG_FILE if name else None
    return _read_json(path) if path is not None and path.is_file() else None


def _load_source(source, source_format, with_heads):
    """`(model, class names or None)` of a checkpoint, whichever heads it holds."""
    if source_format == "google":
        return from_google_checkpoint(source, with_heads=with_heads), None
    if source_format == "keras_hub":
        return from_keras_hub(source), None
    if source_format == "keras_bert":
        folder = _keras_bert_folder(source)
        model = load_preset_model(folder)
        labels = getattr(model, "labels", None)
        return model, labels or _run_config(folder).get("label_list")
    model = from_huggingface(source, with_heads=with_heads)
    config = _read_json(pathlib.Path(source).expanduser() / CONFIG_FILE)
    return model, huggingface_labels(config)


def _class_order(source_labels, preset_labels, source, name):
    """For each of the preset's classes, the source's index of it.

    None when either side names no classes or both list them in one order.
    """
    if not source_labels or not preset_labels:
        return None
    source_labels, preset_labels = list(source_labels), list(preset_labels)
    if source_labels == preset_labels:
        return None
    if sorted(source_labels) != sorted(preset_labels):
        raise ValueError(
            f"{source} classifies into {source_labels}; preset '{name}' into "
            f"{preset_labels}. Convert it into another name or a directory."
        )
    return [source_labels.index(label) for label in preset_labels]


def _known_task_model(name, saved_task, source, source_format):
    """The task model of a known task preset, filled from the source's weights.

    The head (class, arguments) is the shipped task.json's, the architecture
    the source's (checked against the preset's); every tensor is checked by
    name and shape, and a classifier's rows are put in the preset's class order.
    """
    if source_format == "huggingface":
        config, tensors, checkpoint = read_huggingface_checkpoint(
            pathlib.Path(source).expanduser()
        )
        architecture = backbone_config_from_huggingface(config)
        source_class = task_class_of_checkpoint(config, tensors, checkpoint)
        source_labels = huggingface_labels(config)
    elif source_format == "keras_bert":
        source_model, source_labels = _load_source(source, source_format, "auto")
        checkpoint = _keras_bert_folder(source)
        source_class = type(source_model)
    else:
        raise ValueError(
            f"Task preset '{name}' converts from a Hugging Face folder or a "
            "keras-bert preset (a `keras-bert finetune` run or its model/), not "
            f"from a {source_format} checkpoint ({source})."
        )
    expected = saved_task["class_name"]
    if source_class is None or source_class.__name__ != expected:
        found = f"a {source_class.__name__}" if source_class else "no fine-tuned"
        raise ValueError(
            f"{source} holds {found} head; preset '{name}' is a {expected}."
        )
    if source_format == "keras_bert":
        architecture = source_model.backbone.get_config()
        tensors = huggingface_tensors(source_model)
    _check_known_architecture(name, architecture)
    serialized = json.loads(json.dumps(saved_task))
    serialized["config"]["backbone"]["config"].update(architecture)
    task = keras.saving.deserialize_keras_object(serialized)
    preset_labels = saved_task.get(TASK_LABELS_KEY)
    assign_huggingface_tensors(
        task,
        tensors,
        checkpoint,
        class_order=_class_order(source_labels, preset_labels, source, name),
    )
    return task, preset_labels


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

    known_task = _shipped_task(known_name)
    if known_task is not None:
        model, labels = _known_task_model(known_name, known_task, source, source_format)
    else:
        model, labels = _load_source(source, source_format, with_heads)
    backbone = model.backbone if isinstance(model, BertTask) else model
    if known_name is not None and known_task is None:
        _check_known_architecture(known_name, backbone.get_config())
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

    # A fine-tuned head (not the pretraining heads) is the preset's model.
    is_task = isinstance(model, BertTask) and not isinstance(model, BertPretrainer)
    recipe = (known_task or {}).get(TASK_RECIPE_KEY)
    preprocessor = None
    if tokenizer is not None:
        sequence_length = (recipe or {}).get("max_seq_length")
        preprocessor = _preprocessor(tokens, tokenizer, sequence_length)
    if is_task:
        model.labels = labels
        if getattr(model, "preprocessor", None) is None:
            model.preprocessor = preprocessor

    with staged_directory(target) as staging:
        model._write_preset_files(staging)
        weights_file = staging / (
            TASK_WEIGHTS_FILE if isinstance(model, BertTask) else BACKBONE_WEIGHTS_FILE
        )
        if recipe is not None:
            task_file = staging / TASK_CONFIG_FILE
            _write_json(task_file, {**_read_json(task_file), TASK_RECIPE_KEY: recipe})
        if tokenizer is not None:
            (staging / VOCABULARY_FILE).write_bytes(vocabulary_bytes)
            _write_json(staging / TOKENIZER_CONFIG_FILE, tokenizer)
            if preprocessor is not None and not is_task:
                _write_json(
                    staging / PREPROCESSOR_CONFIG_FILE,
                    keras.saving.serialize_keras_object(preprocessor),
                )
        metadata.update(
            {
                "name": known_name or target.name,
                "parameter_count": (model if is_task else backbone).count_params(),
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
                    "task": type(model).__name__ if is_task else None,
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


def _preprocessor(tokens, tokenizer, sequence_length=None):
    """The preset's `BertPreprocessor` (None if the vocabulary makes none).

    Args:
        tokens: the vocabulary.
        tokenizer: the preset's tokenizer.json (`lowercase`, `strip_accents`).
        sequence_length: packed length; default `BertPreprocessor`'s.
    """
    try:
        from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor
        from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
    except ImportError:
        return None
    try:
        word_piece = BertTokenizer(
            tokens,
            lowercase=tokenizer["lowercase"],
            strip_accents=tokenizer.get("strip_accents"),
        )
    except ValueError as error:  # e.g. a vocabulary without "[MASK]".
        warnings.warn(
            f"No preprocessor written: the vocabulary does not make a "
            f"BertTokenizer ({error})",
            stacklevel=3,
        )
        return None
    if sequence_length is None:
        return BertPreprocessor(word_piece)
    return BertPreprocessor(word_piece, sequence_length=sequence_length)
