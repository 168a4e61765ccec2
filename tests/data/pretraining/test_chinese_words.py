"""Chinese whole-word masking (Chinese BERT-wwm) on the real Chinese fixture lines.

References nobody here wrote: jieba's segmentation, transformers' Chinese
whole-word reference marks (`examples/research_projects/mlm_wwm/run_chinese_ref.py`,
its `add_sub_symbol` rule transcribed below, with jieba in place of LTP) over
transformers' BERT tokenizer, and the original recipe's 15% / 80-10-10 rule.
"""

import collections
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data import create_pretraining_data
from keras_bert_impl.data import pretraining_dataset
from keras_bert_impl.data.pretraining.chinese_words import word_segmenter
from keras_bert_impl.data.pretraining.corpus import make_tokenizer
from keras_bert_impl.data.pretraining.corpus import tokenize_lines
from keras_bert_impl.data.pretraining.corpus import tokenize_lines_with_words
from keras_bert_impl.data.pretraining.dynamic_masking import dynamic_mask
from tests.data.pretraining.test_create_pretraining_data import original_spec
from tests.data.pretraining.test_create_pretraining_data import originals
from tests.tokenizers.reference import MIXED_CHINESE_LINES
from tests.tokenizers.reference import hf_legacy

jieba = pytest.importorskip("jieba")

SEQ = 64
PRED = 12
CHINESE_RUN = dict(
    do_whole_word_mask=True,
    chinese_word_segmenter="jieba",
    max_seq_length=SEQ,
    max_predictions_per_seq=PRED,
    dupe_factor=40,
    num_workers=1,
    progress=False,
)


def _is_chinese_char(cp):
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_chinese(word):
    return all(_is_chinese_char(ord(c)) for c in word)


def reference_marks(tokens, words):
    """run_chinese_ref.py: the line's multi-character Chinese words, matched
    longest first at each Chinese token; the later characters of a match are
    marked. Returns the positions it saves (single Chinese characters marked)."""
    word_set = {w for w in words if len(w) > 1 and _is_chinese(w)}
    marked = set()
    if word_set:
        longest = max(len(w) for w in word_set)
        start, end = 0, len(tokens)
        while start < end:
            step = 1
            if _is_chinese(tokens[start]):
                for size in range(min(end - start, longest), 1, -1):
                    if "".join(tokens[start : start + size]) in word_set:
                        marked.update(range(start + 1, start + size))
                        step = size
                        break
            start += step
    return {
        i for i in marked if len(tokens[i]) == 1 and _is_chinese_char(ord(tokens[i]))
    }


@pytest.fixture(scope="module")
def vocab_file(shared_data):
    return shared_data / "vocab" / "chinese" / "vocab.txt"


@pytest.fixture(scope="module")
def vocab(vocab_file):
    return vocab_file.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def segment():
    return word_segmenter("jieba")


def test_marks_equal_the_transformers_chinese_reference(vocab_file, vocab, segment):
    hf = hf_legacy(str(vocab_file))
    tokenizer = make_tokenizer(vocab)
    flat, lengths, marks = tokenize_lines_with_words(
        MIXED_CHINESE_LINES, tokenizer, segment
    )
    plain_flat, plain_lengths = tokenize_lines(MIXED_CHINESE_LINES, tokenizer)
    np.testing.assert_array_equal(flat, plain_flat)  # offsets change no token
    np.testing.assert_array_equal(lengths, plain_lengths)
    first = np.concatenate([[0], np.cumsum(lengths)])
    joined = 0
    for row, line in enumerate(MIXED_CHINESE_LINES):
        tokens = hf.tokenize(line)
        assert [vocab[i] for i in flat[first[row] : first[row + 1]]] == tokens
        ours = set(np.flatnonzero(marks[first[row] : first[row + 1]]).tolist())
        assert ours == reference_marks(tokens, jieba.lcut(line)), line
        joined += len(ours)
    assert joined > 100  # the fixture lines do hold many multi-character words


def test_a_callable_segmenter_and_dropped_spaces(vocab):
    tokenizer = make_tokenizer(vocab)
    line = "深度学习 是 机器学习"

    def two_by_two(text):  # drops the spaces, as some segmenters do
        return [w[i : i + 2] for w in text.split() for i in range(0, len(w), 2)]

    _, _, marks = tokenize_lines_with_words(
        [line], tokenizer, word_segmenter(two_by_two)
    )
    # 深度|学习|是|机器|学习
    np.testing.assert_array_equal(marks, [0, 1, 0, 1, 0, 0, 1, 0, 1])


