"""Writes Google-layout TF1 checkpoints (bert_config.json + bert_model.ckpt.*) in tests.

The names are those of google-research/bert's `modeling.py` graph, derived from
a `transformers.BertForPreTraining` by the rules of transformers'
`load_tf_weights_in_bert`, applied in reverse. Written independently of
`keras_bert_impl.convert.weight_map`, so the converter is checked against it.
"""

import json
import re

# Tensors of `run_pretraining.py`'s training state that the converter ignores.
OPTIMIZER_SLOTS = ("adam_m", "adam_v")


def original_name(huggingface_name):
    """`(original name, transposed)` of a `BertForPreTraining` tensor, or None."""
    special = {
        "cls.predictions.bias": "cls/predictions/output_bias",
        "cls.seq_relationship.weight": "cls/seq_relationship/output_weights",
        "cls.seq_relationship.bias": "cls/seq_relationship/output_bias",
    }
    if huggingface_name in special:
        # output_weights is stored (2, hidden), as torch stores it.
        return special[huggingface_name], False
    if huggingface_name.startswith("cls.predictions.decoder"):
        return None  # Tied to the word embeddings / an alias of the bias.
    name = re.sub(r"layer\.(\d+)", r"layer_\1", huggingface_name).replace(".", "/")
    if name.endswith("_embeddings/weight"):
        return name.removesuffix("/weight"), False
    name = name.replace("LayerNorm/weight", "LayerNorm/gamma")
    name = name.replace("LayerNorm/bias", "LayerNorm/beta")
    if name.endswith("/weight"):
        return name.removesuffix("weight") + "kernel", True
    return name, False


def google_tensors(model, with_optimizer_slots=True):
    """The original-name tensors of a `BertForPreTraining` (numpy float32)."""
    tensors = {}
    for name, value in model.state_dict().items():
        mapped = original_name(name)
        if mapped is None or not value.dtype.is_floating_point:
            continue
        google_name, transposed = mapped
        array = value.detach().numpy().astype("float32")
        tensors[google_name] = array.T.copy() if transposed else array
    if with_optimizer_slots:
        for name in list(tensors)[:3]:
            for slot in OPTIMIZER_SLOTS:
                tensors[f"{name}/{slot}"] = tensors[name] * 0 + 7.0
        tensors["global_step"] = None
    return tensors


def bert_config(huggingface_config, **overrides):
    """The `bert_config.json` of google-research/bert for a transformers config."""
    config = {
        "attention_probs_dropout_prob": huggingface_config.attention_probs_dropout_prob,
        # The original "gelu" is the tanh approximation (transformers: gelu_new).
        "hidden_act": "gelu",
        "hidden_dropout_prob": huggingface_config.hidden_dropout_prob,
        "hidden_size": huggingface_config.hidden_size,
        "initializer_range": huggingface_config.initializer_range,
        "intermediate_size": huggingface_config.intermediate_size,
        "max_position_embeddings": huggingface_config.max_position_embeddings,
        "num_attention_heads": huggingface_config.num_attention_heads,
        "num_hidden_layers": huggingface_config.num_hidden_layers,
        "type_vocab_size": huggingface_config.type_vocab_size,
        "vocab_size": huggingface_config.vocab_size,
    }
    config.update(overrides)
    return config


def write_google_checkpoint(folder, tensors, config, vocabulary=None):
    """Saves `tensors` with a TF1 `Saver` under exactly their names.

    Graph-mode `tf.compat.v1` variables + `tf.compat.v1.train.Saver`, as
    `run_pretraining.py` saved them: keys are the plain variable names, with
    no `/.ATTRIBUTES/VARIABLE_VALUE` suffix of object-based checkpoints.
    """
    import numpy as np
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for name, value in tensors.items():
            if name == "global_step":
                variables.append(
                    tf.compat.v1.Variable(np.int64(1000), name=name, trainable=False)
                )
            else:
                variables.append(tf.compat.v1.Variable(value, name=name))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(folder / "bert_model.ckpt"), write_meta_graph=False)
    with open(folder / "bert_config.json", "w", encoding="utf-8") as file:
        json.dump(config, file, indent=2)
    if vocabulary is not None:
        (folder / "vocab.txt").write_text("".join(f"{t}\n" for t in vocabulary))
    return folder / "bert_model.ckpt"


def tiny_vocabulary(size):
    """A BERT-style vocabulary of `size` tokens (special tokens first)."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return special + [f"word{i}" for i in range(size - len(special))]
