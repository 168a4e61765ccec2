import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.tokenizers import BertTokenizer
from tests.tokenizers import reference
from tests.tokenizers.reference import EDGE_CASES
from tests.tokenizers.reference import MIXED_CHINESE_LINES

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick"]


def _mismatches(ours, ref, texts):
    return [(t, a, b) for t, a, b in zip(texts, ours, ref) if list(a) != list(b)]


def _assert_same_as_reference(tokenizer, hf, texts):
    bad = _mismatches(tokenizer(texts), reference.reference_ids(hf, texts), texts)
    assert bad == [], f"{len(bad)} of {len(texts)} differ, first: {bad[:3]}"


def _tokenize_all(tokenizer, texts, batch_size=8192):
    """Our ids for many texts, in batches, as lists."""
    out = []
    for start in range(0, len(texts), batch_size):
        out.extend(tokenizer(texts[start : start + batch_size]))
    return out


@pytest.fixture(scope="module")
def corpus(shared_data):
    return reference.corpus(shared_data)


@pytest.fixture(scope="module")
def uncased(shared_data):
    return BertTokenizer(reference.vocab_path(shared_data, "uncased"))


# Real text, whole corpus: every sentence, both code paths.


@pytest.mark.parametrize(
    "vocab,lowercase", [("uncased", True), ("cased", False)], ids=["uncased", "cased"]
)
def test_every_corpus_sentence_matches_reference(shared_data, corpus, vocab, lowercase):
    """All 90,978 sentences; the general (non-ASCII) path also on every 5th."""
    path = reference.vocab_path(shared_data, vocab)
    hf = reference.hf_legacy(path, lowercase)
    tokenizer = BertTokenizer(path, lowercase=lowercase)
    general = BertTokenizer(path, lowercase=lowercase)
    general._use_fast_path = False  # the path non-ASCII strings take
    total = 0
    for name, texts in corpus.items():
        expected = reference.reference_ids(hf, texts)
        bad = _mismatches(_tokenize_all(tokenizer, texts), expected, texts)
        assert not bad, f"{name}: {len(bad)} of {len(texts)} differ: {bad[:3]}"
        sample = texts[::5]
        bad = _mismatches(_tokenize_all(general, sample), expected[::5], sample)
        assert not bad, f"{name} (general path): {len(bad)} differ: {bad[:3]}"
        total += len(texts)
    assert total == 90_978


