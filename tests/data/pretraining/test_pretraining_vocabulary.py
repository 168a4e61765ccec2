"""The pretraining vocabulary: the one vocab.txt reader, checked for special tokens."""

import pytest

from keras_bert_impl.data.pretraining.pretraining_vocabulary import (
    read_pretraining_vocabulary,
)
from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.utils.vocabulary_file import read_vocabulary
from tests.bert_test_case import TINY_VOCABULARY


def test_a_file_reads_as_the_tokenizer_reads_it(tmp_path):
    # A token with a Unicode line separator, as the Chinese BERT vocabulary has.
    vocabulary = TINY_VOCABULARY + ["\u2028", "##\u2028"]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    tokens = read_pretraining_vocabulary(str(vocab_file))
    assert tokens == vocabulary == read_vocabulary(vocab_file)
    assert tokens == BertTokenizer(str(vocab_file)).vocabulary


def test_lists_and_tokenizers():
    assert read_pretraining_vocabulary(tuple(TINY_VOCABULARY)) == TINY_VOCABULARY
    tokenizer = BertTokenizer(TINY_VOCABULARY)
    assert read_pretraining_vocabulary(tokenizer) == TINY_VOCABULARY


def test_missing_special_tokens_are_named_with_the_file(tmp_path):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\n[UNK]\n[SEP]\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.txt.*lacks \[CLS\], \[MASK\]"):
        read_pretraining_vocabulary(str(vocab_file))
    with pytest.raises(ValueError, match=r"lacks \[MASK\] \(masking needs"):
        read_pretraining_vocabulary(["[CLS]", "[SEP]"], purpose="masking")
