"""Serving a `BertTokenClassifier`: a tag per whitespace-separated word."""

import keras
import tensorflow as tf

from keras_bert_impl.export.serving_head import ServingHead
from keras_bert_impl.export.serving_head import as_float32
from keras_bert_impl.export.serving_head import find_label_names
from keras_bert_impl.models.bert_token_classifier import BertTokenClassifier
from keras_bert_impl.utils.document_windows import context_score


class TokenClassifierServingHead(ServingHead):
    """Sentences in; `words`, `tags`, `tag_ids`, `num_words` and `logits` out.

    Words are split on whitespace, each tokenized on its own and tagged at its
    first piece, as `NerFeaturizer` does. With a preprocessor that has a
    `stride`, a sentence longer than the sequence is read in windows and every
    piece tagged from the window where it has the most context, as `predict`
    does; `logits` are then laid out per sentence, as `predict` returns them.

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

    def _document_outputs(self, pieces):
        """Long texts in windows (`BertPreprocessor(stride=K)`), as `predict`:
        `logits` `(batch, max(sequence_length, longest + 2), num_classes)`, each
        piece's from the window where it has the most context."""
        from tensorflow.experimental import numpy as tnp

        sequence_length = self.preprocessor.sequence_length
        features, layout = self.preprocessor.window_features(pieces)
        window_logits = self.run_token_ids_fn(features)["logits"]
        # Where every window's pieces come from (as `window_features` cut them).
        document_index, start, length = (
            layout[key] for key in ("document_index", "start", "length")
        )
        first_window, counts = layout["first_window"], layout["count"]
        lengths = tf.cast(pieces.row_lengths(), tf.int64)
        windows = tf.size(document_index, tf.int64)
        offset = tf.range(sequence_length - 2, dtype=tf.int64)[None, :]
        held = offset < length[:, None]
        piece = start[:, None] + offset
        score = context_score(piece, start[:, None], length[:, None], tnp)
        # Pieces numbered across the batch; positions past a window's end go to
        # one extra segment.
        total = tf.reduce_sum(lengths)
        row_start = tf.cast(pieces.row_starts(), tf.int64)
        key = tf.where(
            held, tf.gather(row_start, document_index)[:, None] + piece, total
        )
        best = tf.math.unsorted_segment_max(score, key, total + 1)
        # The first window with the best score (run_squad.py's tie rule).
        window = tf.broadcast_to(tf.range(windows)[:, None], tf.shape(key))
        candidate = held & (score == tf.gather(best, key))
        chosen = tf.math.unsorted_segment_min(
            tf.where(candidate, window, windows), key, total + 1
        )[:total]
        document = tf.cast(pieces.value_rowids(), tf.int64)
        in_document = tf.range(total) - tf.gather(row_start, document)
        values = tf.gather_nd(
            window_logits,
            tf.stack([chosen, 1 + in_document - tf.gather(start, chosen)], 1),
        )
        width = tf.maximum(
            tf.cast(sequence_length, tf.int64),
            tf.reduce_max(tf.concat([lengths, [0]], 0)) + 2,
        )
        batch = tf.size(lengths, tf.int64)
        last_window = first_window + counts - 1
        documents = tf.range(batch)
        indices = tf.concat(
            [
                tf.stack([document, 1 + in_document], 1),
                tf.stack([documents, tf.zeros_like(documents)], 1),
                tf.stack([documents, 1 + lengths], 1),
            ],
            0,
        )
        updates = tf.concat(
            [
                values,
                tf.gather(window_logits[:, 0], first_window),
                tf.gather_nd(
                    window_logits,
                    tf.stack([last_window, 1 + tf.gather(length, last_window)], 1),
                ),
            ],
            0,
        )
        num_classes = tf.shape(window_logits, out_type=tf.int64)[2]
        logits = tf.scatter_nd(indices, updates, tf.stack([batch, width, num_classes]))
        return {
            "logits": logits,
            "tag_ids": tf.argmax(logits, axis=-1, output_type=tf.int32),
        }

    def string_outputs(self, text):
        import tensorflow_text as tf_text

        preprocessor = self.preprocessor
        sequence_length = preprocessor.sequence_length
        # NerFeaturizer's featurization, in the graph: every word tokenized on
        # its own, the pieces packed as `[CLS] pieces [SEP]` (cut to fit, or
        # read in windows with a stride), a word's prediction read at its
        # first piece.
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
        merged = pieces.merge_dims(1, 2)
        if preprocessor.stride is None:
            tagged = (counts > 0) & (first_piece < sequence_length - 2)
            outputs = self.run_token_ids_fn(preprocessor.packer(merged))
        else:
            tagged = counts > 0
            outputs = self._document_outputs(merged)

        position = tf.minimum(first_piece + 1, tf.shape(outputs["tag_ids"])[1] - 1)
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
