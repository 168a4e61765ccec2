"""create_pretraining_data against the original recipe (google-research/bert).

Expected values come from the recipe (15% capped, 80/10/10, 50% random next except
single-sentence chunks, short targets with probability short_seq_prob), measured on the
written TFRecords parsed with the original feature spec, not from our summary.
"""

import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data import DataFormatError
from keras_bert_impl.data import create_pretraining_data

SEQ = 128
PRED = 20


def original_spec(seq, pred):
    # run_pretraining.py's name_to_features.
    return {
        "input_ids": tf.io.FixedLenFeature([seq], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([pred], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([pred], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([pred], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def read_records(paths, seq=SEQ, pred=PRED):
    records = [r.numpy() for p in paths for r in tf.data.TFRecordDataset(str(p))]
    parsed = tf.io.parse_example(tf.constant(records), original_spec(seq, pred))
    out = {k: v.numpy() for k, v in parsed.items()}
    out["raw"] = records
    return out


def originals(rec):
    """input_ids with the masked tokens put back (masked_lm_ids at their positions)."""
    ids = rec["input_ids"].copy()
    for r in range(len(ids)):
        real = rec["masked_lm_weights"][r] > 0
        ids[r, rec["masked_lm_positions"][r][real]] = rec["masked_lm_ids"][r][real]
    return ids


@pytest.fixture(scope="module")
def vocab_file(shared_data):
    return shared_data / "vocab" / "uncased" / "vocab.txt"


@pytest.fixture(scope="module")
def vocab(vocab_file):
    return vocab_file.read_text(encoding="utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def ids(vocab):
    return {t: vocab.index(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")}


@pytest.fixture(scope="module")
def sample_text(shared_data):
    return shared_data / "bert_sample_text" / "sample_text.txt"


@pytest.fixture(scope="module")
def sample_run(sample_text, vocab_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    paths = [out / "a.tfrecord", out / "b.tfrecord"]
    summary = create_pretraining_data(
        str(sample_text),
        paths,
        str(vocab_file),
        dupe_factor=60,
        num_workers=1,
        progress=False,
    )
    return summary, read_records(paths)


@pytest.fixture(scope="module")
def wwm_run(sample_text, vocab_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("wwm")
    paths = [out / "a.tfrecord"]
    summary = create_pretraining_data(
        str(sample_text),
        paths,
        str(vocab_file),
        do_whole_word_mask=True,
        dupe_factor=20,
        num_workers=1,
        progress=False,
    )
    return summary, read_records(paths)


def test_records_have_exactly_the_original_features(sample_run):
    summary, rec = sample_run
    assert summary["instances"] == len(rec["raw"]) > 200
    example = tf.train.Example.FromString(rec["raw"][0])
    features = example.features.feature
    assert set(features) == set(original_spec(SEQ, PRED))
    assert features["masked_lm_weights"].WhichOneof("kind") == "float_list"
    for name in set(features) - {"masked_lm_weights"}:
        assert features[name].WhichOneof("kind") == "int64_list"


def test_instance_layout(sample_run, ids):
    _, rec = sample_run
    orig = originals(rec)
    for r in range(len(orig)):
        length = int(rec["input_mask"][r].sum())
        assert (rec["input_mask"][r][:length] == 1).all()
        assert (rec["input_mask"][r][length:] == 0).all()
        assert (rec["input_ids"][r][length:] == 0).all()
        assert orig[r][0] == ids["[CLS]"]
        seps = np.flatnonzero(orig[r][:length] == ids["[SEP]"])
        assert len(seps) == 2 and seps[1] == length - 1
        len_a, len_b = seps[0] - 1, length - seps[0] - 2
        assert len_a >= 1 and len_b >= 1 and length <= SEQ
        expected_segments = [0] * (seps[0] + 1) + [1] * (length - seps[0] - 1)
        assert rec["segment_ids"][r][:length].tolist() == expected_segments
        assert (rec["segment_ids"][r][length:] == 0).all()


def test_masked_count_is_15_percent_capped(sample_run):
    _, rec = sample_run
    lengths = rec["input_mask"].sum(axis=1)
    counts = rec["masked_lm_weights"].sum(axis=1)
    for length, count in zip(lengths.tolist(), counts.tolist()):
        assert count == min(PRED, max(1, int(round(length * 0.15))))
    assert 0.14 < counts.sum() / lengths.sum() < 0.16
    # Weights are 1 for the real predictions, then 0 padding (positions/ids 0 too).
    for r in range(len(counts)):
        n = int(counts[r])
        assert (rec["masked_lm_weights"][r][:n] == 1).all()
        assert (rec["masked_lm_positions"][r][n:] == 0).all()
        assert (rec["masked_lm_ids"][r][n:] == 0).all()
        positions = rec["masked_lm_positions"][r][:n]
        assert (np.diff(positions) > 0).all()  # sorted, distinct


def test_80_10_10(sample_run, ids, vocab):
    _, rec = sample_run
    real = rec["masked_lm_weights"] > 0
    rows = np.nonzero(real)[0]
    shown = rec["input_ids"][rows, rec["masked_lm_positions"][real]]
    labels = rec["masked_lm_ids"][real]
    n = len(labels)
    assert n > 10_000
    as_mask = (shown == ids["[MASK]"]) & (labels != ids["[MASK]"])
    kept = shown == labels
    other = ~as_mask & ~kept
    # 4-5 standard deviations of a binomial share over n draws.
    assert abs(as_mask.mean() - 0.8) < 0.02
    # "kept" also catches the random token that happens to be the label (1/|V|).
    assert abs(kept.mean() - (0.1 + 0.1 / len(vocab))) < 0.015
    assert abs(other.mean() - 0.1) < 0.015
    # Random replacements are spread over the whole vocabulary.
    random_ids = shown[other]
    assert len(set(random_ids.tolist())) > 0.9 * len(random_ids)
    assert abs(random_ids.mean() / len(vocab) - 0.5) < 0.05


def test_special_tokens_and_padding_never_masked(sample_run, wwm_run, ids):
    for _, rec in (sample_run, wwm_run):
        real = rec["masked_lm_weights"] > 0
        labels = rec["masked_lm_ids"][real]
        for special in ("[CLS]", "[SEP]", "[PAD]"):
            assert not (labels == ids[special]).any()
        rows, slots = np.nonzero(real)
        positions = rec["masked_lm_positions"][rows, slots]
        lengths = rec["input_mask"].sum(axis=1)[rows]
        assert (positions >= 1).all() and (positions < lengths - 1).all()


def test_segments_are_spans_of_the_text(sample_run, sample_text, vocab_file, ids):
    """A and B are contiguous spans of a document (tokenized by the pure-Python port
    of the original tokenizer); a real next B follows A in the same document."""
    transformers = pytest.importorskip("transformers")
    reference = transformers.BertTokenizer(str(vocab_file), do_lower_case=True)
    docs = [[]]
    for line in sample_text.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            docs.append([])
        else:
            docs[-1].extend(reference.convert_tokens_to_ids(reference.tokenize(line)))
    docs = [d for d in docs if d]
    assert len(docs) == 3

    def find(doc, span):
        n = len(span)
        return [i for i in range(len(doc) - n + 1) if doc[i : i + n] == span]

    _, rec = sample_run
    orig = originals(rec)
    for r in range(len(orig)):
        length = int(rec["input_mask"][r].sum())
        sep = int(np.flatnonzero(orig[r] == ids["[SEP]"])[0])
        a = orig[r][1:sep].tolist()
        b = orig[r][sep + 1 : length - 1].tolist()
        a_where = [(d, i) for d, doc in enumerate(docs) for i in find(doc, a)]
        b_where = [(d, i) for d, doc in enumerate(docs) for i in find(doc, b)]
        assert a_where and b_where, f"instance {r} is not made of the text"
        if rec["next_sentence_labels"][r][0] == 0:
            assert any(
                da == db and ib >= ia + len(a)
                for da, ia in a_where
                for db, ib in b_where
            ), f"instance {r}: a real next B must follow A in its document"


def test_random_next_share_on_sample_text(sample_run):
    # 50% random, plus every chunk of a single sentence (always random): >= 50%.
    summary, rec = sample_run
    share = rec["next_sentence_labels"].mean()
    assert 0.45 < share < 0.75
    assert summary["random_next_fraction"] == pytest.approx(share)


# ---- synthetic corpora whose structure makes the recipe observable ----


@pytest.fixture(scope="module")
def words(vocab):
    # Whole-word vocabulary entries (each tokenizes to itself).
    chosen = [t for t in vocab[2000:6000] if t.isascii() and t.isalpha()]
    return chosen[:500]


@pytest.fixture(scope="module")
def labelled_run(words, vocab_file, tmp_path_factory):
    """400 documents; document k is 200 sentences of 5 tokens, all the word w_k."""
    folder = tmp_path_factory.mktemp("labelled")
    corpus = folder / "corpus.txt"
    docs = ["\n".join([" ".join([w] * 5)] * 200) for w in words[:400]]
    corpus.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    out = folder / "out.tfrecord"
    summary = create_pretraining_data(
        str(corpus),
        str(out),
        str(vocab_file),
        dupe_factor=1,
        num_workers=2,
        progress=False,
    )
    return summary, read_records([out])


def test_next_sentence_labels_are_true(labelled_run, vocab, ids):
    _, rec = labelled_run
    orig = originals(rec)
    for r in range(len(orig)):
        sep = int(np.flatnonzero(orig[r] == ids["[SEP]"])[0])
        word_a, word_b = orig[r][1], orig[r][sep + 1]
        assert len(set(orig[r][1:sep].tolist())) == 1
        if rec["next_sentence_labels"][r][0] == 0:
            assert word_b == word_a  # the same document
        else:
            assert word_b != word_a  # another document


def test_random_next_is_half_when_chunks_have_two_sentences(labelled_run):
    # Every chunk holds >= 2 sentences (targets >= 2 tokens, 5-token sentences)
    # except a document's last one, so the share is 50% up to ~1%.
    _, rec = labelled_run
    share = rec["next_sentence_labels"].mean()
    assert len(rec["next_sentence_labels"]) > 1000
    assert abs(share - 0.5) < 0.05


def test_short_targets_with_probability_short_seq_prob(labelled_run, ids):
    """A real-next pair that is not a document's last chunk is exactly the target
    rounded up to whole sentences: 125 tokens for a full target, fewer when the
    document's target was drawn short (t in [2, 125]; t <= 120 shows)."""
    _, rec = labelled_run
    orig = originals(rec)
    longest = collections.defaultdict(int)
    for r in range(len(orig)):
        if rec["next_sentence_labels"][r][0] == 0:
            length = int(rec["input_mask"][r].sum()) - 3
            word = int(orig[r][1])
            longest[word] = max(longest[word], length)
    assert len(longest) > 350
    short = np.mean([v < SEQ - 3 for v in longest.values()])
    expected = 0.1 * 119 / 124
    assert abs(short - expected) < 0.045  # 3 standard deviations over 400 documents


def test_single_sentence_chunks_always_take_a_random_next(words, vocab_file, tmp_path):
    # Documents of one sentence: every chunk holds one segment -> always random.
    corpus = tmp_path / "one_sentence_docs.txt"
    corpus.write_text(
        "\n\n".join(" ".join([w] * 7) for w in words[:50]) + "\n", encoding="utf-8"
    )
    out = tmp_path / "out.tfrecord"
    summary = create_pretraining_data(
        str(corpus),
        str(out),
        str(vocab_file),
        dupe_factor=4,
        num_workers=1,
        progress=False,
    )
    rec = read_records([out])
    assert len(rec["raw"]) == 200 == summary["instances"]
    assert (rec["next_sentence_labels"] == 1).all()
    assert summary["single_sentence_documents"] == 50


def test_whole_word_masking_never_splits_a_word(wwm_run, vocab):
    summary, rec = wwm_run
    orig = originals(rec)
    masked = np.zeros(orig.shape, bool)
    rows, slots = np.nonzero(rec["masked_lm_weights"] > 0)
    masked[rows, rec["masked_lm_positions"][rows, slots]] = True
    pieces_in_masked_words = 0
    for r in range(len(orig)):
        length = int(rec["input_mask"][r].sum())
        tokens = [vocab[i] for i in orig[r][:length]]
        # Words: a piece and the "##" pieces after it, inside one segment.
        word = []
        for i in range(1, length):
            if tokens[i].startswith("##") and word:
                word.append(i)
                continue
            if word:
                states = {bool(masked[r, j]) for j in word}
                assert len(states) == 1, f"instance {r}: a word is partly masked"
                if len(word) > 1 and masked[r, word[0]]:
                    pieces_in_masked_words += len(word)
            word = [] if tokens[i] in ("[SEP]", "[CLS]") else [i]
        count = int(masked[r].sum())
        assert count <= min(PRED, max(1, int(round(length * 0.15))))
    assert pieces_in_masked_words > 50  # multi-piece words do get masked
    lengths = rec["input_mask"].sum(axis=1)
    need = np.minimum(PRED, np.maximum(1, np.round(lengths * 0.15)))
    assert rec["masked_lm_weights"].sum() / need.sum() > 0.95


def test_same_seed_same_bytes_for_any_number_of_workers(
    sample_text, vocab_file, tmp_path
):
    def run(name, workers, seed=7):
        paths = [tmp_path / f"{name}_0.tfrecord", tmp_path / f"{name}_1.tfrecord"]
        create_pretraining_data(
            str(sample_text),
            paths,
            str(vocab_file),
            dupe_factor=8,
            random_seed=seed,
            num_workers=workers,
            progress=False,
        )
        return [p.read_bytes() for p in paths]

    first = run("w1", 1)
    assert first == run("w1_again", 1)
    assert first == run("w2", 2)
    assert first != run("other_seed", 2, seed=8)


# ---- bad input ----


def test_vocabulary_without_mask_token(sample_text, vocab, tmp_path):
    bad_vocab = tmp_path / "vocab.txt"
    bad_vocab.write_text("\n".join(t for t in vocab if t != "[MASK]") + "\n")
    with pytest.raises(ValueError, match=r"vocab\.txt.*\[MASK\]"):
        create_pretraining_data(
            str(sample_text),
            str(tmp_path / "o.tfrecord"),
            str(bad_vocab),
            progress=False,
        )


def test_empty_files(sample_text, vocab_file, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n  \n")
    with pytest.raises(ValueError, match="no text"):
        create_pretraining_data(
            f"{empty},{blank}",
            str(tmp_path / "o.tfrecord"),
            str(vocab_file),
            progress=False,
        )
    summary = create_pretraining_data(
        [empty, sample_text],
        str(tmp_path / "o.tfrecord"),
        str(vocab_file),
        dupe_factor=1,
        progress=False,
    )
    assert summary["empty_files"] == [str(empty)]
    assert summary["documents"] == 3
    with pytest.raises(FileNotFoundError, match="missing"):
        create_pretraining_data(
            str(tmp_path / "missing*.txt"),
            str(tmp_path / "o.tfrecord"),
            str(vocab_file),
            progress=False,
        )


def test_invalid_utf8_long_and_empty_lines(vocab_file, tmp_path):
    corpus = tmp_path / "mixed.txt"
    good = [b"the first sentence is fine .", b"so is the second one ."]
    corpus.write_bytes(
        b"\n".join(
            good
            + [b"caf\xe9 is not utf-8", b"x" * 2000, b"\x01\x02"]
            + good
            + [b"", b"another document here .", b"with two sentences ."]
        )
        + b"\n"
    )
    out = tmp_path / "o.tfrecord"
    summary = create_pretraining_data(
        str(corpus),
        str(out),
        str(vocab_file),
        dupe_factor=2,
        max_line_chars=1000,
        progress=False,
    )
    assert summary["skipped_lines"] == {
        "invalid_utf8": 1,
        "too_long": 1,
        "no_tokens": 1,
    }
    assert summary["skipped_examples"] == [
        f"{corpus}:3: invalid_utf8",
        f"{corpus}:4: too_long",
        f"{corpus}:5: no_tokens",
    ]
    assert summary["documents"] == 2 and summary["sentences"] == 6
    assert len(read_records([out])["raw"]) == summary["instances"] > 0
    with pytest.raises(DataFormatError, match=r"mixed\.txt:3: invalid UTF-8"):
        create_pretraining_data(
            str(corpus),
            str(out),
            str(vocab_file),
            invalid_lines="error",
            progress=False,
        )


def test_very_long_sentences_are_truncated(words, vocab_file, tmp_path):
    corpus = tmp_path / "long.txt"
    corpus.write_text(
        "\n\n".join(" ".join([w] * 3000) for w in words[:3]) + "\n", encoding="utf-8"
    )
    out = tmp_path / "o.tfrecord"
    summary = create_pretraining_data(
        str(corpus),
        str(out),
        str(vocab_file),
        max_seq_length=64,
        dupe_factor=2,
        max_predictions_per_seq=10,
        progress=False,
    )
    rec = read_records([out], seq=64, pred=10)
    assert summary["instances"] == 6
    assert (rec["input_mask"].sum(axis=1) == 64).all()


@pytest.mark.parametrize(
    "flags",
    [
        {"max_seq_length": 4},
        {"dupe_factor": 0},
        {"masked_lm_prob": 0.0},
        {"num_workers": 0},
        {"max_predictions_per_seq": 0},
    ],
)
def test_invalid_flags(sample_text, vocab_file, tmp_path, flags):
    with pytest.raises(ValueError):
        create_pretraining_data(
            str(sample_text),
            str(tmp_path / "o.tfrecord"),
            str(vocab_file),
            progress=False,
            **flags,
        )


def test_output_directory_is_refused_before_any_output_is_touched(
    sample_text, vocab_file, tmp_path
):
    kept = tmp_path / "kept.tfrecord"
    kept.write_bytes(b"existing records")
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        create_pretraining_data(
            str(sample_text), [kept, folder], str(vocab_file), progress=False
        )
    assert kept.read_bytes() == b"existing records"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "kept.tfrecord"]
