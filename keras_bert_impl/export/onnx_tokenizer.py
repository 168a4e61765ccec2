"""The tokenizer half of an ONNX export: raw strings to rows of piece ids.

ONNX has no tokenizer op. onnxruntime-extensions (custom ops, domain
`ai.onnx.contrib`) has BERT's two steps: `BasicTokenizer` (clean-up,
lower-casing, accent stripping, punctuation and CJK splits) and
`WordpieceTokenizer`. The graph runs them in an ONNX `Loop` over the batch
(`BasicTokenizer` reads one text per call), each text alone, and around them:
- before: RE2 rewrites (`StringRegexReplace`, `_REWRITES`) for what the op
  reads differently from the original: it misses full-width punctuation,
  keeps private-use characters and U+FFFD, does not split at U+1680, U+2028
  or U+2029, strips only Latin-1 accents from decomposed text;
- after: piece strings to ids (`LabelEncoder`, ONNX's standard ML domain),
  and the original's rule for a word WordPiece cannot split to its end: one
  `[UNK]` for the whole word (the op keeps the pieces it found before the
  `[UNK]` and drops the rest).
Each text becomes one row of `sequence_length + 1` int64s: its piece count,
then its first `sequence_length` piece ids (zeros after). `RowPacker` reads
those rows inside the converted TensorFlow graph and packs them as the
preprocessor's packer does (`PiecePacker`).

Where it still reads text differently from the original (measured on the
145,886 code points Python's Unicode 14 assigns, each alone and inside a word:
2,605 differ with the uncased vocabulary, 4,045 with the Chinese one, 102
with the cased one; tests/export/test_export_onnx.py checks real text):
- lower-casing and accent stripping (`lowercase=True`) outside Latin-1: the
  original decomposes (NFD) every character and drops its marks, the op only
  strips Latin-1 accents and lower-cases with its own table: "Ā" (U+0100),
  Arabic letters with hamza or madda, Hangul syllables, kana with voicing
  marks, Greek with tonos or a final sigma, full-width Latin capitals become
  `[UNK]` or other pieces.
- without lower-casing, text not in NFC (decomposed accents, compatibility
  singletons such as U+212B): our tokenizer composes it first (as Hugging
  Face's), the op does not.
- a NUL character ends the text (ONNX Runtime's strings are C strings).
- unassigned code points: the original deletes them, here they stay (and
  read as `[UNK]`).
On the tests' 90,978 real English texts (GLUE, BERT's sample text) none of
this occurs: every text gives the original's ids with all three vocabularies.
"""

import json

import numpy as np
import tensorflow as tf

from keras_bert_impl.export.piece_packer import PiecePacker

CONTRIB_DOMAIN = "ai.onnx.contrib"
"""onnxruntime-extensions' op domain (`get_library_path()` registers it)."""

_REWRITES = (
    # Tab, newline, carriage return and space separators split words, and (as
    # Python's `str.split`, the original's whitespace split) line and
    # paragraph separators; the op misses U+1680, U+2028, U+2029.
    ("whitespace", r"[\t\n\r\p{Zs}\x{2028}\x{2029}]", " "),
    # Then control, format, private-use and surrogate characters and U+FFFD
    # are deleted, as the original (and Hugging Face) does; the op keeps
    # private-use ones and U+FFFD. (Unassigned code points, which the
    # original deletes too, are left: matching them, a negated class of every
    # assigned category, costs RE2 0.85 ms per call to compile.)
    ("controls", r"[\p{C}\x{FFFD}]", ""),
    # The original splits at every ASCII symbol and Unicode punctuation
    # character; the op misses full-width ones (U+FF01-U+FF0F, ...).
    ("punctuation", r"([!-/:-@\[-`{-~]|\p{P})", r" \1 "),
)
"""RE2 rewrites (name, pattern, replacement) that make the op's input read
as the original reads it, in order."""

_STRIP_MARKS = ("marks", r"\p{Mn}", "")
"""With accent stripping, the original deletes every nonspacing mark after
decomposing (NFD); the op strips only Latin-1's. Deleting the marks the text
already has fixes decomposed input (precomposed letters outside Latin-1 stay
the op's: above)."""


def _rewrites(strip_accents):
    return (*_REWRITES, _STRIP_MARKS) if strip_accents else _REWRITES


