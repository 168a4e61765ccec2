"""Hugging Face BERT folders in and out (config.json + safetensors / .bin)."""

import json
import pathlib

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
from keras_bert_impl.models.bert_token_classifier import BertTokenClassifier

# Hugging Face `hidden_act` names and ours.
HIDDEN_ACT_TO_ACTIVATION = {
    "gelu": "gelu",
    "gelu_python": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "gelu_fast": "gelu_approximate",
    "relu": "relu",
    "tanh": "tanh",
    "silu": "silu",
    "swish": "silu",
}
ACTIVATION_TO_HIDDEN_ACT = {
    "gelu": "gelu",
    "gelu_approximate": "gelu_pytorch_tanh",
    "relu": "relu",
    "tanh": "tanh",
    "silu": "silu",
}
# Prefixes under which `BertModel` weights appear in the various head classes.
BACKBONE_PREFIXES = ("", "bert.", "model.")


def backbone_config_from_huggingface(config):
    """Maps a Hugging Face `BertConfig` dict to `BertBackbone` arguments."""
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            "Only absolute position embeddings are BERT's; config.json has "
            f"position_embedding_type={config['position_embedding_type']!r}."
        )
    return backbone_arguments_from_bert_config(
        config,
        HIDDEN_ACT_TO_ACTIVATION,
        "config.json",
        default_num_segments=2,
        layer_norm_epsilon=config.get("layer_norm_eps", 1e-12),
    )


def read_huggingface_tensors(folder):
    """Reads every tensor of a Hugging Face folder into numpy arrays.

    Prefers `model.safetensors` (plain data); falls back to `pytorch_model.bin`
    loaded with `torch.load(weights_only=True)`, which refuses pickled code.
    """
    folder = pathlib.Path(folder)
    safetensors_file = folder / "model.safetensors"
    if safetensors_file.is_file():
        from safetensors.numpy import load_file

        try:
            return load_file(str(safetensors_file)), safetensors_file
        except Exception as error:  # safetensors raises its own error types.
            raise CheckpointMismatchError(
                f"{safetensors_file} is not a readable safetensors file: {error}"
            ) from error
    bin_file = folder / "pytorch_model.bin"
    if bin_file.is_file():
        try:
            import torch
        except ImportError as error:
            raise ImportError(
                f"{bin_file} is a PyTorch pickle; reading it needs torch installed "
                "(or convert the folder to model.safetensors)."
            ) from error
        state = torch.load(str(bin_file), map_location="cpu", weights_only=True)
        return {k: v.float().numpy() for k, v in state.items()}, bin_file
    raise FileNotFoundError(
        f"{folder} holds neither model.safetensors nor pytorch_model.bin."
    )


def _canonical_layer_norm_name(name):
    # Checkpoints from before 2020 call the LayerNorm parameters gamma and beta.
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
        "LayerNorm.beta", "LayerNorm.bias"
    )


def from_huggingface(folder, with_heads="auto", dtype=None, **overrides):
    """Builds a model from a Hugging Face BERT folder with every weight mapped.

    Args:
        folder: path holding `config.json` and `model.safetensors` or
            `pytorch_model.bin` (saved by `BertModel`, `BertForPreTraining`,
            `BertForMaskedLM`, `BertForSequenceClassification`,
            `BertForTokenClassification`, `BertForQuestionAnswering`, ...).
        with_heads: `"auto"` returns the model of the heads the checkpoint
            holds: a `BertClassifier`, `BertTokenClassifier` or
            `BertQuestionAnswerer` for a fine-tuned head (`classifier.*`,
            `qa_outputs.*`), a `BertPretrainer` for the masked-LM and NSP
            heads, else a `BertBackbone`; `True` requires the pretraining
            heads; `False` returns only the backbone.
        dtype: dtype policy of the built model.
        **overrides: `BertBackbone` arguments that replace the config's
            (e.g. `dropout=0.0`).

    Returns:
        A `BertBackbone`, `BertPretrainer` or task model whose outputs match
        the source's.

    Example:
    ```python
    pretrainer = from_huggingface("bert-base-uncased/")
    tagger = from_huggingface("bert-base-NER/")  # a BertTokenClassifier
    ```
    """
    config, tensors, checkpoint = read_huggingface_checkpoint(folder)
    arguments = backbone_config_from_huggingface(config)
    task_class = task_class_of_checkpoint(config, tensors, checkpoint)
    if with_heads == "auto" and task_class is not None:
        backbone = BertBackbone(**{**arguments, **overrides}, dtype=dtype)
        model = _task_model(task_class, backbone, config, tensors)
    else:
        model = build_converted_model(
            arguments,
            overrides,
            dtype,
            has_heads="cls.predictions.bias" in tensors
            or "cls.seq_relationship.weight" in tensors,
            with_heads=with_heads,
            where=f"{checkpoint} (cls.predictions.*, cls.seq_relationship.*)",
        )
    assign_huggingface_tensors(model, tensors, checkpoint)
    return model


def read_huggingface_checkpoint(folder):
    """`(config, tensors, checkpoint file)` of a Hugging Face folder.

    Tensor names are canonical: pre-2020 `LayerNorm.gamma`/`beta` read as
    `LayerNorm.weight`/`bias`.
    """
    config_file = pathlib.Path(folder) / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json: not a Hugging Face folder."
        )
    with open(config_file, encoding="utf-8") as file:
        config = json.load(file)
    return (config, *_read_canonical_tensors(folder))