def test_reference_shortcut_equals_public_hf_call(shared_data, corpus):
    """`reference_ids` is exactly what `BertTokenizerLegacy(...)(text)` returns."""
    path = reference.vocab_path(shared_data, "uncased")
    hf = reference.hf_legacy(path)
    texts = corpus["RTE/train"][:300] + MIXED_CHINESE_LINES + EDGE_CASES[:-1]
    public = [hf(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert reference.reference_ids(hf, texts) == public


def test_chinese_vocabulary(shared_data):
    path = reference.vocab_path(shared_data, "chinese")
    hf = reference.hf_legacy(path)
    texts = MIXED_CHINESE_LINES + EDGE_CASES
    _assert_same_as_reference(BertTokenizer(path), hf, texts)


def test_multilingual_cased_vocabulary(shared_data):
    path = reference.vocab_path(shared_data, "multilingual_cased")
    hf = reference.hf_legacy(path, False)
    texts = MIXED_CHINESE_LINES + EDGE_CASES
    tokenizer = BertTokenizer(path, lowercase=False)
    _assert_same_as_reference(tokenizer, hf, texts)


def test_minilm_package_vocabulary(shared_data, corpus):
    path = reference.minilm_vocab_path()
    hf = reference.hf_legacy(path)
    texts = MIXED_CHINESE_LINES + EDGE_CASES + corpus["SST-2/dev"]
    _assert_same_as_reference(BertTokenizer(path), hf, texts)


@pytest.mark.parametrize(
    "vocab,lowercase,strip_accents",
    [
        ("uncased", True, None),
        ("uncased", True, False),
        ("cased", False, None),
        ("cased", False, True),
        ("chinese", True, None),
    ],
)
def test_edge_cases_and_casing_modes(shared_data, vocab, lowercase, strip_accents):
    path = reference.vocab_path(shared_data, vocab)
    hf = reference.hf_legacy(path, lowercase, strip_accents)
    tokenizer = BertTokenizer(path, lowercase=lowercase, strip_accents=strip_accents)
    texts = EDGE_CASES + MIXED_CHINESE_LINES
    _assert_same_as_reference(tokenizer, hf, texts)
    # Scalars take the same path as batches.
    for text in EDGE_CASES:
        assert tokenizer(text) == reference.reference_ids(hf, [text])[0]


def test_cjk_split_can_be_turned_off_as_in_the_reference(shared_data):
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    path = reference.vocab_path(shared_data, "multilingual_cased")
    hf = BertTokenizerLegacy(path, do_lower_case=False, tokenize_chinese_chars=False)
    tokenizer = BertTokenizer(path, lowercase=False, split_on_cjk=False)
    _assert_same_as_reference(tokenizer, hf, MIXED_CHINESE_LINES + EDGE_CASES)


def _random_text(rng, length):
    ranges = [
        (0x20, 0x7E, 30),  # ASCII
        (0x00, 0x1F, 2),  # C0 controls
        (0x7F, 0x9F, 2),  # DEL, C1 controls
        (0xA0, 0x24F, 10),  # Latin-1, Latin extended
        (0x300, 0x36F, 6),  # combining marks
        (0x370, 0x4FF, 6),  # Greek, Cyrillic
        (0x3A3, 0x3A3, 2),  # capital sigma
        (0x590, 0x6FF, 2),  # Hebrew, Arabic
        (0x900, 0x9FF, 2),  # Devanagari, Bengali
        (0x1100, 0x11FF, 2),  # Hangul jamo
        (0x1E00, 0x1FFF, 4),  # Latin extended additional, Greek extended
        (0x2000, 0x206F, 4),  # general punctuation, spaces, format chars
        (0x2100, 0x22FF, 2),  # letterlike, arrows, math
        (0x3000, 0x30FF, 4),  # CJK punctuation, kana
        (0x4E00, 0x9FFF, 6),  # CJK ideographs
        (0xAC00, 0xD7A3, 3),  # Hangul syllables
        (0xF900, 0xFAFF, 1),  # CJK compatibility ideographs
        (0xFB00, 0xFB4F, 1),  # ligatures
        (0xFE00, 0xFE0F, 1),  # variation selectors
        (0xFF00, 0xFFEF, 4),  # fullwidth forms
        (0xFFF0, 0xFFFF, 1),  # specials
        (0x1F300, 0x1FAFF, 3),  # emoji
        (0x20000, 0x2A6DF, 1),  # CJK extension B
        (0xE0000, 0xE01EF, 1),  # tags, variation selectors supplement
        (0xE000, 0xF8FF, 1),  # private use
        (0x10000, 0x10FFFF, 1),  # anything
    ]
    weights = [w for _, _, w in ranges]
    chars = []
    for _ in range(length):
        lo, hi, _ = rng.choices(ranges, weights)[0]
        cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:  # surrogates cannot be UTF-8 encoded
            cp = 0x20
        chars.append(chr(cp))
        if rng.random() < 0.15:
            chars.append(" ")
    return "".join(chars)


@pytest.mark.parametrize(
    "vocab,lowercase,strip_accents",
    [
        ("uncased", True, None),
        ("multilingual_cased", False, None),
        ("uncased", True, False),
        ("multilingual_cased", False, True),
    ],
)
def test_random_unicode_matches_reference(shared_data, vocab, lowercase, strip_accents):
    """2,000 deterministic random strings drawn over the whole code space."""
    rng = random.Random(f"{vocab}{lowercase}{strip_accents}")
    texts = [_random_text(rng, rng.randint(0, 40)) for _ in range(2000)]
    path = reference.vocab_path(shared_data, vocab)
    hf = reference.hf_legacy(path, lowercase, strip_accents)
    tokenizer = BertTokenizer(path, lowercase=lowercase, strip_accents=strip_accents)
    _assert_same_as_reference(tokenizer, hf, texts)


def test_random_ascii_fast_path_matches_reference(shared_data):
    """Printable ASCII takes tensorflow-text's end-to-end WordPiece path."""
    rng = random.Random(7)
    alphabet = [chr(c) for c in range(32, 127)] + list("\t\n\r") + list("aeiou   ")
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))]
    texts += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        for _ in range(3000)
    ]
    texts += ["word" * 25, "word" * 25 + "s", "Ab" * 50 + "!"]
    for vocab, lowercase in (("uncased", True), ("cased", False)):
        path = reference.vocab_path(shared_data, vocab)
        hf = reference.hf_legacy(path, lowercase)
        _assert_same_as_reference(BertTokenizer(path, lowercase=lowercase), hf, texts)


