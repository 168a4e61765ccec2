"""Converting into the name of a shipped preset: what must match, and its task head.

A shipped preset fixes the architecture and the vocabulary (sha256) its weights
must have; a shipped task preset also fixes the head (class, arguments, class
names in order) that the source's fine-tuned weights are put into.
"""

import json
import pathlib

import keras

from keras_bert_impl.convert.huggingface import assign_huggingface_tensors
from keras_bert_impl.convert.huggingface import backbone_config_from_huggingface
from keras_bert_impl.convert.huggingface import huggingface_labels
from keras_bert_impl.convert.huggingface import read_huggingface_checkpoint
from keras_bert_impl.convert.huggingface import task_class_of_checkpoint
from keras_bert_impl.convert.huggingface_writer import huggingface_tensors
from keras_bert_impl.convert.source_format import load_checkpoint
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_LABELS_KEY
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import run_preset_folder
from keras_bert_impl.utils.preset_files import shipped_presets_dir

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


def check_known_vocabulary(name, vocabulary_sha256, vocabulary_file):
    """The shipped preset's tokenizer.json and metadata.json, vocabulary checked."""
    shipped = shipped_presets_dir() / name
    tokenizer = read_json(shipped / TOKENIZER_CONFIG_FILE)
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
    metadata = read_json(shipped / METADATA_FILE)
    metadata.pop("weights_source", None)
    return tokenizer, metadata


def check_known_architecture(name, converted):
    """Raises unless `converted` (backbone arguments) has preset `name`'s shapes."""
    config = read_json(shipped_presets_dir() / name / CONFIG_FILE)["config"]
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


def shipped_task(name):
    """The shipped task.json of a known task preset (None for other outputs)."""
    path = shipped_presets_dir() / name / TASK_CONFIG_FILE if name else None
    return read_json(path) if path is not None and path.is_file() else None


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


def known_task_model(name, saved_task, source, source_format):
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
        source_model, source_labels = load_checkpoint(source, source_format)
        checkpoint = run_preset_folder(source)
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
    check_known_architecture(name, architecture)
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
