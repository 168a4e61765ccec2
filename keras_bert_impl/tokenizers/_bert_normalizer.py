"""BERT's basic tokenization (cleaning, casing, accents, word splitting) as tf ops.

This reproduces the reference `BasicTokenizer` of Google's BERT / Hugging Face's
pure-Python `BertTokenizer` character for character:

1. clean text: drop U+0000, U+FFFD and every category-C character except
   `\\t \\n \\r`; those three, category Zs, and U+2028/U+2029 (which Python's
   `str.split()` also splits on) separate words;
2. surround each CJK ideograph (the reference's code point ranges) with spaces;
3. NFC-normalise the text;
4. per whitespace word: `str.lower()` (full Unicode lower-casing, final sigma
   included) and/or accent stripping (NFD, then drop category Mn);
5. split off every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126
   and category P*) as a word of its own.

Instead of regular expressions over whole strings, the text is decoded to code
points and every step is a vectorised table look-up over all code points of the
batch. The tables are computed once per process from Python's own `unicodedata`
and `str.lower()`, i.e. from exactly the functions the reference calls, so the
two agree on every code point of the running Python's Unicode version. Working
per code point also keeps, for each output character, the index of the input
character it came from, which gives exact offsets into the original string.

NFC (step 3) is applied with `tensorflow_text.normalize_utf8` only when accents
are kept: with accent stripping, NFD(NFC(x)) == NFD(x), so NFC changes nothing.

Known, deliberate gaps (not seen in any real corpus):
- NFD's canonical re-ordering is not applied to the (rare) combining characters
  that are not category Mn and so survive accent stripping.
- Code points above U+10FFFF or lone surrogates cannot occur in UTF-8 input.
"""

import functools
import unicodedata

import numpy as np

# Field layout of the per-code-point int32 table.
_CP_MASK = (1 << 21) - 1  # first output code point
_NOUT_SHIFT = 21  # number of output code points (0..3)
_CLASS_SHIFT = 23  # DROP / SPACE / SINGLE / WORD
_SIGMA_SHIFT = 25  # case-ignorable / cased / other, for the final-sigma rule

DROP, SPACE, SINGLE, WORD = 0, 1, 2, 3
_SIGMA_IGNORABLE, _SIGMA_CASED, _SIGMA_OTHER = 0, 1, 2

CAPITAL_SIGMA = 0x03A3
SMALL_SIGMA = 0x03C3
FINAL_SIGMA = 0x03C2


# The reference's `_is_chinese_char` code point ranges (inclusive).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_cjk(cp):
    """The reference's `_is_chinese_char`: `cp` in `CJK_RANGES`."""
    return any(low <= cp <= high for low, high in CJK_RANGES)


def is_punctuation(char):
    """The reference's `_is_punctuation`."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _strip_accents(text):
    return "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
    )


def _sigma_class(char):
    """Python's case-ignorable / cased properties, read off `str.lower()`.

    `str.lower()` maps U+03A3 to final sigma iff the previous non-case-ignorable
    character is cased and the next one is not cased (or absent); probing it
    with `char` next to a sigma recovers the two properties exactly.
    """
    if ("A" + char + "\u03a3").lower()[-1] != "\u03c2":
        return _SIGMA_OTHER  # neither case-ignorable nor cased
    if (char + "\u03a3").lower()[-1] == "\u03c2":
        return _SIGMA_CASED  # cased and not case-ignorable
    return _SIGMA_IGNORABLE


@functools.cache
def build_tables(lowercase, strip_accents, split_on_cjk):
    """Per-code-point tables for one normalisation mode.

    Returns:
        `(info, extra_keys, extra_values)`: `info` is an int32 array over all
        code points packing the first output code point, the number of output
        code points, the character class and the final-sigma class;
        `extra_keys` (sorted) / `extra_values` (`[n, 2]`) hold the second and
        third output code points of the code points that expand to several.
    """
    size = 0x110000
    info = np.arange(size, dtype=np.int64)  # DROP, 0 outputs, case-ignorable
    extra = {}
    space_cps = {0x09, 0x0A, 0x0D, 0x2028, 0x2029}
    for cp in range(size):
        char = chr(cp)
        category = unicodedata.category(char)
        if cp in space_cps or category == "Zs":
            info[cp] = (
                cp | 1 << _NOUT_SHIFT | SPACE << _CLASS_SHIFT
            ) | _SIGMA_OTHER << _SIGMA_SHIFT
            continue
        if category[0] == "C" or cp == 0xFFFD:
            continue  # removed by the reference's _clean_text
        if lowercase and strip_accents:
            out = _strip_accents(char.lower())
        elif lowercase:
            out = char.lower()
        elif strip_accents:
            out = _strip_accents(char)
        else:
            out = char
        if split_on_cjk and is_cjk(cp):
            klass = SINGLE
        elif out and is_punctuation(out[0]):
            klass = SINGLE
        else:
            klass = WORD
        sigma = _sigma_class(char) if lowercase else _SIGMA_OTHER
        first = ord(out[0]) if out else 0
        info[cp] = (
            first
            | len(out) << _NOUT_SHIFT
            | klass << _CLASS_SHIFT
            | sigma << _SIGMA_SHIFT
        )
        if len(out) > 1:
            extra[cp] = [ord(c) for c in out[1:]] + [0] * (3 - len(out))
    keys = np.array(sorted(extra), dtype=np.int32)
    values = np.array([extra[k] for k in sorted(extra)], dtype=np.int32)
    return info.astype(np.int32), keys, values.reshape([-1, 2])


def _no_autograph(fn):
    """Explicit tf control flow only: tracing skips AutoGraph's slow rewrite."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)


