"""Reading the corpus: documents, sentences, skipped lines, shuffling."""

import numpy as np

from keras_bert_impl.data.pretraining.corpus import Corpus
from keras_bert_impl.data.pretraining.corpus import make_tokenizer
from keras_bert_impl.data.pretraining.corpus import read_corpus
from tests.bert_test_case import TINY_VOCABULARY


def documents(corpus):
    """Each document as a tuple of sentences, each a tuple of token ids."""
    out = []
    for d in range(corpus.num_documents):
        sentences = range(corpus.doc_sent_start[d], corpus.doc_sent_start[d + 1])
        out.append(
            tuple(
                tuple(corpus.tokens[start : start + length].tolist())
                for start, length in zip(
                    corpus.sent_start[sentences], corpus.sent_len[sentences]
                )
            )
        )
    return out


def test_documents_sentences_and_skipped_lines(tmp_path):
    first = tmp_path / "first.txt"
    first.write_text("The movie was good.\nHe runs.\n\n\nShe sings.\n\x01\x02\n")
    second = tmp_path / "second.txt"
    second.write_text("The fox jumps.\n" + "x" * 50 + "\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    tokenizer = make_tokenizer(TINY_VOCABULARY)
    corpus, report = read_corpus(
        [str(first), str(empty), str(second)], tokenizer, max_line_chars=40
    )
    ids = {t: i for i, t in enumerate(TINY_VOCABULARY)}

    def sentence(text):
        return tuple(ids[t] for t in text.split())

    # Blank lines and the end of a file end documents; empty documents vanish.
    assert documents(corpus) == [
        (sentence("the movie was good ."), sentence("he runs .")),
        (sentence("she sings ."),),
        (sentence("the fox jumps ."),),
    ]
    assert report["skipped_lines"] == {"invalid_utf8": 0, "too_long": 1, "no_tokens": 1}
    assert report["skipped_examples"] == [
        f"{first}:6: no_tokens",
        f"{second}:2: too_long",
    ]
    assert report["empty_files"] == [str(empty)]


def test_shuffling_moves_whole_documents():
    tokens = np.arange(10, dtype=np.int32)
    corpus = Corpus(
        tokens,
        sent_start=np.array([0, 2, 3, 6, 8]),
        sent_len=np.array([2, 1, 3, 2, 2]),
        doc_sent_start=np.array([0, 2, 3, 5]),
    )
    shuffled = corpus.shuffled_documents(np.random.default_rng(3))
    assert shuffled.tokens is tokens
    assert sorted(documents(shuffled)) == sorted(documents(corpus))
    assert shuffled.index_lists()[2] == shuffled.doc_sent_start.tolist()
