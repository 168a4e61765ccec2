"""Packing tokenized texts with plain tensor ops, for runtimes without ours.

LiteRT and ONNX Runtime run neither our tokenizer's TensorFlow string ops nor
its ragged packing. Each export tokenizes with a kernel its runtime has and
hands the pieces over as a dense `[batch, sequence_length]` tensor with each
text's piece count; `PiecePacker` packs them with gathers and selects only,
which every converter maps to builtin ops: truncated as the preprocessor's
packer (the closed form of `truncation_lengths`), `[CLS] a [SEP] (b [SEP])`.
"""

import tensorflow as tf

from keras_bert_impl.export.serving_head import trim_to_longest
from keras_bert_impl.tokenizers.bert_packer import truncation_lengths


class PiecePacker(tf.Module):
    """The backbone's inputs from texts a subclass tokenizes (`dense_pieces`).

    Same call as `BertPreprocessor` (a batch of texts, or a tuple of two for
    sentence pairs) and same outputs, truncated as the preprocessor's packer,
    padded to the batch's longest text or to `sequence_length`.

    Args:
        preprocessor: the `BertPreprocessor` to mirror (its packer's length,
            truncation and special tokens).
        pad_to_longest: True to pad each batch to its longest text (a
            sentence of 10 pieces costs 12 positions, not `sequence_length`);
            False to `sequence_length`, static shapes, as GPU and NPU
            delegates want.
    """

    def __init__(self, preprocessor, pad_to_longest=True):
        super().__init__()
        packer = preprocessor.packer
        self.sequence_length = packer.sequence_length
        self.pad_to_longest = pad_to_longest
        self.truncate = packer.truncate
        self.cls_token_id = packer.cls_token_id
        self.sep_token_id = packer.sep_token_id
        self.pad_token_id = packer.pad_token_id

    def dense_pieces(self, texts, width):
        """The first `width` pieces of each text `[batch, width]` (padded with
        anything), and each text's piece count `[batch]`, both int32."""
        raise NotImplementedError

    def __call__(self, segments):
        texts = segments if isinstance(segments, tuple) else (segments,)
        length = self.sequence_length
        positions = tf.range(length)[tf.newaxis, :]
        first, length_a = self.dense_pieces(texts[0], length)
        if len(texts) == 1:
            keep_a = tf.minimum(length_a, length - 2)[:, tf.newaxis]
            keep_b = tf.zeros_like(keep_a)
            second = tf.zeros_like(first)
        else:
            second, length_b = self.dense_pieces(texts[1], length)
            keep_a, keep_b = truncation_lengths(
                length_a, length_b, length - 3, self.truncate
            )
            keep_a, keep_b = keep_a[:, tf.newaxis], keep_b[:, tf.newaxis]
        # [CLS] a... [SEP] (b... [SEP]), read by position.
        end_a = keep_a + 1
        in_a = (positions >= 1) & (positions <= keep_a)
        b_index = tf.maximum(positions - end_a - 1, 0)
        in_b = (positions > end_a) & (positions <= end_a + keep_b)
        a_index = tf.maximum(positions - 1, 0)
        batch = tf.shape(first)[0]
        a_index = tf.broadcast_to(a_index, tf.stack([batch, length]))
        token_ids = tf.where(
            in_a,
            tf.gather(first, a_index, batch_dims=1),
            tf.gather(second, b_index, batch_dims=1),
        )
        is_sep = positions == end_a
        if len(texts) == 2:  # the second [SEP] is there even after an empty b
            is_sep |= positions == end_a + keep_b + 1
        is_token = (positions == 0) | in_a | in_b | is_sep
        token_ids = tf.where(positions == 0, self.cls_token_id, token_ids)
        token_ids = tf.where(is_sep, self.sep_token_id, token_ids)
        token_ids = tf.where(is_token, token_ids, self.pad_token_id)
        features = {
            "token_ids": token_ids,
            "segment_ids": tf.cast(positions > end_a, tf.int32)
            * tf.cast(is_token, tf.int32),
            "padding_mask": tf.cast(is_token, tf.int32),
        }
        return trim_to_longest(features) if self.pad_to_longest else features
