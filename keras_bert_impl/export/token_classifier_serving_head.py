"""Serving a `BertTokenClassifier`: a tag per whitespace-separated word."""

import keras
import tensorflow as tf

from keras_bert_impl.export.serving_head import ServingHead
from keras_bert_impl.export.serving_head import as_float32
from keras_bert_impl.export.serving_head import find_label_names
from keras_bert_impl.models.bert_token_classifier import BertTokenClassifier


class TokenClassifierServingHead(ServingHead):
    """Sentences in; `words`, `tags`, `tag_ids`, `num_words` and `logits` out.

    Words are split on whitespace, each tokenized on its own and tagged at its
    first piece, as `NerFeaturizer` does.

    Args:
        model: `BertTokenClassifier`.
        label_names: optional tag names (see `find_label_names`).
        default_tag: str, the tag of words that get no prediction.
    """

    model_class = BertTokenClassifier

    def __init__(self, model, label_names=None, default_tag="O", **unused):
        super().__init__(model)
        self.label_names = find_label_names(
            model, label_names, model.num_classes, "tags"
        )
        self.default_tag = default_tag

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        logits = as_float32(self.call_model(token_ids, segment_ids, padding_mask))
        tag_ids = keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")
        return {"logits": logits, "tag_ids": tag_ids}

    def string_outputs(self, text):
        import tensorflow_text as tf_text

        preprocessor = self.preprocessor
        sequence_length = preprocessor.sequence_length
        # NerFeaturizer's featurization, in the graph: every word tokenized on
        # its own, the pieces packed as `[CLS] pieces [SEP]` (cut to fit), a
        # word's prediction read at its first piece.
        words = tf_text.WhitespaceTokenizer().tokenize(text)
        pieces = preprocessor.tokenizer.tokenize(words.flat_values)
        pieces = tf.RaggedTensor.from_row_splits(pieces, words.row_splits)
        counts = tf.cast(pieces.row_lengths(axis=2).flat_values, tf.int32)
        before = tf.cumsum(counts, exclusive=True)
        word_rows = tf.cast(words.value_rowids(), tf.int32)
        sentence_start = tf.gather(
            tf.concat([before, [tf.reduce_sum(counts)]], 0),
            tf.cast(words.row_starts(), tf.int32),
        )
        first_piece = before - tf.gather(sentence_start, word_rows)
        tagged = (counts > 0) & (first_piece < sequence_length - 2)
        inputs = preprocessor.packer(pieces.merge_dims(1, 2))
        outputs = self.run_token_ids_fn(inputs)

        position = tf.minimum(first_piece + 1, sequence_length - 1)
        token_tags = outputs["tag_ids"]
        word_tag_ids = tf.gather_nd(token_tags, tf.stack([word_rows, position], 1))
        word_tag_ids = tf.where(tagged, word_tag_ids, -1)
        if self.label_names is not None:
            names = tf.constant(self.label_names)
            word_tags = tf.where(
                tagged,
                tf.gather(names, tf.maximum(word_tag_ids, 0)),
                self.default_tag,
            )
            tag_padding = ""
        else:
            word_tags, tag_padding = word_tag_ids, -1
        return {
            "logits": outputs["logits"],
            "words": words.to_tensor(""),
            "tags": words.with_flat_values(word_tags).to_tensor(tag_padding),
            "tag_ids": words.with_flat_values(word_tag_ids).to_tensor(-1),
            "num_words": tf.cast(words.row_lengths(), tf.int32),
        }