def test_segmenter_errors(vocab, tmp_path, vocab_file, monkeypatch):
    tokenizer = make_tokenizer(vocab)
    with pytest.raises(ValueError, match="the word '北京' is not in the line"):
        tokenize_lines_with_words(
            ["上海很大"], tokenizer, word_segmenter(lambda text: ["北京"])
        )
    with pytest.raises(ValueError, match="expected one of jieba"):
        word_segmenter("ltp")
    monkeypatch.setitem(sys.modules, "jieba", None)
    with pytest.raises(ImportError, match="pip install jieba"):
        word_segmenter("jieba")
    text = tmp_path / "zh.txt"
    text.write_text("我爱北京天安门。\n", encoding="utf-8")
    with pytest.raises(ValueError, match="needs do_whole_word_mask=True"):
        create_pretraining_data(
            str(text),
            str(tmp_path / "out.tfrecord"),
            str(vocab_file),
            chinese_word_segmenter="jieba",
            progress=False,
        )


def read_chinese_records(path):
    spec = dict(original_spec(SEQ, PRED))
    spec["word_continuation"] = tf.io.FixedLenFeature([SEQ], tf.int64)
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    parsed = tf.io.parse_example(tf.constant(records), spec)
    return {k: v.numpy() for k, v in parsed.items()}


@pytest.fixture(scope="module")
def chinese_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zh_corpus")
    text = folder / "zh.txt"
    lines = []
    for i, line in enumerate(MIXED_CHINESE_LINES):
        lines.append(line)
        if i % 4 == 3:
            lines.append("")  # documents of four sentences
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return text


