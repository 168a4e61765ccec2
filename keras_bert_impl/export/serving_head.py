"""What every serving head shares: the model call, the traced core, label names."""

import keras
import tensorflow as tf

from keras_bert_impl.export.saved_model_archive import INPUT_NAMES
from keras_bert_impl.export.saved_model_archive import pad_to_one_row
from keras_bert_impl.layers.onednn_int8_dense import portable_int8_matmuls
from keras_bert_impl.models.bert_backbone import BertBackbone

_LABEL_ATTRIBUTES = ("label_names", "labels", "label_list", "class_names")


class ServingHead:
    """The task-specific parts of an export; one subclass per kind of model.

    `token_ids_outputs` runs the model and the numeric post-processing with
    `keras.ops` (it becomes the `serve_token_ids` endpoint: traced by
    TensorFlow, or converted by `jax2tf`); `string_outputs` is TensorFlow code
    around the traced `token_ids_fn`: preprocessing and text outputs.
    `text_inputs` names the string signature's inputs.

    Args:
        model: the Keras model to export (`model_class`).
    """

    model_class = None
    text_inputs = ("text",)

    def __init__(self, model):
        self.model = model
        self.backbone = model if isinstance(model, BertBackbone) else model.backbone
        self.preprocessor = None
        self.token_ids_fn = None

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        raise NotImplementedError

    def string_outputs(self, *texts):
        raise NotImplementedError

    def call_model(self, token_ids, segment_ids, padding_mask):
        inputs = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
        }
        # Keras' own int8 matmuls: oneDNN's kernel would tie a served model
        # to TensorFlow on x86 CPUs with VNNI.
        with portable_int8_matmuls():
            return self.model(inputs, training=False)

    def run_token_ids_fn(self, inputs):
        """The traced core on the backbone's input dict, any batch size."""
        padded, count = pad_to_one_row(inputs)
        outputs = self.token_ids_fn(*(padded[name] for name in INPUT_NAMES))
        return {name: value[:count] for name, value in outputs.items()}

    def preprocess(self, *texts):
        segments = texts[0] if len(texts) == 1 else tuple(texts)
        return self.preprocessor(segments)


def make_head(model, head_classes, **options):
    """The serving head of the first class in `head_classes` whose
    `model_class` `model` is, built with `options`; None if there is none."""
    for head_class in head_classes:
        if isinstance(model, head_class.model_class):
            return head_class(model, **options)
    return None


def find_preprocessor(head, preprocessor):
    """`preprocessor`, else the model's; checked against the head's backbone.

    Raises:
        ValueError: there is none, it is not a `BertPreprocessor`, or it packs
            more tokens than the backbone has positions.
    """
    model = head.model
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise ValueError(
            f"Exporting a {type(model).__name__} needs a preprocessor for its "
            "raw-strings signature. Pass `preprocessor=BertPreprocessor(tokenizer, "
            "sequence_length)` or attach one to the model."
        )
    for attribute in ("tokenizer", "packer", "sequence_length"):
        if not hasattr(preprocessor, attribute):
            raise ValueError(
                "`preprocessor` must be a BertPreprocessor (with a tokenizer, a "
                f"packer and a sequence_length). Got {type(preprocessor).__name__}."
            )
    max_length = head.backbone.max_sequence_length
    if preprocessor.sequence_length > max_length:
        raise ValueError(
            f"The preprocessor packs {preprocessor.sequence_length} tokens but the "
            f"model has {max_length} positions (max_sequence_length)."
        )
    return preprocessor


def trim_to_longest(features):
    """The backbone's inputs cut to the batch's longest row: a short text costs
    its own length, not the preprocessor's `sequence_length` (the model's
    outputs at real tokens do not depend on padding). At least [CLS] [SEP]'s
    two positions, also for an empty batch."""
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1)
    width = tf.reduce_max(tf.concat([lengths, [2]], axis=0))
    return {name: value[:, :width] for name, value in features.items()}


def as_float32(x):
    return keras.ops.cast(x, "float32")


def find_label_names(model, label_names, count, what):
    """The given names, else the model's (or its preprocessor's), else None.

    Args:
        model: the exported model.
        label_names: None, or a sequence of names.
        count: int, how many the model has (classes or tags).
        what: str, what they are called in the error message.
    """
    if label_names is None:
        for owner in (model, getattr(model, "preprocessor", None)):
            for attribute in _LABEL_ATTRIBUTES:
                value = getattr(owner, attribute, None)
                if isinstance(value, (list, tuple)) and value:
                    label_names = value
                    break
            if label_names is not None:
                break
    if label_names is None:
        return None
    label_names = [str(name) for name in label_names]
    if len(label_names) != count:
        raise ValueError(
            f"{len(label_names)} label names for a model with {count} {what}: "
            f"{label_names}."
        )
    return label_names