def _tf():
    import tensorflow as tf

    return tf


def utf8_length(cps):
    """Number of UTF-8 bytes of each code point."""
    tf = _tf()
    one = tf.ones_like(cps)
    zero = tf.zeros_like(cps)
    return (
        one
        + tf.where(cps >= 0x80, one, zero)
        + tf.where(cps >= 0x800, one, zero)
        + tf.where(cps >= 0x10000, one, zero)
    )


def _shift_right(x, fill):
    """`x` moved one step right along its only axis, `fill` entering first."""
    tf = _tf()
    return tf.concat([tf.fill([1], fill), x[:-1]], axis=0)[: tf.shape(x)[0]]


def _row_of(positions, splits):
    """Index of the row (given by `splits`) holding each flat position."""
    tf = _tf()
    return tf.searchsorted(splits, positions, side="right") - 1


def _final_sigma(cps, sigma, splits):
    """Positions of `cps` holding a capital sigma that lower-cases to final ς.

    Python's rule (applied by the reference to each whitespace word): the
    previous non-case-ignorable character is cased and the next one is not
    cased or absent. Characters dropped by the cleaning step count as
    case-ignorable (they are absent when the reference lower-cases); spaces
    and CJK ideographs are neither cased nor ignorable, so they end a word the
    same way the reference's word boundaries do. `splits` are the row splits
    of the strings in `cps`. Returns a bool vector.
    """
    tf = _tf()
    is_sigma = tf.equal(cps, CAPITAL_SIGMA)

    def compute():
        non_ignorable = tf.not_equal(sigma, _SIGMA_IGNORABLE)
        positions = tf.cast(tf.where(non_ignorable)[:, 0], tf.int32)
        count = tf.shape(positions)[0]
        sigma_positions = tf.cast(tf.where(is_sigma)[:, 0], tf.int32)
        # Rank of each sigma among the non-ignorable characters.
        rank = tf.gather(tf.cumsum(tf.cast(non_ignorable, tf.int32)), sigma_positions)
        rank = rank - 1
        row = _row_of(sigma_positions, splits)
        row_start = tf.gather(splits, row)
        row_limit = tf.gather(splits, row + 1)
        prev_pos = tf.gather(positions, tf.maximum(rank - 1, 0))
        has_prev = (rank > 0) & (prev_pos >= row_start)
        prev_cased = has_prev & tf.equal(tf.gather(sigma, prev_pos), _SIGMA_CASED)
        next_pos = tf.gather(positions, tf.minimum(rank + 1, count - 1))
        has_next = (rank + 1 < count) & (next_pos < row_limit)
        next_cased = has_next & tf.equal(tf.gather(sigma, next_pos), _SIGMA_CASED)
        final = tf.cast(prev_cased & ~next_cased, tf.int32)
        scattered = tf.scatter_nd(
            tf.expand_dims(sigma_positions, 1), final, tf.shape(cps)
        )
        return scattered > 0

    return tf.cond(tf.reduce_any(is_sigma), compute, lambda: tf.zeros_like(is_sigma))


