import contextlib
import os

import keras
import tensorflow as tf

from keras_bert_impl.tokenizers import _preprocessing_utils as utils
from keras_bert_impl.tokenizers._bert_normalizer import Normalizer
from keras_bert_impl.tokenizers._bert_normalizer import is_punctuation
from keras_bert_impl.tokenizers._bert_normalizer import utf8_length
from keras_bert_impl.tokenizers._preprocessing_utils import (
    no_autograph as _no_autograph,
)
from keras_bert_impl.utils.preset_vocabulary import preset_vocabulary
from keras_bert_impl.utils.printable_ascii import PRINTABLE_ASCII
from keras_bert_impl.utils.vocabulary_file import read_vocabulary

_SPECIAL_TOKENS = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertTokenizer(keras.layers.Layer):
    """BERT's WordPiece tokenizer, identical to the reference, as tf ops.

    Splits raw strings into WordPiece token ids exactly like the reference
    tokenizer of Google's BERT as ported to Python by Hugging Face
    (`BasicTokenizer` + `WordpieceTokenizer`): control characters removed,
    whitespace split, optional lower-casing (`str.lower()`) and accent
    stripping (NFD, drop combining marks), CJK ideographs split one per word,
    punctuation split off, then greedy longest-match-first WordPiece with
    words of more than `max_chars_per_word` characters mapped to the unknown
    token. Special tokens written in the input text (e.g. "[MASK]") are not
    treated specially: they are split like any other text, as in the original.

    Everything runs as TensorFlow / tensorflow-text ops on every Keras backend:
    inside `tf.data` and `tf.function` the layer takes and returns tf tensors
    (`tf.RaggedTensor` for ragged results), and it can be exported in a
    SavedModel. Called eagerly, it accepts Python strings, lists, NumPy arrays
    or tf tensors and returns Python lists for ragged results (one list of ids
    per input string, or a single list for a scalar input).

    Offsets are positions in the original input string, in UTF-8 bytes
    (`unit="byte"`, the default, what tf ops and `tf.strings.substr` use) or in
    Unicode code points (`unit="char"`, i.e. Python `str` indices). A token's
    span covers the input characters its normalised text came from (accents,
    dropped control characters inside a word are not part of neighbouring
    spans; a character that normalises into several characters split across
    two tokens is covered by both). Word ids number, from 0 within each input
    string, the words of the basic tokenization (whitespace-separated chunks
    with each punctuation character and each CJK ideograph a word of its own);
    all WordPiece tokens of a word share its id. That is the grouping used by
    whole-word masking and first-subword labelling, and equals Hugging Face's
    `BertTokenizerFast(...).word_ids()`.

    Invalid UTF-8: each invalid byte sequence is decoded as U+FFFD, which the
    reference's text cleaning deletes; the result is what the reference gives
    for `data.decode("utf-8", errors="replace")`, and offsets still refer to
    the bytes of the original input.

    Args:
        vocabulary: path to a `vocab.txt` (one token per line, the line number
            is the id) or a list of tokens.
        lowercase: lower-case the text (uncased models).
        strip_accents: remove accents (NFD, then drop category Mn). `None`
            means "same as `lowercase`", as in the reference.
        split_on_cjk: put each CJK ideograph in a word of its own.
        max_chars_per_word: longer words become `unk_token`.
        suffix_indicator: prefix of word-continuation pieces.
        unk_token, pad_token, cls_token, sep_token, mask_token: special tokens;
            each must be in the vocabulary.
        dtype: integer dtype of the token ids.

    Example:
    >>> tokenizer = BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick",
    ...      "fox", "."]
    ... )
    >>> tokenizer("The quick fox.")
    [5, 6, 7, 8, 9]
    >>> tokenizer(["The quick fox.", "Fox!"])
    [[5, 6, 7, 8, 9], [8, 1]]
    >>> tokenizer.tokenize_with_offsets("The quick fox.")
    ([5, 6, 7, 8, 9], [0, 4, 6, 10, 13], [3, 6, 9, 13, 14])
    >>> tokenizer.detokenize([5, 6, 7, 8, 9])
    'the quick fox .'
    """

    def __init__(
        self,
        vocabulary,
        lowercase=True,
        strip_accents=None,
        split_on_cjk=True,
        max_chars_per_word=100,
        suffix_indicator="##",
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        dtype="int32",
        **kwargs,
    ):
        if not keras.backend.is_int_dtype(dtype):
            raise ValueError(f"`dtype` must be an integer type. Received: {dtype}")
        super().__init__(dtype=dtype, **kwargs)
        # Inputs are strings: keep them as tf tensors, never backend tensors.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

        if isinstance(vocabulary, (str, os.PathLike)):
            source = f"vocabulary file '{os.fspath(vocabulary)}'"
            tokens = read_vocabulary(vocabulary)
        elif isinstance(vocabulary, (list, tuple)):
            source = "vocabulary list"
            tokens = [str(t) for t in vocabulary]
        else:
            raise ValueError(
                "`vocabulary` must be a path to a vocab.txt or a list of tokens. "
                f"Received: {type(vocabulary).__name__}"
            )
        if not tokens:
            raise ValueError(f"The {source} is empty.")
        self.vocabulary = tokens
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split_on_cjk = split_on_cjk
        self.max_chars_per_word = int(max_chars_per_word)
        self.suffix_indicator = suffix_indicator
        self.unk_token = unk_token
        self.pad_token = pad_token
        self.cls_token = cls_token
        self.sep_token = sep_token
        self.mask_token = mask_token

        # As the reference's dict: a repeated token maps to its last line.
        self._token_to_id = {token: i for i, token in enumerate(tokens)}
        for attribute in _SPECIAL_TOKENS:
            token = getattr(self, attribute)
            if token not in self._token_to_id:
                raise ValueError(
                    f"The {source} does not contain the {attribute} "
                    f"'{token}'. A BERT vocabulary needs all of "
                    + ", ".join(repr(getattr(self, a)) for a in _SPECIAL_TOKENS)
                    + "; pass the right token with "
                    f"`{attribute}=...` if this vocabulary spells it differently."
                )
            setattr(self, f"{attribute}_id", self._token_to_id[token])

        self._normalizer = Normalizer(lowercase, strip_accents, split_on_cjk)
        self._init_tf_ops()
        self._printable_ascii_only = False

    def _init_tf_ops(self):
        import tensorflow_text as tf_text

        # tensorflow-text needs unique tokens; as in the reference, a repeated
        # token means its last line, so earlier copies become placeholders
        # (DEL + line number) that no normalised word can ever match.
        pieces = [
            token if self._token_to_id[token] == i else f"\x7f{i}"
            for i, token in enumerate(self.vocabulary)
        ]
        self._word_piece = tf_text.FastWordpieceTokenizer(
            vocab=pieces,
            suffix_indicator=self.suffix_indicator,
            max_bytes_per_word=4 * self.max_chars_per_word + 4,
            token_out_type=tf.int32,
            unknown_token=self.unk_token,
            no_pretokenization=True,
            support_detokenization=False,
        )
        # For printable-ASCII strings BERT's normalisation is plain ASCII
        # lower-casing and tensorflow-text's own whitespace/punctuation split
        # is the reference's, so its end-to-end WordPiece is exact there and
        # ~3x faster. Other strings take the general path. (LiteRT exports
        # use it for all text: it has LiteRT kernels, the general path not.)
        self.end_to_end_word_piece = tf_text.FastWordpieceTokenizer(
            vocab=pieces,
            suffix_indicator=self.suffix_indicator,
            max_bytes_per_word=self.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token=self.unk_token,
            no_pretokenization=False,
            support_detokenization=False,
        )
        self._use_fast_path = bool(self.suffix_indicator) and all(
            is_punctuation(c) for c in self.suffix_indicator
        )
        # 1 for tokens that can start a word (no suffix indicator).
        self._starts_word = tf.constant(
            [0 if t.startswith(self.suffix_indicator) else 1 for t in self.vocabulary],
            tf.int32,
        )
        self._vocabulary_tensor = tf.constant(self.vocabulary)

    # Vocabulary.
    def get_vocabulary(self):
        return list(self.vocabulary)

    def vocabulary_size(self):
        return len(self.vocabulary)

    def id_to_token(self, id):
        id = int(id)
        if id < 0 or id >= len(self.vocabulary):
            raise ValueError(
                f"`id` must be in range [0, {len(self.vocabulary) - 1}]. Received: {id}"
            )
        return self.vocabulary[id]

    def token_to_id(self, token):
        """The id of `token`; raises `KeyError` for a token not in the vocabulary."""
        if token not in self._token_to_id:
            raise KeyError(f"Token '{token}' is not in the vocabulary.")
        return self._token_to_id[token]

    # Tokenization.
    @contextlib.contextmanager
    def tracing_for_printable_ascii(self):
        """Graphs traced inside hold the printable-ASCII path alone.

        For a caller that knows every string the traced graph will ever see
        is printable ASCII (`utils.printable_ascii.all_printable_ascii`):
        the general path is most of the graph, and of its tracing and first
        run. A string outside that class fed to such a graph would be
        tokenized without BERT's normalisation (accents, CJK, control
        characters).
        """
        previous = self._printable_ascii_only
        self._printable_ascii_only = True
        try:
            yield
        finally:
            self._printable_ascii_only = previous

    @_no_autograph
    def _tokenize_tf(self, strings, offsets=None, word_ids=False):
        """The graph of the tokenizer for a 1-D `tf.string` batch.

        Returns a dict of `tf.RaggedTensor`s `[batch, (tokens)]`: `token_ids`,
        plus `start_offsets`/`end_offsets` if `offsets` is "byte" or "char",
        plus `word_ids` if requested.
        """
        if not self._use_fast_path:
            return self._tokenize_general(strings, offsets, word_ids)
        if self._printable_ascii_only:
            return self._tokenize_simple(strings, offsets, word_ids)
        simple = tf.strings.regex_full_match(strings, PRINTABLE_ASCII)

        def all_simple():
            return self._tokenize_simple(strings, offsets, word_ids)

        def mixed():
            simple_rows = tf.where(simple)[:, 0]
            other_rows = tf.where(~simple)[:, 0]
            first = self._tokenize_simple(
                tf.gather(strings, simple_rows), offsets, word_ids
            )
            second = self._tokenize_general(
                tf.gather(strings, other_rows), offsets, word_ids
            )
            order = tf.math.invert_permutation(tf.concat([simple_rows, other_rows], 0))
            return {
                key: tf.gather(tf.concat([first[key], second[key]], 0), order)
                for key in first
            }

        return tf.cond(tf.reduce_all(simple), all_simple, mixed)

    @_no_autograph
    def _tokenize_simple(self, strings, offsets, word_ids):
        """Exact path for printable-ASCII strings (see `_init_tf_ops`)."""
        text = tf.strings.lower(strings) if self.lowercase else strings
        if offsets is None:
            ids = self.end_to_end_word_piece.tokenize(text)
        else:
            ids, starts, ends = self.end_to_end_word_piece.tokenize_with_offsets(text)
        outputs = {"token_ids": tf.cast(ids, self.compute_dtype)}
        if word_ids:
            # Punctuation is never inside a word, so with a punctuation suffix
            # indicator a token starts a new word iff it is not a suffix.
            count = tf.cumsum(tf.gather(self._starts_word, ids.flat_values))
            before = tf.gather(
                tf.concat([tf.zeros([1], tf.int32), count], 0), ids.row_splits[:-1]
            )
            outputs["word_ids"] = ids.with_flat_values(
                count - 1 - tf.gather(before, ids.value_rowids())
            )
        if offsets is not None:
            outputs["start_offsets"] = tf.cast(starts, tf.int32)
            outputs["end_offsets"] = tf.cast(ends, tf.int32)
        return outputs

    @_no_autograph
    def _tokenize_general(self, strings, offsets, word_ids):
        """Exact path for any string: the vectorised reference normalisation."""
        split = self._normalizer.split(strings, with_alignment=offsets is not None)
        words = split["words"]
        word_strings = tf.strings.unicode_encode(words, "UTF-8")
        too_long = words.row_lengths() > self.max_chars_per_word
        word_strings = tf.where(too_long, self.unk_token, word_strings)
        if offsets is None:
            pieces = self._word_piece.tokenize(word_strings)
        else:
            pieces, piece_starts, piece_ends = self._word_piece.tokenize_with_offsets(
                word_strings
            )
        word_rows = tf.cast(split["word_rows"], pieces.row_splits.dtype)
        by_string = tf.RaggedTensor.from_value_rowids(
            pieces, word_rows, nrows=tf.shape(strings, out_type=word_rows.dtype)[0]
        )
        ids = by_string.merge_dims(1, 2)
        outputs = {"token_ids": tf.cast(ids, self.compute_dtype)}
        token_word = pieces.value_rowids()
        if word_ids:
            first_word = tf.gather(by_string.row_splits, ids.value_rowids())
            outputs["word_ids"] = ids.with_flat_values(
                tf.cast(token_word - first_word, tf.int32)
            )
        if offsets is not None:
            chars = words.flat_values
            char_bytes = tf.cumsum(utf8_length(chars), exclusive=True)
            token_word = tf.cast(token_word, tf.int32)
            word_base = tf.gather(char_bytes, tf.cast(words.row_starts(), tf.int32))
            base = tf.gather(word_base, token_word)
            start = base + tf.cast(piece_starts.flat_values, tf.int32)
            end = base + tf.cast(piece_ends.flat_values, tf.int32)
            first_char = tf.searchsorted(char_bytes, start, side="left")
            last_char = tf.searchsorted(char_bytes, end, side="left") - 1
            # A too-long word was replaced by the unknown token: span it all.
            long_token = tf.gather(too_long, token_word)
            first_char = tf.where(
                long_token,
                tf.gather(tf.cast(words.row_starts(), tf.int32), token_word),
                first_char,
            )
            last_char = tf.where(
                long_token,
                tf.gather(tf.cast(words.row_limits(), tf.int32) - 1, token_word),
                last_char,
            )
            unit = "byte" if offsets == "byte" else "char"
            outputs["start_offsets"] = ids.with_flat_values(
                tf.gather(split[f"{unit}_start"], first_char)
            )
            outputs["end_offsets"] = ids.with_flat_values(
                tf.gather(split[f"{unit}_end"], last_char)
            )
        return outputs

    @_no_autograph
    def _apply(self, inputs, offsets=None, word_ids=False):
        if isinstance(inputs, (list, tuple)) and not inputs:
            strings = tf.zeros([0], tf.string)
        elif utils.in_tf_graph():
            strings = tf.convert_to_tensor(inputs)
        else:
            strings = utils.to_tf(inputs)
        if isinstance(strings, tf.RaggedTensor) or strings.dtype != tf.string:
            raise ValueError(
                "BertTokenizer takes strings: a string, a list of strings or a "
                f"1-D string tensor. Received: {inputs!r:.200}"
            )
        rank = strings.shape.rank
        if rank is not None and rank > 1:
            raise ValueError(
                "BertTokenizer takes a scalar string or a 1-D batch of strings. "
                f"Received shape {strings.shape}."
            )
        scalar = rank == 0
        with tf.device("cpu"):
            batch = tf.reshape(strings, [-1])
            outputs = self._tokenize_tf(batch, offsets=offsets, word_ids=word_ids)
            if scalar:
                outputs = {k: v[0] for k, v in outputs.items()}
        if utils.converting():
            outputs = {k: utils.to_list(v) for k, v in outputs.items()}
        return outputs

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and not inputs:
            inputs = tf.zeros([0], tf.string)
        return super().__call__(utils.convert_call_inputs(inputs), *args, **kwargs)

    @_no_autograph
    def call(self, inputs):
        return self._apply(inputs)["token_ids"]

    @_no_autograph
    def tokenize(self, inputs):
        """Token ids of each string (no [CLS]/[SEP]); same as calling the layer."""
        return self._apply(inputs)["token_ids"]

    @_no_autograph
    def tokenize_with_offsets(self, inputs, unit="byte"):
        """Token ids with their `(start, end)` spans in the original strings.

        Args:
            inputs: a string or a batch of strings.
            unit: "byte" (UTF-8 byte offsets, the default) or "char" (Unicode
                code point offsets, i.e. Python `str` indices).

        Returns:
            `(token_ids, start_offsets, end_offsets)`, each ragged like
            `tokenize`; `text[start:end]` (in the chosen unit) is the input
            text the token came from.
        """
        if unit not in ("byte", "char"):
            raise ValueError(f'`unit` must be "byte" or "char". Received: {unit!r}')
        outputs = self._apply(inputs, offsets=unit)
        return (
            outputs["token_ids"],
            outputs["start_offsets"],
            outputs["end_offsets"],
        )

    @_no_autograph
    def tokenize_with_word_ids(self, inputs):
        """Token ids and, per token, the index of its word in its string.

        Returns:
            `(token_ids, word_ids)`, both ragged like `tokenize`.
        """
        outputs = self._apply(inputs, word_ids=True)
        return outputs["token_ids"], outputs["word_ids"]

    @_no_autograph
    def word_ids(self, inputs):
        """Per token, the index (from 0) of the basic-tokenizer word it is in."""
        return self._apply(inputs, word_ids=True)["word_ids"]

    @_no_autograph
    def detokenize(self, inputs):
        """Token ids back to text: pieces joined by spaces, suffixes glued.

        Same as the reference's `convert_tokens_to_string`. Lower-casing,
        accents and spacing around punctuation are not restored.
        """
        if utils.in_tf_graph():
            ids = inputs
        else:
            ids = utils.to_tf(inputs)
        with tf.device("cpu"):
            if not isinstance(ids, tf.RaggedTensor):
                ids = tf.convert_to_tensor(ids)
            rank = ids.shape.rank
            if rank == 1 and not isinstance(ids, tf.RaggedTensor):
                ids = ids[tf.newaxis]
            tokens = tf.gather(self._vocabulary_tensor, tf.cast(ids, tf.int32))
            text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
            pattern = " " + "".join(
                c if c.isalnum() or ord(c) > 127 else "\\" + c
                for c in self.suffix_indicator
            )
            text = tf.strings.regex_replace(text, pattern, "")
            text = tf.strings.strip(text)
            if rank == 1:
                text = text[0]
        if utils.converting():
            return utils.to_output(text)
        return text

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": list(self.vocabulary),
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "split_on_cjk": self.split_on_cjk,
                "max_chars_per_word": self.max_chars_per_word,
                "suffix_indicator": self.suffix_indicator,
                "unk_token": self.unk_token,
                "pad_token": self.pad_token,
                "cls_token": self.cls_token,
                "sep_token": self.sep_token,
                "mask_token": self.mask_token,
            }
        )
        return config

    @classmethod
    def from_preset(cls, preset, vocabulary=None, **kwargs):
        """The tokenizer of a preset: its checked vocabulary and its casing.

        Args:
            preset: preset name or folder.
            vocabulary: optional path of a `vocab.txt` to check (sha256) and use.
            **kwargs: further `BertTokenizer` arguments.

        Example:
        ```python
        tokenizer = BertTokenizer.from_preset("all_minilm_l6_v2")
        tokenizer("The quick brown fox.")
        ```
        """
        path, config = preset_vocabulary(preset, vocabulary)
        kwargs.setdefault("lowercase", config.get("lowercase", True))
        kwargs.setdefault("strip_accents", config.get("strip_accents"))
        return cls(str(path), **kwargs)