@pytest.fixture(scope="module")
def chinese_run(chinese_corpus, vocab_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("zh_records") / "zh.tfrecord"
    summary = create_pretraining_data(
        str(chinese_corpus),
        str(path),
        str(vocab_file),
        **CHINESE_RUN,
    )
    return summary, path, read_chinese_records(path)


def _word_groups(ids, continuation, length, vocab):
    """The masking rule's words: a marked token joins the token before it, over
    the tokens that can be masked (all but [CLS] and [SEP])."""
    groups = []
    for i in range(1, length):
        if vocab[ids[i]] in ("[CLS]", "[SEP]"):
            continue
        if continuation[i] and groups:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def check_masked_spans(ids, masked, continuation, lengths, vocab, words):
    """Every word of the rule is masked whole or not at all; every masked word of
    ideographs spells one jieba word (a prefix or suffix of one at the edge of a
    segment, which truncation may cut). Returns the multi-character words masked."""
    multi = 0
    for r in range(len(ids)):
        length = int(lengths[r])
        for group in _word_groups(ids[r], continuation[r], length, vocab):
            states = {bool(masked[r, i]) for i in group}
            assert len(states) == 1, f"row {r}: the word at {group} is partly masked"
            text = "".join(vocab[ids[r, i]] for i in group)
            if not (masked[r, group[0]] and len(group) > 1 and _is_chinese(text)):
                continue
            multi += 1
            assert group == list(range(group[0], group[-1] + 1)), "a word spans [SEP]"
            edges = {vocab[ids[r, group[0] - 1]], vocab[ids[r, group[-1] + 1]]}
            if edges & {"[CLS]", "[SEP]"}:
                assert any(w.startswith(text) or w.endswith(text) for w in words)
            else:
                assert text in words, f"row {r}: {text} is no jieba word"
    return multi


def test_masked_spans_are_whole_segmenter_words(chinese_run, vocab):
    _, _, rec = chinese_run
    ids = originals(rec)
    masked = np.zeros(ids.shape, bool)
    rows, slots = np.nonzero(rec["masked_lm_weights"] > 0)
    masked[rows, rec["masked_lm_positions"][rows, slots]] = True
    words = {w for line in MIXED_CHINESE_LINES for w in jieba.lcut(line)}
    lengths = rec["input_mask"].sum(axis=1)
    multi = check_masked_spans(
        ids, masked, rec["word_continuation"], lengths, vocab, words
    )
    assert multi > 200  # many multi-character words are masked as one


def test_15_percent_and_80_10_10_hold(chinese_run, vocab):
    _, _, rec = chinese_run
    lengths = rec["input_mask"].sum(axis=1)
    need = np.minimum(PRED, np.maximum(1, np.round(lengths * 0.15)))
    real = rec["masked_lm_weights"] > 0
    # Whole words skip a word that would overflow the count, so a few fall short.
    assert 0.95 < real.sum() / need.sum() <= 1.0
    assert (real.sum(axis=1) <= need).all()
    masked_now = np.take_along_axis(rec["input_ids"], rec["masked_lm_positions"], 1)
    mask_id = vocab.index("[MASK]")
    became_mask = (masked_now == mask_id)[real].mean()
    kept = (masked_now == rec["masked_lm_ids"])[real].mean()
    assert abs(became_mask - 0.8) < 0.03 and abs(kept - 0.1) < 0.025


def test_text_without_ideographs_is_masked_exactly_as_before(shared_data, tmp_path):
    vocab_file = shared_data / "vocab" / "uncased" / "vocab.txt"
    sample = shared_data / "bert_sample_text" / "sample_text.txt"
    lines = sample.read_text(encoding="utf-8").split("\n")
    text = tmp_path / "sample_without_ideographs.txt"
    text.write_text(
        "\n".join(line for line in lines if not any(map(_is_chinese, line))),
        encoding="utf-8",
    )
    runs = {}
    for name, segmenter in (("plain", None), ("segmented", "jieba")):
        path = tmp_path / f"{name}.tfrecord"
        create_pretraining_data(
            str(text),
            str(path),
            str(vocab_file),
            do_whole_word_mask=True,
            chinese_word_segmenter=segmenter,
            dupe_factor=3,
            num_workers=1,
            progress=False,
        )
        records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
        parsed = tf.io.parse_example(tf.constant(records), original_spec(128, 20))
        runs[name] = {k: v.numpy() for k, v in parsed.items()}
    for key, plain in runs["plain"].items():
        np.testing.assert_array_equal(runs["segmented"][key], plain, err_msg=key)


def test_dynamic_masking_masks_the_records_words(chinese_run, vocab, vocab_file):
    _, path, rec = chinese_run
    dataset = pretraining_dataset(
        str(path),
        batch_size=len(rec["input_ids"]),
        shuffle=False,
        drop_remainder=False,
        dynamic_masking=True,
        vocabulary=str(vocab_file),
        do_whole_word_mask=True,
        seed=7,
    )
    x, y, weights = next(iter(dataset))
    ids = originals(rec)
    masked = np.zeros(ids.shape, bool)
    real = weights["mlm_logits"].numpy() > 0
    rows, slots = np.nonzero(real)
    masked[rows, x["mask_positions"].numpy()[rows, slots]] = True
    static = np.zeros(ids.shape, bool)
    rows, slots = np.nonzero(rec["masked_lm_weights"] > 0)
    static[rows, rec["masked_lm_positions"][rows, slots]] = True
    assert (masked != static).any()  # masked anew
    words = {w for line in MIXED_CHINESE_LINES for w in jieba.lcut(line)}
    lengths = rec["input_mask"].sum(axis=1)
    assert (
        check_masked_spans(ids, masked, rec["word_continuation"], lengths, vocab, words)
        > 200
    )


def test_dynamic_mask_groups_by_given_marks():
    # [CLS] a b c d e [SEP] f g [SEP]: words (a b c) (d e) (f g); one word of 3.
    token_ids = tf.constant([[101, 5, 6, 7, 8, 9, 102, 10, 11, 102]] * 200)
    marks = tf.constant([[0, 0, 1, 1, 0, 1, 0, 0, 1, 0]] * 200)
    masked, positions, labels, weights = dynamic_mask(
        token_ids,
        tf.ones_like(token_ids),
        tf.constant([3, 4]),
        vocabulary_size=200,
        mask_token_id=103,
        special_token_ids=(101, 102, 0),
        max_predictions_per_seq=4,
        masked_lm_prob=0.3,
        word_continuation=marks,
    )
    chosen = {tuple(p[w > 0]) for p, w in zip(positions.numpy(), weights.numpy())}
    # round(10 * 0.3) = 3: the 3-token word alone, or a 2-token word and nothing
    # else that fits (the other 2-token word would overflow).
    assert chosen <= {(1, 2, 3), (4, 5), (7, 8)} and (1, 2, 3) in chosen


def test_packed_rows_carry_each_instances_marks(
    chinese_run, chinese_corpus, vocab_file
):
    _, path, rec = chinese_run
    packed_path = path.parent / "packed.tfrecord"
    create_pretraining_data(
        str(chinese_corpus),
        str(packed_path),
        str(vocab_file),
        **CHINESE_RUN,
        pack_sequences=True,
        max_instances_per_row=4,
    )
    spec = {
        "input_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
        "input_mask": tf.io.FixedLenFeature([SEQ], tf.int64),
        "word_continuation": tf.io.FixedLenFeature([SEQ], tf.int64),
    }
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(packed_path))]
    packed = {
        k: v.numpy() for k, v in tf.io.parse_example(tf.constant(records), spec).items()
    }
    found = collections.Counter()
    for ids, numbers, marks in zip(
        packed["input_ids"], packed["input_mask"], packed["word_continuation"]
    ):
        for number in range(1, int(numbers.max()) + 1):
            inside = numbers == number
            found[(tuple(ids[inside]), tuple(marks[inside]))] += 1
    lengths = rec["input_mask"].sum(axis=1)
    expected = collections.Counter(
        (tuple(ids[:n]), tuple(marks[:n]))
        for ids, marks, n in zip(rec["input_ids"], rec["word_continuation"], lengths)
    )
    assert found == expected and len(records) < len(rec["input_ids"])


def test_same_bytes_for_any_number_of_workers(chinese_run, chinese_corpus, vocab_file):
    _, path, _ = chinese_run
    two_workers = path.parent / "two_workers.tfrecord"
    options = dict(CHINESE_RUN, num_workers=2)
    create_pretraining_data(
        str(chinese_corpus), str(two_workers), str(vocab_file), **options
    )
    assert two_workers.read_bytes() == path.read_bytes()