def test_a_graph_traced_for_printable_ascii_holds_that_path_alone(shared_data):
    """What `fit` and `predict` trace when every in-memory text is printable ASCII."""
    rng = random.Random(11)
    alphabet = [chr(c) for c in range(32, 127)] + list("\t\n\r")
    texts = ["".join(rng.choice(alphabet) for _ in range(60)) for _ in range(500)]
    sst2 = reference.corpus(shared_data)["SST-2/train"]
    texts += [text for text in sst2 if text.isascii()][:500]
    path = reference.vocab_path(shared_data, "uncased")
    tokenizer = BertTokenizer(path)
    signature = [tf.TensorSpec([None], tf.string)]
    tokenize = tf.function(tokenizer, input_signature=signature)
    with tokenizer.tracing_for_printable_ascii():
        graph = tokenize.get_concrete_function().graph
    # The general path (the normaliser) and the `tf.cond` choosing it are gone.
    assert not {op.type for op in graph.get_operations()} & {"If", "StatelessIf"}
    assert len(graph.as_graph_def().library.function) < 8
    hf = reference.hf_legacy(path)
    ids = tokenize(tf.constant(texts)).to_list()
    assert _mismatches(ids, reference.reference_ids(hf, texts), texts) == []
    # Outside the context both paths are back.
    _assert_same_as_reference(tokenizer, hf, ["Café au lait", "naïve 北京"])


def test_wordpiece_is_greedy_longest_match_first():
    """tensorflow-text's WordPiece equals the reference WordpieceTokenizer."""
    from transformers.models.bert.tokenization_bert_legacy import WordpieceTokenizer

    rng = random.Random(3)
    letters = "abcde"
    pieces = {
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 4)))
        for _ in range(40)
    }
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(pieces)
    vocab += sorted("##" + p for p in pieces if rng.random() < 0.7)
    vocab += list(letters[:4]) + ["##" + c for c in letters[:3]]
    vocab = list(dict.fromkeys(vocab))
    words = [
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 12)))
        for _ in range(2000)
    ]
    wordpiece = WordpieceTokenizer({t: i for i, t in enumerate(vocab)}, "[UNK]")
    index = {t: i for i, t in enumerate(vocab)}
    expected = [[index[p] for p in wordpiece.tokenize(w)] for w in words]
    assert BertTokenizer(vocab)(words) == expected


# Offsets and word ids, against Hugging Face's fast tokenizer (which computes
# them through its own alignment tracking) wherever its ids equal the reference.


def _byte_offsets(text, char_offsets):
    prefix = np.cumsum([0] + [len(c.encode("utf-8")) for c in text])
    return [int(prefix[o]) for o in char_offsets]


@pytest.mark.parametrize("vocab,lowercase", [("uncased", True), ("cased", False)])
def test_offsets_and_word_ids_match_hf_fast(shared_data, corpus, vocab, lowercase):
    path = reference.vocab_path(shared_data, vocab)
    fast = reference.hf_fast(path, lowercase)
    texts = (
        corpus["SST-2/dev"]
        + corpus["CoLA/dev"]
        + corpus["MRPC/dev"]
        + corpus["RTE/train"][::2]
        + MIXED_CHINESE_LINES
        + EDGE_CASES
    )
    tokenizer = BertTokenizer(path, lowercase=lowercase)
    expected = reference.reference_ids(reference.hf_legacy(path, lowercase), texts)
    encoded = fast(texts, add_special_tokens=False, return_offsets_mapping=True)
    ids, starts, ends = tokenizer.tokenize_with_offsets(texts, unit="char")
    _, byte_starts, byte_ends = tokenizer.tokenize_with_offsets(texts)
    ids_w, word_ids = tokenizer.tokenize_with_word_ids(texts)
    assert ids_w == ids == expected
    compared = 0
    for i, text in enumerate(texts):
        if encoded["input_ids"][i] != expected[i]:
            continue  # HF fast differs from the reference (e.g. final sigma)
        compared += 1
        hf_starts = [s for s, _ in encoded["offset_mapping"][i]]
        hf_ends = [e for _, e in encoded["offset_mapping"][i]]
        assert (starts[i], ends[i]) == (hf_starts, hf_ends), text
        assert byte_starts[i] == _byte_offsets(text, hf_starts), text
        assert byte_ends[i] == _byte_offsets(text, hf_ends), text
        assert word_ids[i] == encoded.word_ids(i), text
    assert compared > 0.99 * len(texts)


