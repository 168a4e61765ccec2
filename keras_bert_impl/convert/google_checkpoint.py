"""Google's original BERT releases (TF1): bert_config.json + bert_model.ckpt.*.

The checkpoints of google-research/bert (`uncased_L-12_H-768_A-12.zip` and the
rest) are TF1 name-based checkpoints. `tf.train.load_checkpoint` reads them
without any TF1 graph code; every tensor is mapped through `weight_map` by its
original name (`bert/encoder/layer_N/...`, `cls/predictions/...`,
`cls/seq_relationship/...`).
"""

import json
import pathlib
import re

from keras_bert_impl.convert.weight_map import CheckpointMismatchError
from keras_bert_impl.convert.weight_map import assign_weights
from keras_bert_impl.convert.weight_map import backbone_arguments_from_bert_config
from keras_bert_impl.convert.weight_map import backbone_weight_map
from keras_bert_impl.convert.weight_map import build_converted_model
from keras_bert_impl.convert.weight_map import pretraining_heads_weight_map
from keras_bert_impl.models.bert_pretrainer import BertPretrainer

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
# The original code hard-codes LayerNorm's epsilon (tf.contrib layer_norm).
LAYER_NORM_EPSILON = 1e-12
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
        has_heads=any(name.startswith("cls/") for name in shapes),
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