def huggingface_labels(config):
    """The class names of a fine-tuned folder's `id2label`, in class-id order.

    `None` when there are none or they are transformers' placeholders
    (`LABEL_0`, `LABEL_1`, ...), which say nothing about the classes.
    """
    id2label = config.get("id2label") or {}
    labels = [id2label[key] for key in sorted(id2label, key=int)]
    if all(label == f"LABEL_{index}" for index, label in enumerate(labels)):
        return None
    return labels


def task_class_of_checkpoint(config, tensors, checkpoint):
    """The task model of the checkpoint's fine-tuning head (None without one).

    `BertForSequenceClassification` and `BertForTokenClassification` both
    name their head `classifier`; `architectures` tells them apart.
    """
    architectures = " ".join(config.get("architectures") or [])
    if "qa_outputs.weight" in tensors:
        return BertQuestionAnswerer
    if "classifier.weight" not in tensors:
        return None
    if "MultipleChoice" in architectures:
        raise CheckpointMismatchError(
            f"{checkpoint} holds a {architectures} head, which has no class "
            "count in config.json; convert it with with_heads=False."
        )
    if "TokenClassification" in architectures:
        return BertTokenClassifier
    return BertClassifier


def _task_model(task_class, backbone, config, tensors):
    if task_class is BertQuestionAnswerer:
        return BertQuestionAnswerer(backbone)
    dropout = config.get("classifier_dropout")
    if dropout is None:
        dropout = config.get("hidden_dropout_prob", 0.1)
    return task_class(
        backbone, num_classes=tensors["classifier.weight"].shape[0], dropout=dropout
    )


def _read_canonical_tensors(folder):
    tensors, checkpoint = read_huggingface_tensors(folder)
    return {_canonical_layer_norm_name(k): v for k, v in tensors.items()}, checkpoint


def _backbone_prefix(tensors, checkpoint):
    prefix = next(
        (
            p
            for p in BACKBONE_PREFIXES
            if f"{p}embeddings.word_embeddings.weight" in tensors
        ),
        None,
    )
    if prefix is None:
        raise CheckpointMismatchError(
            f"{checkpoint} has no 'embeddings.word_embeddings.weight' under any of the "
            f"prefixes {BACKBONE_PREFIXES}: not a BERT checkpoint."
        )
    return prefix


def head_weight_map(model):
    """WeightSpecs of the heads on a model's backbone (none for a backbone)."""
    if isinstance(model, BertPretrainer):
        return pretraining_heads_weight_map(model)
    if isinstance(model, BertBackbone):
        return []
    return task_head_weight_map(model)


def assign_huggingface_tensors(model, tensors, checkpoint, class_order=None):
    """Fills a backbone, pretrainer or task model from Hugging Face-named tensors.

    Every tensor's name and shape is checked before anything is assigned
    (`CheckpointMismatchError` names each missing or misshapen one). The
    backbone's tensors may sit under any of `BACKBONE_PREFIXES`; heads are
    top-level (`cls.*`, `classifier.*`, `qa_outputs.*`).
    `BertForTokenClassification` and `BertForQuestionAnswering` have no
    pooler: for the models that do not read it, a missing pooler keeps its
    initial weights.

    Args:
        model: `BertBackbone`, `BertPretrainer` or task model to fill.
        tensors: dict from Hugging Face names to numpy arrays.
        checkpoint: what to name in errors (the file or folder).
        class_order: optional, for a `classifier` head: the checkpoint's class
            index of each of the model's classes (reorders the head's rows).
    """
    backbone = model if isinstance(model, BertBackbone) else model.backbone
    prefix = _backbone_prefix(tensors, checkpoint)
    backbone_specs = backbone_weight_map(backbone)
    reads_pooler = not isinstance(model, (BertTokenClassifier, BertQuestionAnswerer))
    if not reads_pooler and f"{prefix}pooler.dense.weight" not in tensors:
        backbone_specs = [
            spec
            for spec in backbone_specs
            if not spec.huggingface_name.startswith("pooler.")
        ]
    head_specs = head_weight_map(model)
    full_names = {
        spec.huggingface_name: prefix + spec.huggingface_name for spec in backbone_specs
    }
    full_names.update(
        {spec.huggingface_name: spec.huggingface_name for spec in head_specs}
    )

    def lookup(name):
        value = tensors.get(full_names[name])
        reorder = (
            class_order is not None
            and name.startswith("classifier.")
            and value is not None
            and value.shape[0] == len(class_order)
        )
        return value[list(class_order)] if reorder else value

    assign_weights(backbone_specs + head_specs, lookup, "huggingface", checkpoint)
    return model


def load_huggingface_weights(backbone, folder):
    """Fills an existing `BertBackbone` with the weights of a Hugging Face folder.

    Every tensor's name and shape is checked before anything is assigned. The
    backbone's config is not compared with the folder's `config.json`: the
    shapes are what must agree (presets such as `all_minilm_l6_v2` ship their
    own config and read the weights from an installed package).

    Args:
        backbone: `BertBackbone` to fill.
        folder: Hugging Face BERT folder (`model.safetensors` or
            `pytorch_model.bin`).

    Example:
    ```python
    backbone = BertBackbone.from_preset("all_minilm_l6_v2", load_weights=False)
    load_huggingface_weights(backbone, "all-MiniLM-L6-v2/")
    ```
    """
    tensors, checkpoint = _read_canonical_tensors(folder)
    return assign_huggingface_tensors(backbone, tensors, checkpoint)
