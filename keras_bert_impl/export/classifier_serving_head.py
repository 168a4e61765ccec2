"""Serving a `BertClassifier`: label and probabilities, or a regression score."""

import keras
import tensorflow as tf

from keras_bert_impl.export.serving_head import ServingHead
from keras_bert_impl.export.serving_head import as_float32
from keras_bert_impl.export.serving_head import find_label_names
from keras_bert_impl.export.serving_head import trim_to_longest
from keras_bert_impl.models.bert_classifier import BertClassifier
from keras_bert_impl.tokenizers._preprocessing_utils import no_convert_scope


class ClassifierServingHead(ServingHead):
    """Texts (or text pairs) in; `label`, `label_id`, `probabilities`, `logits` out.

    A regression head (`num_classes=1`) serves `score` and `logits`. With a
    preprocessor that has a `stride`, each text is read in windows and its
    logits are the windows' combined (`window_aggregation`), as `predict` does.

    Args:
        model: `BertClassifier`.
        text_pair: bool. Inputs `text_a`, `text_b` instead of `text`.
        label_names: optional class names (see `find_label_names`).
    """

    model_class = BertClassifier
    pad_to_longest = True
    """Each batch padded to its longest text, not to the sequence length
    (LiteRT's static-shape export turns it off)."""

    def __init__(self, model, text_pair=False, label_names=None, **unused):
        super().__init__(model)
        self.text_inputs = ("text_a", "text_b") if text_pair else ("text",)

        self.regression = model.num_classes == 1
        self.label_names = None
        if not self.regression:
            self.label_names = find_label_names(
                model, label_names, model.num_classes, "classes"
            )

    @staticmethod
    def argmax(logits):
        """The label ids; LiteRT and ONNX swap in `tf.argmax` (Keras' handles
        negative zeros with bit operations LiteRT has no kernel for)."""
        return keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")

    def _document_outputs(self, text):
        """Long texts in windows (`BertPreprocessor(stride=K)`), as `predict`:
        the windows' logits combined per text (`model.window_aggregation`)."""
        with no_convert_scope():
            pieces = self.preprocessor.tokenizer(text)
        features, layout = self.preprocessor.window_features(pieces)
        window_logits = self.run_token_ids_fn(features)["logits"]
        combine = {
            "mean": tf.math.unsorted_segment_mean,
            "max": tf.math.unsorted_segment_max,
        }[self.model.window_aggregation]
        logits = combine(window_logits, layout["document_index"], tf.shape(text)[0])
        if self.regression:
            return {"logits": logits, "score": logits[:, 0]}
        return {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "label_id": tensorflow_argmax(logits),
        }

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        logits = as_float32(self.call_model(token_ids, segment_ids, padding_mask))
        if self.regression:
            return {"logits": logits, "score": logits[:, 0]}
        return {
            "logits": logits,
            "probabilities": keras.ops.softmax(logits, axis=-1),
            "label_id": self.argmax(logits),
        }

    def string_outputs(self, *texts):
        stride = getattr(self.preprocessor, "stride", None)
        if stride is None:
            features = self.preprocess(*texts)
            if self.pad_to_longest:  # a text of 12 positions costs 12
                features = trim_to_longest(features)
            outputs = self.run_token_ids_fn(features)
        elif len(texts) > 1:
            raise ValueError(
                f"text_pair=True: the preprocessor's stride={stride} windows read "
                "single texts; export with a preprocessor without `stride`"
            )
        else:
            outputs = self._document_outputs(texts[0])
        if not self.regression:
            outputs["label"] = outputs["label_id"]
            if self.label_names is not None:
                names = tf.constant(self.label_names)
                outputs["label"] = tf.gather(names, outputs["label_id"])
        return outputs


def tensorflow_argmax(logits):
    """`tf.argmax` as int32: what LiteRT and ONNX exports swap in for
    `ClassifierServingHead.argmax` (their converters have no kernel for the
    bit operations of Keras' TensorFlow argmax)."""
    return tf.argmax(logits, axis=-1, output_type=tf.int32)
