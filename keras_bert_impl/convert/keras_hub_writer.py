"""keras-hub BERT preset folders out, written without keras-hub.

The folder is what keras-hub's `KerasPresetSaver` writes (keras_hub
`src/utils/preset_utils.py`): `config.json` (the serialized
`keras_hub>BertBackbone`), `model.weights.h5` (Keras' HDF5 weights layout),
`metadata.json`, and with a tokenizer `tokenizer.json` plus
`assets/tokenizer/vocabulary.txt`, with a preprocessor `preprocessor.json`;
a `BertClassifier` adds `task.json` and `task.weights.h5` for keras-hub's
`BertTextClassifier`.
"""

import datetime
import pathlib

import keras
import numpy as np

from keras_bert_impl.convert.keras_hub import CONFIG_FILE
from keras_bert_impl.convert.keras_hub import H5_LAYERS
from keras_bert_impl.convert.keras_hub import TOKENIZER_CONFIG_FILE
from keras_bert_impl.convert.keras_hub import VOCABULARY_FILE
from keras_bert_impl.convert.keras_hub import WEIGHTS_FILE
from keras_bert_impl.convert.keras_hub import h5_block_layers
from keras_bert_impl.convert.keras_hub import h5_block_name
from keras_bert_impl.convert.keras_hub import keras_hub_name
from keras_bert_impl.convert.keras_hub import keras_hub_shape
from keras_bert_impl.convert.target_checks import attached_tokenizer
from keras_bert_impl.convert.target_checks import backbone_of
from keras_bert_impl.convert.target_checks import target_activation
from keras_bert_impl.convert.target_checks import write_vocabulary
from keras_bert_impl.convert.weight_map import backbone_weight_map
from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.bert_classifier import BertClassifier
from keras_bert_impl.utils.file_io import atomic_write
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.version import __version__

TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
METADATA_FILE = "metadata.json"
# keras-hub's BertBackbone runs the tanh GELU whatever it is given.
_ACTIVATIONS = {"gelu_approximate": None, "gelu": None}
# Our `truncate` names and keras-hub's: its round robin hands out the budget
# one token at a time, first segment first, which keeps the same tokens as
# the original's longest-first truncation.
_TRUNCATE = {"longest_first": "round_robin", "waterfall": "waterfall"}
_BERT_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def _serialized(module, class_name, config):
    """A config as `keras.saving.serialize_keras_object` writes keras-hub's."""
    return {
        "module": f"keras_hub.src.models.bert.{module}",
        "class_name": class_name,
        "config": config,
        "registered_name": f"keras_hub>{class_name}",
    }


def _dtype(name):
    return keras.dtype_policies.serialize(keras.DTypePolicy(name))


def backbone_config(backbone):
    """keras-hub's serialized `BertBackbone` of the same architecture."""
    return _serialized(
        "bert_backbone",
        "BertBackbone",
        {
            "name": "bert_backbone",
            "trainable": True,
            "dtype": keras.dtype_policies.serialize(backbone.dtype_policy),
            "vocabulary_size": backbone.vocabulary_size,
            "num_layers": backbone.num_layers,
            "num_heads": backbone.num_heads,
            "hidden_dim": backbone.hidden_dim,
            "intermediate_dim": backbone.intermediate_dim,
            "dropout": backbone.dropout,
            "max_sequence_length": backbone.max_sequence_length,
            "num_segments": backbone.num_segments,
        },
    )


def tokenizer_config(tokenizer):
    """keras-hub's serialized `BertTokenizer` (vocabulary in the assets)."""
    different = {
        name: getattr(tokenizer, name)
        for name, token in _BERT_SPECIAL_TOKENS.items()
        if getattr(tokenizer, name) != token
    }
    if different:
        raise ValueError(
            f"keras-hub's BertTokenizer fixes the special tokens to "
            f"{sorted(_BERT_SPECIAL_TOKENS.values())}; this tokenizer has {different}."
        )
    strip_accents = tokenizer.strip_accents
    return _serialized(
        "bert_tokenizer",
        "BertTokenizer",
        {
            "name": "bert_tokenizer",
            "trainable": True,
            "dtype": _dtype("int32"),
            "config_file": TOKENIZER_CONFIG_FILE,
            "vocabulary": None,
            "sequence_length": None,
            "lowercase": tokenizer.lowercase,
            # Ours follows `lowercase` when unset, as the original does.
            "strip_accents": tokenizer.lowercase
            if strip_accents is None
            else strip_accents,
            "split": True,
            "split_on_cjk": tokenizer.split_on_cjk,
            "suffix_indicator": tokenizer.suffix_indicator,
            "oov_token": tokenizer.unk_token,
            "special_tokens": None,
            "special_tokens_in_strings": False,
        },
    )


def preprocessor_config(preprocessor):
    """keras-hub's serialized `BertTextClassifierPreprocessor`."""
    return _serialized(
        "bert_text_classifier_preprocessor",
        "BertTextClassifierPreprocessor",
        {
            "name": "bert_text_classifier_preprocessor",
            "trainable": True,
            "dtype": _dtype("float32"),
            "tokenizer": tokenizer_config(preprocessor.tokenizer),
            "config_file": PREPROCESSOR_CONFIG_FILE,
            "sequence_length": preprocessor.sequence_length,
            "truncate": _TRUNCATE[preprocessor.truncate],
        },
    )


def classifier_config(classifier, preprocessor):
    """keras-hub's serialized `BertTextClassifier` (logits out, as ours)."""
    return _serialized(
        "bert_text_classifier",
        "BertTextClassifier",
        {
            "backbone": backbone_config(classifier.backbone),
            "preprocessor": None
            if preprocessor is None
            else preprocessor_config(preprocessor),
            "name": "bert_text_classifier",
            "num_classes": classifier.num_classes,
            "activation": "linear",
            "dropout": classifier.dropout,
        },
    )


