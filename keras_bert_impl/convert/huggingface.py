"""Hugging Face BERT folders in and out (config.json + safetensors / .bin)."""

import json
import pathlib

import numpy as np

from keras_bert_impl.convert.weight_map import CheckpointMismatchError
from keras_bert_impl.convert.weight_map import assign_weights
from keras_bert_impl.convert.weight_map import backbone_arguments_from_bert_config
from keras_bert_impl.convert.weight_map import backbone_weight_map
from keras_bert_impl.convert.weight_map import build_converted_model
from keras_bert_impl.convert.weight_map import pretraining_heads_weight_map
from keras_bert_impl.models.bert_pretrainer import BertPretrainer

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


def huggingface_config_from_backbone(backbone):
    return {
        "architectures": ["BertForPreTraining"],
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "hidden_size": backbone.hidden_dim,
        "intermediate_size": backbone.intermediate_dim,
        "hidden_dropout_prob": backbone.dropout,
        "attention_probs_dropout_prob": backbone.dropout,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": backbone.num_segments,
        "hidden_act": ACTIVATION_TO_HIDDEN_ACT[backbone.activation],
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "initializer_range": backbone.initializer_range,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


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
            `BertForMaskedLM`, ...).
        with_heads: `"auto"` returns a `BertPretrainer` when the checkpoint
            holds the masked-LM and NSP heads, else a `BertBackbone`; `True`
            requires the heads; `False` returns only the backbone.
        dtype: dtype policy of the built model.
        **overrides: `BertBackbone` arguments that replace the config's
            (e.g. `dropout=0.0`).

    Returns:
        A `BertBackbone` or `BertPretrainer` whose outputs match the source's.

    Example:
    ```python
    pretrainer = from_huggingface("bert-base-uncased/")
    ```
    """
    folder = pathlib.Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{folder} has no config.json: not a Hugging Face folder."
        )
    with open(config_file, encoding="utf-8") as file:
        config = json.load(file)
    tensors, checkpoint = _read_canonical_tensors(folder)
    prefix = _backbone_prefix(tensors, checkpoint)
    model = build_converted_model(
        backbone_config_from_huggingface(config),
        overrides,
        dtype,
        has_heads="cls.predictions.bias" in tensors
        or "cls.seq_relationship.weight" in tensors,
        with_heads=with_heads,
        where=f"{checkpoint} (cls.predictions.*, cls.seq_relationship.*)",
    )
    backbone = model.backbone if isinstance(model, BertPretrainer) else model
    specs = [
        (spec, prefix + spec.huggingface_name) for spec in backbone_weight_map(backbone)
    ]
    if isinstance(model, BertPretrainer):
        specs += [
            (spec, spec.huggingface_name)
            for spec in pretraining_heads_weight_map(model)
        ]
    assign_weights(
        [spec for spec, _ in specs],
        _prefixed_lookup(
            tensors, dict((s.huggingface_name, name) for s, name in specs)
        ),
        "huggingface",
        checkpoint,
    )
    return model


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
    prefix = _backbone_prefix(tensors, checkpoint)
    specs = backbone_weight_map(backbone)
    assign_weights(
        specs,
        lambda name: tensors.get(prefix + name),
        "huggingface",
        checkpoint,
    )
    return backbone


def _prefixed_lookup(tensors, full_names):
    def lookup(name):
        return tensors.get(full_names[name])

    return lookup


def to_huggingface(model, folder):
    """Saves a `BertBackbone` or `BertPretrainer` as a Hugging Face BERT folder.

    Writes `config.json` and `model.safetensors` that
    `transformers.BertForPreTraining.from_pretrained(folder)` (with heads) or
    `BertModel.from_pretrained(folder)` loads with identical outputs.
    """
    from safetensors.numpy import save_file

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backbone = model.backbone if isinstance(model, BertPretrainer) else model
    config = huggingface_config_from_backbone(backbone)
    tensors = {}
    prefix = ""
    if isinstance(model, BertPretrainer):
        prefix = "bert."
        for spec in pretraining_heads_weight_map(model):
            tensors[spec.huggingface_name] = _huggingface_value(spec)
        # transformers ties the decoder to the word embeddings; it still expects
        # the decoder's bias alias.
        tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"]
    else:
        config["architectures"] = ["BertModel"]
    for spec in backbone_weight_map(backbone):
        tensors[prefix + spec.huggingface_name] = _huggingface_value(spec)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with open(folder / "config.json", "w", encoding="utf-8") as file:
        json.dump(config, file, indent=2)
    return folder


def _huggingface_value(spec):
    value = np.asarray(spec.variable.numpy(), dtype="float32")
    return np.ascontiguousarray(value.T if spec.huggingface_transposed else value)
