"""Which variables a regex list names: shared by the optimizers' exclusions."""

import re

# The original BERT excludes `["LayerNorm", "layer_norm", "bias"]` from weight
# decay, matched against TF1 names such as `bert/encoder/layer_0/output/
# LayerNorm/gamma`. Keras 3 names a variable by its last component only
# (`gamma`), and its path (`transformer_layer_0/output_layer_norm/gamma`) holds
# the layer names, so the list also names LayerNormalization's `gamma`/`beta`.
BERT_WEIGHT_DECAY_EXCLUSIONS = ("LayerNorm", "layer_norm", "bias", "gamma", "beta")


def matches_any(variable, patterns):
    """Whether `re.search` finds any of `patterns` in the variable's path or name.

    Keras 3.15's own `exclude_from_weight_decay(var_names=...)` searches
    `variable.name` only (`"kernel"`, `"gamma"`, ...); searching the path as
    well lets patterns such as `"layer_norm"` or `"attention/.*/bias"` work.
    """
    if not patterns:
        return False
    pattern = re.compile("|".join(f"(?:{p})" for p in patterns))
    for text in (getattr(variable, "path", None), getattr(variable, "name", None)):
        if text and pattern.search(text):
            return True
    return False