def _value(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype="float32")


def _write_h5(path, groups):
    """Writes `{object path: [arrays in variable order]}` as Keras lays it out."""
    import h5py

    with atomic_write(path, mode="wb") as file, h5py.File(file, "w") as h5:
        for object_path, values in groups.items():
            group = h5.create_group(f"{object_path}/vars")
            for position, value in enumerate(values):
                group.create_dataset(str(position), data=value)


def backbone_h5_layers(backbone):
    """`model.weights.h5`'s content for keras-hub's `BertBackbone`."""
    tensors = {}
    for spec in backbone_weight_map(backbone):
        path = keras_hub_name(spec.google_name)
        shape = keras_hub_shape(path, tuple(spec.variable.shape), backbone.num_heads)
        tensors[path] = _value(spec.variable).reshape(shape)
    groups = {
        f"layers/{layer}": [tensors[path] for path in paths]
        for layer, paths in H5_LAYERS.items()
    }
    for index in range(backbone.num_layers):
        for sublayer, paths in h5_block_layers(index):
            block = f"layers/{h5_block_name(index)}/{sublayer}"
            groups[block] = [tensors[path] for path in paths]
    return groups


def _check_writable(model):
    if isinstance(model, BertBackbone):
        return
    if not isinstance(model, BertClassifier):
        raise ValueError(
            f"keras-hub has no BERT model for a {type(model).__name__}; pass a "
            "BertBackbone or BertClassifier (e.g. the model's .backbone)."
        )
    if model.feature_layers is not None:
        raise ValueError(
            "keras-hub's BertTextClassifier reads the pooled output; this "
            f"classifier reads feature_layers={model.feature_layers}."
        )


def to_keras_hub(model, folder, preprocessor=None):
    """Writes a keras-hub preset folder of a `BertBackbone` or `BertClassifier`.

    `keras_hub.models.BertBackbone.from_preset(folder)` (and, for a
    classifier, `keras_hub.models.BertTextClassifier.from_preset(folder)`)
    loads it with this model's outputs; keras-hub is not needed to write it.
    With a tokenizer (the model's preprocessor's, or `preprocessor`) the
    folder also holds keras-hub's `BertTokenizer` and, given a
    `BertPreprocessor`, its `BertTextClassifierPreprocessor` of the same
    `sequence_length`. The folder is replaced atomically.

    keras-hub always runs the tanh GELU and LayerNorm epsilon 1e-12. A model
    with `activation="gelu_approximate"` gives keras-hub outputs within 1e-5
    of ours; one with the exact `"gelu"` is written with an
    `ExactGeluWarning`: on the real all-MiniLM-L6-v2 weights keras-hub's
    sequence_output then differs by up to 3e-3 on real sentences (7e-3 on
    random tokens) and pooled_output by up to 4e-4. Other activations and
    epsilons are refused.

    Args:
        model: `BertBackbone` or `BertClassifier` (without `feature_layers`).
        folder: the preset folder to write.
        preprocessor: optional `BertPreprocessor` or `BertTokenizer` that
            replaces the model's own preprocessor.

    Returns:
        The folder, as a `pathlib.Path`.

    Example:
    ```python
    to_keras_hub(classifier, "hub_preset/")
    keras_hub.models.BertTextClassifier.from_preset("hub_preset/")
    ```
    """
    _check_writable(model)
    backbone = backbone_of(model)
    target_activation(backbone, "keras-hub's BertBackbone", _ACTIVATIONS)
    tokenizer = attached_tokenizer(model, preprocessor)
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    if tokenizer is None:
        preprocessor = None
    else:  # a tokenizer means TensorFlow is loaded already
        from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor

        if not isinstance(preprocessor, BertPreprocessor):
            preprocessor = None
    folder = pathlib.Path(folder)
    with staged_directory(folder) as staging:
        write_json(staging / CONFIG_FILE, backbone_config(backbone))
        _write_h5(staging / WEIGHTS_FILE, backbone_h5_layers(backbone))
        write_json(
            staging / METADATA_FILE,
            {
                "keras_version": keras.version(),
                "parameter_count": backbone.count_params(),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "converted_by": f"keras_bert_impl {__version__}",
            },
        )
        if tokenizer is not None:
            write_json(staging / TOKENIZER_CONFIG_FILE, tokenizer_config(tokenizer))
            write_vocabulary(staging / VOCABULARY_FILE, tokenizer)
        if preprocessor is not None:
            write_json(
                staging / PREPROCESSOR_CONFIG_FILE, preprocessor_config(preprocessor)
            )
        if isinstance(model, BertClassifier):
            write_json(
                staging / TASK_CONFIG_FILE, classifier_config(model, preprocessor)
            )
            _write_h5(staging / TASK_WEIGHTS_FILE, _classifier_h5_layers(model))
    return folder


def _classifier_h5_layers(classifier):
    """`task.weights.h5` of keras-hub's `BertTextClassifier`: its head.

    The task is compiled when keras-hub builds it; writing its (unbuilt)
    optimizer's two variables, as keras-hub's own save does, keeps Keras from
    warning that the optimizer was skipped.
    """
    dense = classifier.output_dense
    return {
        "layers/dense": [_value(dense.kernel), _value(dense.bias)],
        "optimizer": [
            np.asarray(0, "int64"),
            np.asarray(classifier.default_learning_rate, "float32"),
        ],
    }
