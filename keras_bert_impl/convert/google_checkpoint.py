"""Google's original BERT releases (TF1), in and out.

A release folder holds bert_config.json, bert_model.ckpt.* and vocab.txt.

The checkpoints of google-research/bert (`uncased_L-12_H-768_A-12.zip` and the
rest) are TF1 name-based checkpoints. `tf.train.load_checkpoint` reads them
without any TF1 graph code, and `tf.raw_ops.SaveV2` writes them; every tensor
is mapped through `weight_map` by its original name (`bert/encoder/layer_N/...`,
`cls/predictions/...`, `cls/seq_relationship/...`).
"""

import json
import pathlib
import re

import keras
import numpy as np

from keras_bert_impl.convert.target_checks import LAYER_NORM_EPSILON
from keras_bert_impl.convert.target_checks import attached_tokenizer
from keras_bert_impl.convert.target_checks import backbone_of
from keras_bert_impl.convert.target_checks import target_activation
from keras_bert_impl.convert.target_checks import write_vocabulary
from keras_bert_impl.convert.weight_map import CheckpointMismatchError
from keras_bert_impl.convert.weight_map import assign_weights
from keras_bert_impl.convert.weight_map import backbone_arguments_from_bert_config
from keras_bert_impl.convert.weight_map import backbone_weight_map
from keras_bert_impl.convert.weight_map import build_converted_model
from keras_bert_impl.convert.weight_map import pretraining_heads_weight_map
from keras_bert_impl.convert.weight_map import task_head_weight_map
from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.bert_classifier import BertClassifier
from keras_bert_impl.models.bert_pretrainer import BertPretrainer
from keras_bert_impl.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json

CONFIG_FILE = "bert_config.json"
DEFAULT_CHECKPOINT_PREFIX = "bert_model.ckpt"
VOCABULARY_FILE = "vocab.txt"
# google-research/bert modeling.py `get_activation`: its "gelu" is the tanh
# approximation, which is our "gelu_approximate".
HIDDEN_ACT_TO_ACTIVATION = {
    "gelu": "gelu_approximate",
    "relu": "relu",
    "tanh": "tanh",
}
# Writing: our exact "gelu" has no name there; it becomes the tanh "gelu"
# with an ExactGeluWarning. (The original hard-codes LayerNorm epsilon 1e-12.)
ACTIVATION_TO_HIDDEN_ACT = {
    "gelu_approximate": "gelu",
    "gelu": "gelu",
    "relu": "relu",
    "tanh": "tanh",
}
_PRETRAINING_HEADS = ("cls/predictions/", "cls/seq_relationship/")
# Training state stored beside the weights; never part of the model.
_TRAINING_STATE = re.compile(r"(/adam_[mv]$|^global_step$|/Momentum$)")


def find_google_checkpoint(folder_or_prefix, bert_config_file=None):
    """Locates the config, checkpoint prefix and vocabulary of a TF1 release.

    Args:
        folder_or_prefix: the unzipped release folder (holding
            `bert_config.json`, `bert_model.ckpt.index`, `.data-*`, `vocab.txt`),
            a training output folder with a `checkpoint` file, or a checkpoint
            prefix such as `folder/bert_model.ckpt` or `folder/model.ckpt-1000`.
        bert_config_file: the config's path when it is not beside the
            checkpoint (e.g. a `run_pretraining` output folder).

    Returns:
        `(config_file, checkpoint_prefix, vocabulary_file or None)`.
    """
    import tensorflow as tf

    path = pathlib.Path(folder_or_prefix).expanduser()
    if path.is_dir():
        folder = path
        prefix = None
        if (folder / f"{DEFAULT_CHECKPOINT_PREFIX}.index").is_file():
            prefix = folder / DEFAULT_CHECKPOINT_PREFIX
        elif (folder / "checkpoint").is_file():
            latest = tf.train.latest_checkpoint(str(folder))
            prefix = pathlib.Path(latest) if latest else None
        if prefix is None:
            indexes = sorted(folder.glob("*.index"))
            if len(indexes) != 1:
                raise FileNotFoundError(
                    f"{folder} holds {len(indexes)} TF checkpoints (*.index files"
                    + (f": {', '.join(p.name for p in indexes)}" if indexes else "")
                    + "); pass the checkpoint prefix, e.g. "
                    f"{folder / DEFAULT_CHECKPOINT_PREFIX}."
                )
            prefix = indexes[0].with_suffix("")
    elif pathlib.Path(f"{path}.index").is_file():
        folder, prefix = path.parent, path
    else:
        raise FileNotFoundError(
            f"{path} is neither a folder nor a TF checkpoint prefix (no "
            f"{path.name}.index)."
        )
    config_file = (
        folder / CONFIG_FILE
        if bert_config_file is None
        else pathlib.Path(bert_config_file).expanduser()
    )
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{config_file} does not exist: not a Google BERT release folder "
            "(pass bert_config_file=... when the config lives elsewhere)."
        )
    vocabulary_file = folder / VOCABULARY_FILE
    return config_file, prefix, vocabulary_file if vocabulary_file.is_file() else None