def tokenizer_graph(tokenizer, sequence_length, text_inputs, opset):
    """An ONNX model: each of `text_inputs` (1-D strings) to `{name}_pieces`.

    Args:
        tokenizer: our `BertTokenizer` (vocabulary, casing, special tokens).
        sequence_length: int. Pieces kept per text (the packer's length).
        text_inputs: the graph's input names, e.g. `("text_a", "text_b")`.
        opset: int. The default domain's opset (the model graph's).

    Returns:
        `onnx.ModelProto` with outputs `{name}_pieces`, int64
        `[batch, sequence_length + 1]` (count, then ids).
    """
    from onnx import TensorProto
    from onnx import helper

    width = sequence_length
    vocabulary = {token: index for index, token in enumerate(tokenizer.vocabulary)}
    unk_id = vocabulary[tokenizer.unk_token]
    # Constants of the outer graph, which the loop bodies read too.
    constants = [
        _constant(name, TensorProto.INT64, [1], [value])
        for name, value in (
            ("zero", 0),
            ("one", 1),
            ("minus_one", -1),
            ("width", width),
            ("unk_id", unk_id),
        )
    ]
    constants += [
        _constant("no_rows", TensorProto.INT64, [0], []),
        _constant("axis_zero", TensorProto.INT64, [], [0]),
    ]
    outer_names = tuple(node.output[0] for node in constants)
    nodes = [*constants, _constant("true", TensorProto.BOOL, [], [True])]
    strip_accents = tokenizer.strip_accents
    if strip_accents is None:  # the original's rule: with lower-casing
        strip_accents = tokenizer.lowercase
    rewrites = _rewrites(strip_accents)
    for key, pattern, replacement in rewrites:
        nodes += [
            _constant(f"{key}_pattern", TensorProto.STRING, [1], [pattern.encode()]),
            _constant(
                f"{key}_replacement", TensorProto.STRING, [1], [replacement.encode()]
            ),
        ]
    word_ops = [
        helper.make_node(
            "BasicTokenizer",
            ["one_text"],
            ["words"],
            domain=CONTRIB_DOMAIN,
            do_lower_case=int(tokenizer.lowercase),
            strip_accents=int(bool(strip_accents)),
            tokenize_chinese_chars=int(tokenizer.split_on_cjk),
            tokenize_punctuation=1,
            remove_control_chars=1,
        ),
        helper.make_node(
            "WordpieceTokenizer",
            ["words", "no_rows"],
            ["piece_strings", "word_splits", "word_begins", "word_ends"],
            domain=CONTRIB_DOMAIN,
            vocab=json.dumps(vocabulary),
            suffix_indicator=tokenizer.suffix_indicator,
            unknown_token=tokenizer.unk_token,
            max_input_chars_per_word=tokenizer.max_chars_per_word,
        ),
        helper.make_node(
            "LabelEncoder",
            ["piece_strings"],
            ["ids"],
            domain="ai.onnx.ml",
            keys_strings=list(vocabulary),
            values_int64s=list(vocabulary.values()),
            default_int64=unk_id,
        ),
    ]
    for name in text_inputs:
        text = name
        for key, _, _ in rewrites:
            nodes.append(
                helper.make_node(
                    "StringRegexReplace",
                    [text, f"{key}_pattern", f"{key}_replacement"],
                    [f"{name}_{key}"],
                    domain=CONTRIB_DOMAIN,
                )
            )
            text = f"{name}_{key}"
        nodes += [
            helper.make_node("Shape", [name], [f"{name}_batch_1d"]),
            helper.make_node(
                "Squeeze", [f"{name}_batch_1d", "zero"], [f"{name}_batch"]
            ),
            helper.make_node(
                "Loop",
                [f"{name}_batch", "true"],
                [f"{name}_pieces"],
                body=_loop_body(word_ops, name, text, width, outer_names),
            ),
        ]
    graph = helper.make_graph(
        nodes,
        "bert_tokenizer",
        [
            helper.make_tensor_value_info(name, TensorProto.STRING, [None])
            for name in text_inputs
        ],
        [
            helper.make_tensor_value_info(
                f"{name}_pieces", TensorProto.INT64, [None, width + 1]
            )
            for name in text_inputs
        ],
    )
    return helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", opset),
            helper.make_opsetid(CONTRIB_DOMAIN, 1),
            # LabelEncoder's version 2 (string keys, int64 values): the ML
            # opset tf2onnx's graphs import, which the merged model shares.
            helper.make_opsetid("ai.onnx.ml", 2),
        ],
    )


def _constant(name, dtype, shape, values):
    from onnx import helper

    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, dtype, shape, values)
    )


