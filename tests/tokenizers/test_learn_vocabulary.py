import collections

import pytest
import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.tokenizers import learn_vocabulary
from tests.tokenizers import reference
from tests.tokenizers.reference import EDGE_CASES
from tests.tokenizers.reference import MIXED_CHINESE_LINES

RESERVED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def texts(shared_data):
    corpus = reference.corpus(shared_data)
    return (
        corpus["CoLA/train"]
        + corpus["bert_sample_text"]
        + MIXED_CHINESE_LINES * 10
        + EDGE_CASES
    )


def _reference_counts(texts, lowercase):
    """Word counts from the reference BasicTokenizer."""
    from transformers.models.bert.tokenization_bert_legacy import BasicTokenizer

    basic = BasicTokenizer(do_lower_case=lowercase)
    return collections.Counter(w for t in texts for w in basic.tokenize(t))


@pytest.mark.parametrize("lowercase", [True, False])
def test_words_are_split_exactly_as_the_reference(texts, lowercase):
    """Same learner inputs as reference-split words ⇒ the same vocabulary."""
    learn_params = dict(upper_thresh=12, lower_thresh=12)
    ours = learn_vocabulary(texts, 2000, lowercase=lowercase, **learn_params)
    expected = wordpiece_tokenizer_learner_lib.learn(
        _reference_counts(texts, lowercase), 2000, RESERVED, **learn_params
    )
    assert ours == expected
    assert any(t.isupper() for t in ours[len(RESERVED) :]) != lowercase


def test_default_search_lands_within_slack_and_covers_the_text(texts):
    vocabulary = learn_vocabulary(texts, 1500)
    assert vocabulary[:5] == RESERVED
    assert 0.95 * 1500 <= len(vocabulary) <= 1500
    assert len(set(vocabulary)) == len(vocabulary)
    assert not any(any(c.isspace() for c in t) for t in vocabulary)
    tokenizer = BertTokenizer(vocabulary)
    # Every word of the training text tokenizes without [UNK] (but the words
    # over 100 characters in EDGE_CASES, [UNK] by BERT's rule).
    ids = tokenizer([t for t in texts if not any(len(w) > 100 for w in t.split())])
    assert sum(row.count(tokenizer.unk_token_id) for row in ids) == 0
    # Whole frequent words are single tokens.
    assert tokenizer("the") == [tokenizer.token_to_id("the")]


def test_files_datasets_and_output_file(texts, tmp_path):
    part_one, part_two = tmp_path / "a.txt", tmp_path / "b.txt"
    part_one.write_text("\n".join(texts[:4000]) + "\n", encoding="utf-8")
    part_two.write_text("\n".join(texts[4000:]) + "\n", encoding="utf-8")
    output = tmp_path / "vocab.txt"
    from_list = learn_vocabulary(texts, 800, upper_thresh=20, lower_thresh=20)
    from_files = learn_vocabulary(
        [str(part_one), part_two],
        800,
        output_file=str(output),
        upper_thresh=20,
        lower_thresh=20,
    )
    from_dataset = learn_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts).batch(1000),
        800,
        upper_thresh=20,
        lower_thresh=20,
    )
    assert from_list == from_files == from_dataset
    assert output.read_text(encoding="utf-8").split("\n")[:-1] == from_list
    tokenizer = BertTokenizer(str(output))
    assert tokenizer.vocabulary == from_list
    assert (tokenizer.cls_token_id, tokenizer.mask_token_id) == (2, 4)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        learn_vocabulary(["a b c"], 5)
    with pytest.raises(ValueError, match="No such file"):
        learn_vocabulary(str(tmp_path / "missing.txt"), 100)
    with pytest.raises(ValueError, match="No words"):
        learn_vocabulary(["", "  "], 100)