def backbone_config_from_google(config):
    """Maps a `bert_config.json` dict to `BertBackbone` arguments."""
    return backbone_arguments_from_bert_config(
        config,
        HIDDEN_ACT_TO_ACTIVATION,
        CONFIG_FILE,
        default_num_segments=16,
        layer_norm_epsilon=LAYER_NORM_EPSILON,
    )


def _open_checkpoint(prefix):
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        return reader, reader.get_variable_to_shape_map()
    except Exception as error:  # tf.errors.* and ValueError, depending on damage.
        raise CheckpointMismatchError(
            f"{prefix} is not a readable TF checkpoint "
            f"({type(error).__name__}: {error})"
        ) from error


def from_google_checkpoint(
    folder_or_prefix,
    with_heads="auto",
    bert_config_file=None,
    dtype=None,
    **overrides,
):
    """Builds a model from one of Google's original TF1 BERT checkpoints.

    Reads `bert_config.json` and the `bert_model.ckpt` tensors with
    `tf.train.load_checkpoint` (no TF1 graph code runs), checks every tensor's
    name and shape, then assigns them. Google's code uses the tanh GELU, so the
    model gets `activation="gelu_approximate"`. Optimizer slots (`adam_m`,
    `adam_v`) and `global_step` are ignored; any other tensor the config does
    not account for (e.g. a 13th layer) is an error.

    Args:
        folder_or_prefix: an unzipped release folder such as
            `uncased_L-12_H-768_A-12/`, a `run_pretraining` output folder, or a
            checkpoint prefix (`.../model.ckpt-100000`).
        with_heads: `"auto"` returns a `BertPretrainer` (masked-LM + NSP heads
            loaded) when the checkpoint holds `cls/...`, else a `BertBackbone`;
            `True` requires the heads; `False` returns only the backbone.
        bert_config_file: path of the config when it is not beside the
            checkpoint.
        dtype: dtype policy of the built model.
        **overrides: `BertBackbone` arguments that replace the config's
            (e.g. `dropout=0.0`).

    Returns:
        A `BertBackbone` or `BertPretrainer` whose outputs match the original
        TF model's.

    Example:
    ```python
    pretrainer = from_google_checkpoint("uncased_L-12_H-768_A-12/")
    backbone = from_google_checkpoint(
        "uncased_L-12_H-768_A-12/bert_model.ckpt", with_heads=False
    )
    ```
    """
    config_file, prefix, _ = find_google_checkpoint(folder_or_prefix, bert_config_file)
    with open(config_file, encoding="utf-8") as file:
        config = json.load(file)
    reader, shapes = _open_checkpoint(prefix)

    model = build_converted_model(
        backbone_config_from_google(config),
        overrides,
        dtype,
        # run_squad.py's span layer (`cls/squad/...`) is no pretraining head.
        has_heads=any(name.startswith(_PRETRAINING_HEADS) for name in shapes),
        with_heads=with_heads,
        where=f"{prefix} (cls/predictions/*, cls/seq_relationship/*)",
    )
    backbone = model.backbone if isinstance(model, BertPretrainer) else model
    specs = backbone_weight_map(backbone)
    if isinstance(model, BertPretrainer):
        specs = specs + pretraining_heads_weight_map(model)

    expected = {spec.google_name for spec in specs}
    unexpected = sorted(
        name
        for name in shapes
        if name not in expected
        and not _TRAINING_STATE.search(name)
        and (
            name.startswith("bert/")
            or (isinstance(model, BertPretrainer) and name.startswith("cls/"))
        )
    )
    if unexpected:
        raise CheckpointMismatchError(
            f"{prefix} holds {len(unexpected)} tensor(s) that {config_file.name} "
            f"does not account for (does the config match the checkpoint?): "
            + ", ".join(f"{n} {tuple(shapes[n])}" for n in unexpected[:10])
            + (" ..." if len(unexpected) > 10 else "")
        )

    def lookup(name):
        if name not in shapes:
            return None
        try:
            return reader.get_tensor(name)
        except Exception as error:  # A damaged .data-* file fails here.
            raise CheckpointMismatchError(
                f"{prefix}: tensor {name!r} cannot be read "
                f"({type(error).__name__}: {error})"
            ) from error

    assign_weights(specs, lookup, "google", prefix)
    return model