def _loop_body(word_ops, name, source, width, outer_names):
    """One iteration: text `index` of `source` (input `name` rewritten) ->
    [count, pieces[:width], zeros to width]. Names other than `source` and
    `outer_names` (the outer graph's constants) are prefixed with the input's:
    ONNX wants every name in the model (subgraphs included) assigned once."""
    from onnx import TensorProto
    from onnx import helper
    from onnx import numpy_helper

    def local(names):
        return [n if n in (*outer_names, source) else f"{name}_{n}" for n in names]

    zeros, ones = (numpy_helper.from_array(np.array([v], "int64")) for v in (0, 1))
    steps = [
        ("Gather", [source, "index"], ["this_text"], {"axis": 0}),
        ("Unsqueeze", ["this_text", "zero"], ["one_text"], {}),
        *word_ops,
        # The original's rule for a word WordPiece cannot split to its end:
        # one [UNK] for the word. The op gives the pieces found before the
        # failure, then [UNK] (its last piece): keep only that [UNK].
        ("Shape", ["ids"], ["piece_count"], {}),
        ("Slice", ["word_splits", "one", "minus_one"], ["inner_splits"], {}),
        ("Shape", ["inner_splits"], ["inner_count"], {}),
        ("ConstantOfShape", ["piece_count"], ["piece_zeros"], {"value": zeros}),
        ("ConstantOfShape", ["inner_count"], ["split_ones"], {"value": ones}),
        (
            "ScatterElements",
            ["piece_zeros", "inner_splits", "split_ones"],
            ["word_starts"],
            {"axis": 0, "reduction": "add"},
        ),
        ("CumSum", ["word_starts", "axis_zero"], ["word_of"], {}),
        ("Equal", ["ids", "unk_id"], ["is_unk"], {}),
        ("Cast", ["is_unk"], ["unk_count"], {"to": TensorProto.INT64}),
        ("Shape", ["word_splits"], ["split_count"], {}),
        ("Sub", ["split_count", "one"], ["word_count"], {}),
        ("ConstantOfShape", ["word_count"], ["word_zeros"], {"value": zeros}),
        (
            "ScatterElements",
            ["word_zeros", "word_of", "unk_count"],
            ["unks_per_word"],
            {"axis": 0, "reduction": "add"},
        ),
        ("Greater", ["unks_per_word", "zero"], ["failed_word"], {}),
        ("Gather", ["failed_word", "word_of"], ["in_failed_word"], {"axis": 0}),
        ("Not", ["in_failed_word"], ["in_good_word"], {}),
        ("Or", ["in_good_word", "is_unk"], ["keep"], {}),
        ("Compress", ["ids", "keep"], ["pieces"], {"axis": 0}),
        # Count, the first `width` pieces, zeros to `width`.
        ("Shape", ["pieces"], ["count"], {}),
        ("Slice", ["pieces", "zero", "width"], ["kept"], {}),
        ("Shape", ["kept"], ["kept_count"], {}),
        ("Sub", ["width", "kept_count"], ["pad_count"], {}),
        ("Concat", ["zero", "pad_count"], ["pads"], {"axis": 0}),
        ("Pad", ["kept", "pads"], ["padded"], {}),
        ("Concat", ["count", "padded"], ["row"], {"axis": 0}),
        ("Identity", ["go_on"], ["go_on_out"], {}),
    ]
    nodes = []
    for step in steps:
        if isinstance(step, tuple):
            op, inputs, outputs, attributes = step
            node = helper.make_node(op, local(inputs), local(outputs), **attributes)
        else:  # a tokenizer op, its names made local
            node = helper.make_node("Identity", [], [])
            node.CopyFrom(step)
            node.input[:] = local(node.input)
            node.output[:] = local(node.output)
        nodes.append(node)
    return helper.make_graph(
        nodes,
        f"tokenize_{name}",
        [
            helper.make_tensor_value_info(local(["index"])[0], TensorProto.INT64, []),
            helper.make_tensor_value_info(local(["go_on"])[0], TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info(
                local(["go_on_out"])[0], TensorProto.BOOL, []
            ),
            helper.make_tensor_value_info(
                local(["row"])[0], TensorProto.INT64, [width + 1]
            ),
        ],
    )


class RowPacker(PiecePacker):
    """Packs `tokenizer_graph`'s rows (count, then piece ids) in TensorFlow.

    Its "texts" are those rows, int64 `[batch, sequence_length + 1]`: the
    converted graph's inputs, fed by the tokenizer graph in the same ONNX
    model.
    """

    def dense_pieces(self, texts, width):
        rows = tf.cast(texts, tf.int32)
        return rows[:, 1 : 1 + width], rows[:, 0]


def piece_rows_spec(sequence_length, name):
    """The `tf.TensorSpec` of one input of rows."""
    return tf.TensorSpec([None, sequence_length + 1], tf.int64, name=name)