def test_offsets_recover_token_text(shared_data, corpus):
    """Each token's span, normalised by the reference, is the token's text.

    (Left out: Hangul syllables, as accent stripping's NFD turns one syllable
    into 2-3 jamo which WordPiece may put in different tokens, both then
    spanning the whole syllable; and capital sigma, whose lower case depends
    on the characters around the span.)
    """
    path = reference.vocab_path(shared_data, "uncased")
    basic = reference.hf_legacy(path).basic_tokenizer
    tokenizer = BertTokenizer(path)
    texts = corpus["RTE/train"][:500] + MIXED_CHINESE_LINES + EDGE_CASES
    texts = [t for t in texts if "Σ" not in t and not any("가" <= c <= "힣" for c in t)]
    for unit in ("char", "byte"):
        ids, starts, ends = tokenizer.tokenize_with_offsets(texts, unit=unit)
        for text, row, row_starts, row_ends in zip(texts, ids, starts, ends):
            data = text if unit == "char" else text.encode("utf-8")
            for token_id, start, end in zip(row, row_starts, row_ends):
                span = data[start:end]
                if unit == "byte":
                    span = span.decode("utf-8")
                normalised = "".join(basic.tokenize(span))
                if token_id == tokenizer.unk_token_id:
                    assert normalised, (text, start, end)
                    continue
                piece = tokenizer.id_to_token(token_id)
                assert normalised == piece.removeprefix("##"), (text, span, piece)


def test_offsets_of_decomposed_and_dropped_characters(uncased):
    text = "e\u0301cole a\x00b Straße"
    ids, starts, ends = uncased.tokenize_with_offsets(text, unit="char")
    assert [text[s:e] for s, e in zip(starts, ends)][:2] == ["e\u0301cole", "a\x00b"]
    cased_text = "Ae\u0301!"
    tokenizer = BertTokenizer(TINY_VOCAB + ["A", "##é", "!"], lowercase=False)
    ids, starts, ends = tokenizer.tokenize_with_offsets(cased_text, unit="char")
    assert [tokenizer.id_to_token(i) for i in ids] == ["A", "##é", "!"]
    assert list(zip(starts, ends)) == [(0, 1), (1, 3), (3, 4)]


def test_word_ids_group_whole_words(uncased):
    ids, word_ids = uncased.tokenize_with_word_ids(
        ["unaffable ideas, 中文 x" + "y" * 200]
    )
    tokens = [uncased.id_to_token(i) for i in ids[0]]
    assert tokens == ["una", "##ffa", "##ble", "ideas", ",", "中", "文", "[UNK]"]
    assert word_ids == [[0, 0, 0, 1, 2, 3, 4, 5]]
    assert uncased.word_ids("") == []


# Invalid input.


def test_invalid_utf8_is_replaced_and_dropped(uncased, shared_data):
    hf = reference.hf_legacy(reference.vocab_path(shared_data, "uncased"))
    data = [b"caf\xc3\xa9 \xff\xfe bad", b"trunc\xe2\x82", b"\xc3(x", b"ok"]
    expected = reference.reference_ids(
        hf, [d.decode("utf-8", errors="replace") for d in data]
    )
    assert uncased(tf.constant(data)) == expected
    ids, starts, ends = uncased.tokenize_with_offsets(tf.constant(data))
    assert [data[0][s:e] for s, e in zip(starts[0], ends[0])] == [
        b"caf\xc3\xa9",
        b"bad",
    ]


def test_rejects_non_strings(uncased):
    with pytest.raises(ValueError, match="takes strings"):
        uncased([1, 2, 3])
    with pytest.raises(ValueError, match="1-D batch"):
        uncased([["a", "b"], ["c", "d"]])


def test_literal_special_tokens_are_split_like_the_original(uncased):
    """As Google's BERT; HF's tokenizer instead keeps "[MASK]" whole."""
    tokens = [uncased.id_to_token(i) for i in uncased("a [MASK] b")]
    assert tokens == ["a", "[", "mask", "]", "b"]


# Vocabulary and API.


