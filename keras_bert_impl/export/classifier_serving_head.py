"""Serving a `BertClassifier`: label and probabilities, or a regression score."""

import keras
import tensorflow as tf

from keras_bert_impl.export.serving_head import ServingHead
from keras_bert_impl.export.serving_head import as_float32
from keras_bert_impl.export.serving_head import find_label_names
from keras_bert_impl.models.bert_classifier import BertClassifier


class ClassifierServingHead(ServingHead):
    """Texts (or text pairs) in; `label`, `label_id`, `probabilities`, `logits` out.

    A regression head (`num_classes=1`) serves `score` and `logits`.

    Args:
        model: `BertClassifier`.
        text_pair: bool. Inputs `text_a`, `text_b` instead of `text`.
        label_names: optional class names (see `find_label_names`).
    """

    model_class = BertClassifier

    def __init__(self, model, text_pair=False, label_names=None, **unused):
        super().__init__(model)
        self.text_inputs = ("text_a", "text_b") if text_pair else ("text",)
        self.regression = model.num_classes == 1
        self.label_names = None
        if not self.regression:
            self.label_names = find_label_names(
                model, label_names, model.num_classes, "classes"
            )

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        logits = as_float32(self.call_model(token_ids, segment_ids, padding_mask))
        if self.regression:
            return {"logits": logits, "score": logits[:, 0]}
        return {
            "logits": logits,
            "probabilities": keras.ops.softmax(logits, axis=-1),
            "label_id": keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32"),
        }

    def string_outputs(self, *texts):
        outputs = self.run_token_ids_fn(self.preprocess(*texts))
        if not self.regression:
            outputs["label"] = outputs["label_id"]
            if self.label_names is not None:
                names = tf.constant(self.label_names)
                outputs["label"] = tf.gather(names, outputs["label_id"])
        return outputs
