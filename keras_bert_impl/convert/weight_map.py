"""One table from our variables to the names of every BERT checkpoint format.

Each entry pairs a Keras variable with its Hugging Face name and its original
(google-research/bert, TF1) name. Hugging Face stores `torch.nn.Linear` weights
as `(out, in)`, so those are transposed; the original stores kernels as
`(in, out)` like Keras, except `cls/seq_relationship/output_weights` `(2, H)`.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    variable: object
    huggingface_name: str
    google_name: str
    huggingface_transposed: bool = False
    google_transposed: bool = False

    def expected_shape(self, source):
        shape = tuple(self.variable.shape)
        transposed = (
            self.huggingface_transposed
            if source == "huggingface"
            else self.google_transposed
        )
        return shape[::-1] if transposed else shape


def _dense(layer, huggingface_prefix, google_prefix):
    return [
        WeightSpec(
            layer.kernel,
            f"{huggingface_prefix}.weight",
            f"{google_prefix}/kernel",
            True,
        ),
        WeightSpec(layer.bias, f"{huggingface_prefix}.bias", f"{google_prefix}/bias"),
    ]


def _layer_norm(layer, huggingface_prefix, google_prefix):
    return [
        WeightSpec(
            layer.gamma, f"{huggingface_prefix}.weight", f"{google_prefix}/gamma"
        ),
        WeightSpec(layer.beta, f"{huggingface_prefix}.bias", f"{google_prefix}/beta"),
    ]


def backbone_weight_map(backbone):
    """WeightSpecs of a `BertBackbone` (names as in `BertModel` / `bert/...`)."""
    embeddings = backbone.embeddings
    specs = [
        WeightSpec(
            embeddings.token_embedding.embeddings,
            "embeddings.word_embeddings.weight",
            "bert/embeddings/word_embeddings",
        ),
        WeightSpec(
            embeddings.segment_embedding.embeddings,
            "embeddings.token_type_embeddings.weight",
            "bert/embeddings/token_type_embeddings",
        ),
        WeightSpec(
            embeddings.position_embedding.embeddings,
            "embeddings.position_embeddings.weight",
            "bert/embeddings/position_embeddings",
        ),
        *_layer_norm(
            embeddings.layer_norm, "embeddings.LayerNorm", "bert/embeddings/LayerNorm"
        ),
    ]
    for index, block in enumerate(backbone.transformer_layers):
        attention = block.attention
        # Each block's weights sit at the same path in both checkpoints, joined
        # by "." under `encoder.layer.N` and by "/" under `bert/encoder/layer_N`.
        block_weights = (
            (_dense, attention.query_dense, "attention/self/query"),
            (_dense, attention.key_dense, "attention/self/key"),
            (_dense, attention.value_dense, "attention/self/value"),
            (_dense, attention.output_dense, "attention/output/dense"),
            (_layer_norm, block.attention_layer_norm, "attention/output/LayerNorm"),
            (_dense, block.intermediate_dense, "intermediate/dense"),
            (_dense, block.output_dense, "output/dense"),
            (_layer_norm, block.output_layer_norm, "output/LayerNorm"),
        )
        for spec_of, layer, path in block_weights:
            specs += spec_of(
                layer,
                f"encoder.layer.{index}.{path.replace('/', '.')}",
                f"bert/encoder/layer_{index}/{path}",
            )
    specs += _dense(backbone.pooler_dense, "pooler.dense", "bert/pooler/dense")
    return specs


def pretraining_heads_weight_map(pretrainer):
    """WeightSpecs of the masked-LM and NSP heads (`cls.*` / `cls/...`)."""
    head = pretrainer.masked_lm_head
    nsp = pretrainer.next_sentence_head
    return [
        *_dense(
            head.transform_dense,
            "cls.predictions.transform.dense",
            "cls/predictions/transform/dense",
        ),
        *_layer_norm(
            head.transform_layer_norm,
            "cls.predictions.transform.LayerNorm",
            "cls/predictions/transform/LayerNorm",
        ),
        WeightSpec(
            head.output_bias, "cls.predictions.bias", "cls/predictions/output_bias"
        ),
        WeightSpec(
            nsp.kernel,
            "cls.seq_relationship.weight",
            "cls/seq_relationship/output_weights",
            True,
            True,
        ),
        WeightSpec(
            nsp.bias, "cls.seq_relationship.bias", "cls/seq_relationship/output_bias"
        ),
    ]


def task_head_weight_map(task):
    """WeightSpecs of a fine-tuning head: `BertFor*`'s and the original scripts'.

    `BertClassifier` and `BertTokenClassifier` end in one dense layer, Hugging
    Face's `classifier` (`run_classifier.py`'s `output_weights`/`output_bias`);
    `BertQuestionAnswerer`'s span layer is `qa_outputs` (`run_squad.py`'s
    `cls/squad/output_weights`). The original stores these kernels as
    `(units, H)`, like Hugging Face.
    """
    span_dense = getattr(task, "span_dense", None)
    if span_dense is not None:
        dense, huggingface_name, google_prefix = span_dense, "qa_outputs", "cls/squad/"
    else:
        dense, huggingface_name, google_prefix = task.output_dense, "classifier", ""
    return [
        WeightSpec(
            dense.kernel,
            f"{huggingface_name}.weight",
            f"{google_prefix}output_weights",
            True,
            True,
        ),
        WeightSpec(
            dense.bias, f"{huggingface_name}.bias", f"{google_prefix}output_bias"
        ),
    ]


class CheckpointMismatchError(ValueError):
    """A checkpoint tensor is missing or has the wrong shape."""


def assign_weights(specs, lookup, source, checkpoint):
    """Copies tensors into variables after checking every name and shape first.

    Args:
        specs: WeightSpecs to fill.
        lookup: callable mapping a checkpoint name to a numpy array, or None
            when the tensor is absent.
        source: `"huggingface"` or `"google"`.
        checkpoint: what to name in errors (the file or folder).
    """
    values = []
    problems = []
    for spec in specs:
        name = spec.huggingface_name if source == "huggingface" else spec.google_name
        value = lookup(name)
        expected = spec.expected_shape(source)
        if value is None:
            problems.append(f"missing tensor {name!r} (expected shape {expected})")
            continue
        if tuple(value.shape) != expected:
            problems.append(
                f"tensor {name!r} has shape {tuple(value.shape)}, expected {expected}"
            )
            continue
        transposed = (
            spec.huggingface_transposed
            if source == "huggingface"
            else spec.google_transposed
        )
        values.append(np.transpose(value) if transposed else value)
    if problems:
        raise CheckpointMismatchError(
            f"{checkpoint} does not fit the model ({len(problems)} problem(s)): "
            + "; ".join(problems)
        )
    # Nothing is assigned until every tensor has been checked.
    for spec, value in zip(specs, values):
        spec.variable.assign(value.astype(spec.variable.dtype))


def build_converted_model(arguments, overrides, dtype, has_heads, with_heads, where):
    """The `BertBackbone` or `BertPretrainer` a converter fills.

    Args:
        arguments: `BertBackbone` arguments read from the checkpoint's config.
        overrides: arguments that replace those.
        dtype: dtype policy of the model.
        has_heads: whether the checkpoint holds the MLM and NSP heads.
        with_heads: `"auto"` (heads when present), True (required) or False.
        where: the checkpoint and its head names, for the error message.
    """
    from keras_bert_impl.models.bert_backbone import BertBackbone
    from keras_bert_impl.models.bert_pretrainer import BertPretrainer

    if with_heads is True and not has_heads:
        raise CheckpointMismatchError(
            f"{where} has no pretraining heads; load it with with_heads=False."
        )
    backbone = BertBackbone(**{**arguments, **overrides}, dtype=dtype)
    build_heads = has_heads if with_heads == "auto" else bool(with_heads)
    return BertPretrainer(backbone) if build_heads else backbone


def backbone_arguments_from_bert_config(
    config, activations, config_name, default_num_segments, layer_norm_epsilon
):
    """`BertBackbone` arguments from a BERT config dict (Google's or Hugging Face's).

    Both formats share the original `bert_config.json` keys; they differ in
    what `hidden_act` means (`activations`), in the segment-table default and
    in where the LayerNorm epsilon comes from.

    Args:
        config: the parsed config dict.
        activations: dict from `hidden_act` names to our activation names.
        config_name: the config file's name, for the error message.
        default_num_segments: `type_vocab_size` when the config has none.
        layer_norm_epsilon: the LayerNorm epsilon of the checkpoint.
    """
    hidden_act = config.get("hidden_act", "gelu")
    if hidden_act not in activations:
        raise ValueError(
            f"Unsupported hidden_act {hidden_act!r} in {config_name}; supported: "
            f"{sorted(activations)}."
        )
    return {
        "vocabulary_size": config["vocab_size"],
        "num_layers": config["num_hidden_layers"],
        "num_heads": config["num_attention_heads"],
        "hidden_dim": config["hidden_size"],
        "intermediate_dim": config["intermediate_size"],
        "dropout": config.get("hidden_dropout_prob", 0.1),
        "max_sequence_length": config.get("max_position_embeddings", 512),
        "num_segments": config.get("type_vocab_size", default_num_segments),
        "activation": activations[hidden_act],
        "layer_norm_epsilon": layer_norm_epsilon,
        "initializer_range": config.get("initializer_range", 0.02),
    }