class Normalizer:
    """Vectorised basic tokenization: strings → normalised words (+ alignment).

    Holds the tables as tf constants; all methods are pure tf ops usable
    eagerly, in `tf.function`, `tf.data` and SavedModels.
    """

    def __init__(self, lowercase=True, strip_accents=None, split_on_cjk=True):
        tf = _tf()
        if strip_accents is None:
            strip_accents = lowercase
        self.lowercase = bool(lowercase)
        self.strip_accents = bool(strip_accents)
        self.split_on_cjk = bool(split_on_cjk)
        self.nfc_first = not self.strip_accents
        info, keys, values = build_tables(
            self.lowercase, self.strip_accents, self.split_on_cjk
        )
        self.info = tf.constant(info)
        self.extra_keys = tf.constant(keys)
        self.extra_values = tf.constant(values)
        self.has_extra = len(keys) > 0

    def _lookup(self, cps):
        tf = _tf()
        info = tf.gather(self.info, cps)
        first = tf.bitwise.bitwise_and(info, _CP_MASK)
        n_out = tf.bitwise.bitwise_and(tf.bitwise.right_shift(info, _NOUT_SHIFT), 3)
        klass = tf.bitwise.bitwise_and(tf.bitwise.right_shift(info, _CLASS_SHIFT), 3)
        sigma = tf.bitwise.bitwise_and(tf.bitwise.right_shift(info, _SIGMA_SHIFT), 3)
        return first, n_out, klass, sigma

    def _expand(self, first, n_out, klass, cps, splits):
        """Expand each code point into its `n_out` output code points.

        Returns `(out_cp, out_class, out_src, out_splits)`: `out_src` is the
        index of the input code point each output came from, `out_splits` the
        row splits of the strings in output positions.
        """
        tf = _tf()
        n = tf.shape(first)[0]

        def identity():
            return first, klass, tf.range(n), splits

        def expand():
            src = tf.repeat(tf.range(n), n_out)
            starts = tf.cumsum(n_out, exclusive=True)
            total = tf.reshape(tf.shape(src)[0], [1])
            out_splits = tf.gather(tf.concat([starts, total], 0), splits)
            k = tf.range(tf.shape(src)[0]) - tf.gather(starts, src)
            out_cp = tf.gather(first, src)
            if self.has_extra:
                later = tf.where(k > 0)
                later_src = tf.gather_nd(src, later)
                key = tf.searchsorted(
                    self.extra_keys, tf.gather(cps, later_src), side="left"
                )
                key = tf.minimum(key, tf.shape(self.extra_keys)[0] - 1)
                flat = tf.reshape(self.extra_values, [-1])
                value = tf.gather(flat, key * 2 + tf.gather_nd(k, later) - 1)
                out_cp = tf.tensor_scatter_nd_update(out_cp, later, value)
            return out_cp, tf.gather(klass, src), src, out_splits

        return tf.cond(tf.reduce_all(tf.equal(n_out, 1)), identity, expand)

    @_no_autograph
    def split(self, strings, with_alignment=False):
        """Basic-tokenizes a 1-D batch of strings.

        Args:
            strings: 1-D `tf.string` tensor.
            with_alignment: also return, for each output character, the byte
                and code-point span in the original string it came from.

        Returns:
            A dict with `words` (`tf.RaggedTensor` of code points, one row per
            word, all words of all strings in order), `word_rows` (int32, the
            string index of each word) and, with alignment, `byte_start`,
            `byte_end`, `char_start`, `char_end` (int32) for every code point
            of `words.flat_values` (offsets relative to the start of their
            string).
        """
        tf = _tf()
        if with_alignment:
            decoded, byte_starts = tf.strings.unicode_decode_with_offsets(
                strings, "UTF-8", errors="replace", replacement_char=0xFFFD
            )
        else:
            decoded = tf.strings.unicode_decode(
                strings, "UTF-8", errors="replace", replacement_char=0xFFFD
            )
        cps0 = decoded.flat_values
        splits0 = tf.cast(decoded.row_splits, tf.int32)
        if with_alignment:
            orig_byte_start = tf.cast(byte_starts.flat_values, tf.int32)
            orig_byte_end = orig_byte_start + utf8_length(cps0)
            positions = tf.range(tf.shape(cps0)[0])
            orig_char_start = positions - tf.gather(
                splits0, _row_of(positions, splits0)
            )

        if self.nfc_first:
            cps, splits, alignment = self._clean_and_nfc(
                strings, cps0, splits0, with_alignment
            )
            if with_alignment:
                first_orig, last_orig = alignment
                src_byte_start = tf.gather(orig_byte_start, first_orig)
                src_byte_end = tf.gather(orig_byte_end, last_orig)
                src_char_start = tf.gather(orig_char_start, first_orig)
                src_char_end = tf.gather(orig_char_start, last_orig) + 1
        else:
            cps, splits = cps0, splits0
            if with_alignment:
                src_byte_start, src_byte_end = orig_byte_start, orig_byte_end
                src_char_start = orig_char_start
                src_char_end = orig_char_start + 1

        first, n_out, klass, sigma = self._lookup(cps)
        if self.lowercase:
            first = tf.where(_final_sigma(cps, sigma, splits), FINAL_SIGMA, first)
        out_cp, out_class, out_src, out_splits = self._expand(
            first, n_out, klass, cps, splits
        )

        # Word segmentation over the output characters: a word is a run of
        # WORD characters within one string; SINGLE characters are words of
        # their own; SPACE characters separate and are dropped.
        size = tf.shape(out_cp)[0]
        is_word = tf.equal(out_class, WORD)
        row_start = tf.scatter_nd(
            tf.expand_dims(out_splits[:-1], 1),
            tf.ones_like(out_splits[:-1]),
            tf.reshape(size + 1, [1]),
        )[:size]
        continues = is_word & _shift_right(is_word, False) & tf.equal(row_start, 0)
        kept = tf.cast(tf.where(tf.not_equal(out_class, SPACE))[:, 0], tf.int32)
        word_starts = tf.cast(tf.where(~tf.gather(continues, kept))[:, 0], tf.int32)
        words = tf.RaggedTensor.from_row_starts(
            tf.gather(out_cp, kept), word_starts, validate=False
        )
        word_rows = _row_of(tf.gather(kept, word_starts), out_splits)
        result = {"words": words, "word_rows": word_rows}
        if with_alignment:
            kept_src = tf.gather(out_src, kept)
            result["byte_start"] = tf.gather(src_byte_start, kept_src)
            result["byte_end"] = tf.gather(src_byte_end, kept_src)
            result["char_start"] = tf.gather(src_char_start, kept_src)
            result["char_end"] = tf.gather(src_char_end, kept_src)
        return result

    def _clean_and_nfc(self, strings, cps0, splits0, with_alignment):
        """Drops the removed characters, then NFC-normalises (accents kept).

        Returns the NFC code points, their row splits and, with alignment,
        for each NFC code point the indices of the first and last original
        code points it came from.
        """
        import tensorflow_text as tf_text

        tf = _tf()
        _, _, klass0, _ = self._lookup(cps0)
        keep = tf.not_equal(klass0, DROP)
        kept_index = tf.cast(tf.where(keep)[:, 0], tf.int32)
        kept_before = tf.concat(
            [tf.zeros([1], tf.int32), tf.cumsum(tf.cast(keep, tf.int32))], 0
        )
        cleaned = tf.RaggedTensor.from_row_splits(
            tf.gather(cps0, kept_index),
            tf.cast(tf.gather(kept_before, splits0), tf.int64),
            validate=False,
        )
        cleaned_strings = tf.strings.unicode_encode(cleaned, "UTF-8")
        if not with_alignment:
            nfc = tf_text.normalize_utf8(cleaned_strings, "NFC")
            decoded = tf.strings.unicode_decode(
                nfc, "UTF-8", errors="replace", replacement_char=0xFFFD
            )
            return decoded.flat_values, tf.cast(decoded.row_splits, tf.int32), None
        # One trailing empty string: tensorflow-text's find_source_offsets
        # crashes on an empty batch. It adds no character.
        nfc, offsets_map = tf_text.normalize_utf8_with_offsets_map(
            tf.concat([cleaned_strings, [""]], 0), "NFC"
        )
        decoded, starts = tf.strings.unicode_decode_with_offsets(
            nfc, "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        nfc_cps = decoded.flat_values
        nfc_splits = tf.cast(decoded.row_splits, tf.int32)[:-1]
        nfc_rows = _row_of(tf.range(tf.shape(nfc_cps)[0]), nfc_splits)
        # Character boundaries of each NFC string: every start, then the end
        # (tensorflow-text's find_source_offsets fails on rows without any
        # offset, and the end is what the last character's span needs).
        lengths = tf.strings.length(nfc)[:, tf.newaxis]
        boundaries = tf.concat(
            [starts, tf.RaggedTensor.from_tensor(tf.cast(lengths, starts.dtype))],
            axis=1,
        )
        # Byte offsets in the cleaned strings of each NFC character's span.
        mapped = tf.cast(
            tf_text.find_source_offsets(offsets_map, boundaries).flat_values, tf.int32
        )
        index = tf.range(tf.shape(nfc_cps)[0]) + nfc_rows
        src_start = tf.gather(mapped, index)
        src_end = tf.gather(mapped, index + 1)
        # Global byte position of every cleaned character over the batch.
        clean_len = utf8_length(cleaned.flat_values)
        clean_global = tf.cumsum(clean_len, exclusive=True)
        clean_total = tf.reshape(tf.reduce_sum(clean_len), [1])
        row_base = tf.gather(
            tf.concat([clean_global, clean_total], 0),
            tf.cast(cleaned.row_splits, tf.int32),
        )
        g_start = src_start + tf.gather(row_base, nfc_rows)
        g_end = src_end + tf.gather(row_base, nfc_rows)
        first = tf.searchsorted(clean_global, g_start, side="right") - 1
        last = tf.searchsorted(clean_global, g_end, side="left") - 1
        alignment = (tf.gather(kept_index, first), tf.gather(kept_index, last))
        return nfc_cps, nfc_splits, alignment
