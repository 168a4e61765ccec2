"""What the writers for code that fixes part of BERT check, and write beside it.

keras-hub's `BertBackbone` and google-research/bert's `modeling.py` both
hard-code LayerNorm's epsilon (1e-12) and run the tanh approximation of GELU
(keras-hub always; Google's code for `hidden_act: "gelu"`). A model that runs
the exact (erf) GELU, as Hugging Face checkpoints do, is still written, with a
warning stating how far the target's outputs then are from ours.
"""

import warnings

from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.utils.file_io import atomic_write

LAYER_NORM_EPSILON = 1e-12
# Measured with the real all-MiniLM-L6-v2 weights (exact GELU, 6 layers, 384
# hidden): the same weights run with activation="gelu_approximate" against
# "gelu", float32. Real sentences: 6 x 64 tokens; random tokens: 8 x 128.
EXACT_GELU_DIFFERENCE = (
    "measured on the real all-MiniLM-L6-v2 weights, the tanh GELU moves "
    "sequence_output by up to 3e-3 on real sentences (7e-3 on random tokens, "
    "mean 4e-4) and pooled_output by up to 4e-4"
)


class ExactGeluWarning(UserWarning):
    """The target runs the tanh GELU; the written model's outputs will differ."""


def backbone_of(model):
    return model if isinstance(model, BertBackbone) else model.backbone


def target_activation(backbone, target, activations):
    """The target's name of the backbone's activation; warns for exact GELU.

    Args:
        backbone: the `BertBackbone` to write.
        target: the format, as messages name it.
        activations: our activation names to the target's; `"gelu"` (exact)
            maps to the target's tanh GELU, with an `ExactGeluWarning`.
    """
    if backbone.activation not in activations:
        raise ValueError(
            f"{target} cannot express activation={backbone.activation!r}; it "
            f"supports {sorted(activations)}."
        )
    if backbone.layer_norm_epsilon != LAYER_NORM_EPSILON:
        raise ValueError(
            f"{target} hard-codes LayerNorm epsilon {LAYER_NORM_EPSILON}; this "
            f"model uses {backbone.layer_norm_epsilon}, so its outputs would differ."
        )
    if backbone.activation == "gelu":
        warnings.warn(
            f"This model runs the exact (erf) GELU; {target} runs the tanh "
            f"approximation, so its outputs will not equal this model's: "
            f"{EXACT_GELU_DIFFERENCE}. Read back with keras_bert_impl, the "
            'model gets activation="gelu_approximate".',
            ExactGeluWarning,
            stacklevel=3,
        )
    return activations[backbone.activation]


def attached_tokenizer(model, preprocessor=None):
    """The `BertTokenizer` to write beside `model` (None when there is none).

    Args:
        model: the model being written; its own `preprocessor` is the default.
        preprocessor: a `BertPreprocessor` or `BertTokenizer` that replaces it.
    """
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", preprocessor)
    if tokenizer is None:
        return None
    # Imported here: the tokenizer needs TensorFlow, which a converter that
    # writes no tokenizer (JAX, weights only) does not load.
    from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer

    if not isinstance(tokenizer, BertTokenizer):
        raise ValueError(
            "Expected a BertPreprocessor or BertTokenizer, got "
            f"{type(preprocessor).__name__}."
        )
    return tokenizer


def write_vocabulary(path, tokenizer):
    """Writes the tokenizer's vocabulary one token a line, line i = id i."""
    with atomic_write(path, encoding="utf-8") as file:
        file.writelines(f"{token}\n" for token in tokenizer.vocabulary)
