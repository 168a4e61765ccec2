"""Parameter counts of `BertBackbone` and its task heads, from configs alone.

`keras-bert presets` lists LARGE presets without building them (1.3 GB and
seconds each); `tools/write_presets.py` asserts that these counts equal
Keras' own for every shipped preset.
"""


def task_head_parameter_count(hidden_dim, task_config):
    """Parameters of a fine-tuning head: one dense layer from the hidden states.

    `BertClassifier` and `BertTokenClassifier` map to `num_classes` logits,
    `BertQuestionAnswerer` to a start and an end logit.

    Example:
    >>> task_head_parameter_count(768, {"num_classes": 2})
    1538
    """
    units = task_config.get("num_classes", 2)
    return hidden_dim * units + units


def backbone_parameter_count(config):
    """`BertBackbone`'s parameter count from its config, without building it.

    Args:
        config: the `BertBackbone` arguments (or a `config.json`'s "config").

    Example:
    >>> backbone_parameter_count({"vocabulary_size": 30522, "num_layers": 12,
    ...     "hidden_dim": 768, "intermediate_dim": 3072})
    109482240
    """
    hidden = config["hidden_dim"]
    inner = config["intermediate_dim"]
    embeddings = (
        config["vocabulary_size"]
        + config.get("max_sequence_length", 512)
        + config.get("num_segments", 2)
        + 2
    ) * hidden
    attention = 4 * (hidden * hidden + hidden) + 2 * hidden
    feedforward = hidden * inner + inner + inner * hidden + hidden + 2 * hidden
    pooler = hidden * hidden + hidden
    return embeddings + config["num_layers"] * (attention + feedforward) + pooler
