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

from keras_bert_impl.export.piece_packer import PiecePacker


class LiteRTPreprocessor(PiecePacker):
    """Raw strings to the backbone's inputs with LiteRT-native kernels.

    A `PiecePacker` (a `tf.Module`: it tracks its two tokenizer ops' models,
    so it can be saved and converted on its own); same call and arguments.
    """

    def __init__(self, preprocessor, pad_to_longest=True):
        import tensorflow_text as tf_text

        self.check_supported(preprocessor)
        super().__init__(preprocessor, pad_to_longest)
        tokenizer = preprocessor.tokenizer
        self._normalizer = tf_text.FastBertNormalizer(
            lower_case_nfd_strip_accents=tokenizer.lowercase
        )
        # Its own BERT pre-tokenization (whitespace, punctuation, CJK), words
        # of more than max_chars_per_word bytes as [UNK]; repeated tokens as
        # BertTokenizer reads them.
        self._word_piece = tokenizer.end_to_end_word_piece

    @staticmethod
    def check_supported(preprocessor):
        """Raises a ValueError naming the fix if LiteRT's tokenizer cannot
        follow `preprocessor`'s options (cheap: nothing is built)."""
        tokenizer = preprocessor.tokenizer
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

    def dense_pieces(self, texts, width):
        pieces = self._word_piece.tokenize(self._normalizer.normalize(texts))
        lengths = tf.cast(pieces.row_lengths(), tf.int32)
        dense = pieces.to_tensor(
            default_value=self.pad_token_id,
            shape=tf.stack([tf.shape(texts)[0], width]),
        )
        return dense, lengths
