"""The preprocessing of a LiteRT export: kernels LiteRT has, no Select TF ops.

LiteRT has no kernels for TensorFlow's string ops (`UnicodeDecode`,
`RegexFullMatch`, `StringLower`, ...): a graph that uses them needs the
Select-TF-ops runtime (the Flex delegate, several MB on a phone, and absent
from the TensorFlow 2.21 pip package, so nothing here could even run it). Our
`BertTokenizer` is built on those ops. This preprocessor is built on the two
tensorflow-text ops that ship LiteRT kernels instead (registered by
`tensorflow_text.core.pybinds.tflite_registrar.SELECT_TFTEXT_OPS`, or the
tensorflow-text LiteRT library on a device): `FastBertNormalizer` (BERT's
lower-casing, NFD and accent stripping, in one pass) and `FastWordpieceTokenizer`
with its own BERT pre-tokenization (whitespace, punctuation and CJK splits), and
packs with LiteRT's builtin ops.

It gives the original tokenizer's pieces on all but 10 of the 90,978 real
texts of the tests' corpus (GLUE SST-2, CoLA, MRPC, RTE and BERT's sample
text; uncased vocabulary), but on only 13 of the 42 Chinese fixture lines
(full-width punctuation, below). Where tensorflow-text reads text differently:
- control and format characters (U+0000-U+001F but tab/newline, U+007F-U+009F,
  zero-width spaces, U+FFFD): the original deletes them, joining the letters
  around them; tensorflow-text splits words there. Line and paragraph
  separators (U+2028, U+2029): the original splits there, tensorflow-text
  does not.
- with `lowercase=True`, characters with a compatibility decomposition: the
  original decomposes canonically (NFD), tensorflow-text also by
  compatibility: "..." for the ellipsis, Greek mu for the micro sign, ASCII
  for full-width letters and punctuation (which makes Chinese text with
  full-width commas and colons differ from the original, whose vocabulary
  has both forms), and it case-folds where the original lower-cases
  ("ss" for the sharp s, no final sigma).
- with `lowercase=False`, text not in NFC (decomposed accents): our tokenizer
  composes it first (as Hugging Face's), tensorflow-text does not.
- words of more than `max_chars_per_word` bytes but not characters (long
  non-ASCII words): the original splits them into pieces, tensorflow-text
  gives `[UNK]`.
tests/export/test_export_litert.py checks that nothing else differs; the
README and docs/export.md say the same to users.
"""

import tensorflow as tf

from keras_bert_impl.export.serving_head import trim_to_longest
from keras_bert_impl.tokenizers.bert_packer import truncation_lengths


class LiteRTPreprocessor(tf.Module):
    """Raw strings to the backbone's inputs with LiteRT-native kernels.

    A `tf.Module`: it tracks its two tokenizer ops' models, so it can be
    saved (and converted) on its own.

    Same call as `BertPreprocessor` (a batch of strings, or a tuple of two
    for sentence pairs) and same outputs, truncated as the preprocessor's
    packer, padded to the batch's longest text or to `sequence_length`.

    Args:
        preprocessor: the `BertPreprocessor` to mirror (its tokenizer's
            vocabulary and casing, its packer's length and truncation).
        pad_to_longest: bool. True pads each batch to its longest text (a
            sentence of 10 pieces costs 12 positions, not `sequence_length`);
            False to `sequence_length`, static shapes, as GPU and NPU
            delegates want.
    """

    def __init__(self, preprocessor, pad_to_longest=True):
        import tensorflow_text as tf_text

        super().__init__()

        tokenizer = preprocessor.tokenizer
        packer = preprocessor.packer
        if tokenizer.strip_accents not in (None, tokenizer.lowercase):
            raise ValueError(
                f"LiteRT export: the tokenizer has lowercase={tokenizer.lowercase} "
                f"and strip_accents={tokenizer.strip_accents}; LiteRT's BERT "
                "normalizer strips accents exactly when it lower-cases. Export "
                "with format='saved_model', or a tokenizer with "
                "strip_accents=None."
            )
        if not tokenizer.split_on_cjk:
            raise ValueError(
                "LiteRT export: the tokenizer has split_on_cjk=False; LiteRT's "
                "BERT pre-tokenizer always splits CJK characters. Export with "
                "format='saved_model'."
            )
        self.sequence_length = packer.sequence_length
        self.pad_to_longest = pad_to_longest
        self.truncate = packer.truncate
        self.cls_token_id = packer.cls_token_id
        self.sep_token_id = packer.sep_token_id
        self.pad_token_id = packer.pad_token_id
        self._normalizer = tf_text.FastBertNormalizer(
            lower_case_nfd_strip_accents=tokenizer.lowercase
        )
        # Its own BERT pre-tokenization (whitespace, punctuation, CJK), words
        # of more than max_chars_per_word bytes as [UNK]; repeated tokens as
        # BertTokenizer reads them.
        self._word_piece = tokenizer.end_to_end_word_piece

    def _dense_pieces(self, texts, width):
        """The first `width` pieces of each text `[batch, width]`, and counts."""
        pieces = self._word_piece.tokenize(self._normalizer.normalize(texts))
        lengths = tf.cast(pieces.row_lengths(), tf.int32)
        dense = pieces.to_tensor(
            default_value=self.pad_token_id,
            shape=tf.stack([tf.shape(texts)[0], width]),
        )
        return dense, lengths

    def __call__(self, segments):
        texts = segments if isinstance(segments, tuple) else (segments,)
        length = self.sequence_length
        positions = tf.range(length)[tf.newaxis, :]
        first, length_a = self._dense_pieces(texts[0], length)
        if len(texts) == 1:
            keep_a = tf.minimum(length_a, length - 2)[:, tf.newaxis]
            keep_b = tf.zeros_like(keep_a)
            second = tf.zeros_like(first)
        else:
            second, length_b = self._dense_pieces(texts[1], length)
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