def test_repeated_tokens_map_to_their_last_line_as_the_reference(tmp_path):
    tokens = TINY_VOCAB + ["fox", "##es", "fox"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n")
    hf = reference.hf_legacy(str(path))
    texts = ["foxes fox", "the fox"]
    assert BertTokenizer(str(path))(texts) == reference.reference_ids(hf, texts)
    assert BertTokenizer(str(path)).token_to_id("fox") == 10


def test_missing_special_token_names_token_and_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the"]) + "\n")
    with pytest.raises(ValueError, match=r"\[MASK\]") as info:
        BertTokenizer(str(path))
    assert str(path) in str(info.value) and "mask_token" in str(info.value)
    with pytest.raises(ValueError, match=r"vocabulary list.*'\[UNK\]'"):
        BertTokenizer(["[PAD]", "[CLS]", "[SEP]", "[MASK]"])


def test_vocabulary_api(shared_data, uncased):
    path = reference.vocab_path(shared_data, "uncased")
    hf = reference.hf_legacy(path)
    assert uncased.vocabulary_size() == len(hf.vocab) == 30522
    assert uncased.vocabulary == list(hf.vocab) == uncased.get_vocabulary()
    for name in ("pad", "unk", "cls", "sep", "mask"):
        assert getattr(uncased, f"{name}_token_id") == getattr(hf, f"{name}_token_id")
    assert uncased.token_to_id("##ing") == hf.vocab["##ing"]
    assert uncased.id_to_token(2003) == hf.convert_ids_to_tokens(2003)
    with pytest.raises(KeyError):
        uncased.token_to_id("not-a-token")
    with pytest.raises(ValueError):
        uncased.id_to_token(30522)


def test_detokenize_matches_reference(shared_data, corpus, uncased):
    hf = reference.hf_legacy(reference.vocab_path(shared_data, "uncased"))
    texts = corpus["SST-2/dev"][:200]
    ids = uncased(texts)
    expected = [hf.convert_tokens_to_string(hf.convert_ids_to_tokens(r)) for r in ids]
    assert uncased.detokenize(ids) == expected
    assert uncased.detokenize(ids[0]) == expected[0]
    dense = tf.ragged.constant(ids[:3]).to_tensor()
    assert uncased.detokenize(dense)[0].startswith(expected[0])


def test_eager_output_types():
    tokenizer = BertTokenizer(TINY_VOCAB)
    assert tokenizer("the quick") == [5, 6, 7]
    assert tokenizer(["the quick", ""]) == [[5, 6, 7], []]
    assert tokenizer(np.array(["the"])) == [[5]]
    assert tokenizer(tf.constant(["the", "quick"])) == [[5], [6, 7]]
    assert tokenizer.tokenize_with_offsets(["the quick"]) == (
        [[5, 6, 7]],
        [[0, 4, 6]],
        [[3, 6, 9]],
    )


@pytest.mark.parametrize("lowercase", [True, False])
@pytest.mark.parametrize("fast_path", [True, False])
def test_empty_batches_and_strings(lowercase, fast_path):
    tokenizer = BertTokenizer(TINY_VOCAB, lowercase=lowercase)
    tokenizer._use_fast_path = fast_path
    for batch in ([], tf.zeros([0], tf.string)):
        assert tokenizer(batch) == []
        assert tokenizer.tokenize_with_offsets(batch, unit="char") == ([], [], [])
        assert tokenizer.tokenize_with_word_ids(batch) == ([], [])
    texts = ["", "\x00", " ", "é", "the"]
    assert tokenizer(texts) == [[], [], [], [1], [5]]
    ids, starts, ends = tokenizer.tokenize_with_offsets(texts)
    assert (starts, ends) == ([[], [], [], [0], [0]], [[], [], [], [2], [3]])
    assert tokenizer.word_ids(texts) == [[], [], [], [0], [0]]


def test_tf_data_and_tf_function_return_ragged_tensors():
    tokenizer = BertTokenizer(TINY_VOCAB)
    ds = tf.data.Dataset.from_tensor_slices(["the quick", "quick", ""]).batch(3)
    ids = next(iter(ds.map(tokenizer)))
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.to_list() == [[5, 6, 7], [6, 7], []]
    unbatched = [
        x.numpy().tolist()
        for x in tf.data.Dataset.from_tensor_slices(["the quick", "the"]).map(tokenizer)
    ]
    assert unbatched == [[5, 6, 7], [5]]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def offsets(x):
        return tokenizer.tokenize_with_offsets(x, unit="char")

    ids, starts, ends = offsets(tf.constant(["é the", "the quick"]))
    assert ids.to_list() == [[1, 5], [5, 6, 7]]
    assert starts.to_list() == [[0, 2], [0, 4, 6]]
    assert ends.to_list() == [[1, 5], [3, 6, 9]]


def test_config_round_trip(shared_data):
    path = reference.vocab_path(shared_data, "cased")
    tokenizer = BertTokenizer(path, lowercase=False, name="tok")
    config = tokenizer.get_config()
    assert config["vocabulary"] == tokenizer.vocabulary
    assert {"lowercase", "strip_accents", "split_on_cjk", "mask_token"} <= set(config)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(tokenizer)
    )
    assert isinstance(restored, BertTokenizer) and restored.name == "tok"
    text = ["Hello Wörld (中文)", "x"]
    assert restored(text) == tokenizer(text)