def bert_config_from_backbone(backbone, hidden_act):
    """The original `bert_config.json` of a backbone's architecture.

    Hugging Face's `config.json` holds the same keys and more.
    """
    return {
        "attention_probs_dropout_prob": backbone.dropout,
        "hidden_act": hidden_act,
        "hidden_dropout_prob": backbone.dropout,
        "hidden_size": backbone.hidden_dim,
        "initializer_range": backbone.initializer_range,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "num_attention_heads": backbone.num_heads,
        "num_hidden_layers": backbone.num_layers,
        "type_vocab_size": backbone.num_segments,
        "vocab_size": backbone.vocabulary_size,
    }


def google_weight_map(model):
    """WeightSpecs of every variable the original scripts name.

    `run_pretraining.py` names the masked-LM and NSP heads `cls/...`,
    `run_classifier.py` its classifier `output_weights`/`output_bias`,
    `run_squad.py` its span layer `cls/squad/...`.
    """
    if isinstance(model, BertBackbone):
        return backbone_weight_map(model)
    specs = backbone_weight_map(model.backbone)
    if isinstance(model, BertPretrainer):
        return specs + pretraining_heads_weight_map(model)
    expressible = isinstance(model, (BertClassifier, BertQuestionAnswerer))
    if expressible and model.feature_layers is None:
        return specs + task_head_weight_map(model)
    raise ValueError(
        f"google-research/bert has no head for this {type(model).__name__}; "
        "pass a BertBackbone, BertPretrainer, BertClassifier or "
        "BertQuestionAnswerer (without feature_layers), e.g. the model's .backbone."
    )


def google_tensors(model):
    """Every weight of `model` under its original name, in the original layout."""
    tensors = {}
    for spec in google_weight_map(model):
        value = np.asarray(keras.ops.convert_to_numpy(spec.variable), "float32")
        tensors[spec.google_name] = value.T if spec.google_transposed else value
    return tensors


def to_google_checkpoint(model, folder, preprocessor=None):
    """Writes a model as one of Google's original TF1 BERT release folders.

    The folder holds `bert_config.json`, the TF1 name-based checkpoint
    `bert_model.ckpt.index` + `.data-00000-of-00001` under google-research/
    bert's variable names (`bert/...`; `cls/predictions/...` and
    `cls/seq_relationship/...` for a `BertPretrainer`; `run_classifier.py`'s
    `output_weights`/`output_bias` for a `BertClassifier`, `run_squad.py`'s
    `cls/squad/...` for a `BertQuestionAnswerer`) and, when a tokenizer is at
    hand, `vocab.txt`. `from_google_checkpoint` reads it back bit-identical.
    The folder is replaced atomically.

    The original code's `hidden_act: "gelu"` is the tanh approximation, our
    `"gelu_approximate"`. A model with the exact `"gelu"` is written with
    `"gelu"` and an `ExactGeluWarning` (the original has no exact GELU); on
    the real all-MiniLM-L6-v2 weights the tanh GELU moves sequence_output by
    up to 3e-3 on real sentences (7e-3 on random tokens) and pooled_output by
    up to 4e-4. Other activations the original lacks, and a LayerNorm epsilon
    other than its hard-coded 1e-12, are refused.

    Args:
        model: `BertBackbone`, `BertPretrainer`, `BertClassifier` or
            `BertQuestionAnswerer`.
        folder: the release folder to write.
        preprocessor: optional `BertPreprocessor` or `BertTokenizer` whose
            vocabulary becomes `vocab.txt` (default: the model's own).

    Returns:
        The checkpoint prefix, `folder/bert_model.ckpt`.

    Example:
    ```python
    to_google_checkpoint(pretrainer, "my_bert/")
    # google-research/bert's run_classifier.py then takes
    #   --bert_config_file=my_bert/bert_config.json --vocab_file=my_bert/vocab.txt
    #   --init_checkpoint=my_bert/bert_model.ckpt
    ```
    """
    import tensorflow as tf

    tensors = google_tensors(model)
    backbone = backbone_of(model)
    hidden_act = target_activation(
        backbone, "google-research/bert", ACTIVATION_TO_HIDDEN_ACT
    )
    tokenizer = attached_tokenizer(model, preprocessor)
    folder = pathlib.Path(folder)
    with staged_directory(folder) as staging:
        names = sorted(tensors)
        tf.raw_ops.SaveV2(
            prefix=str(staging / DEFAULT_CHECKPOINT_PREFIX),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(tensors[name]) for name in names],
        )
        write_json(
            staging / CONFIG_FILE, bert_config_from_backbone(backbone, hidden_act)
        )
        if tokenizer is not None:
            write_vocabulary(staging / VOCABULARY_FILE, tokenizer)
    return folder / DEFAULT_CHECKPOINT_PREFIX
