import numpy as np
import pytest

from keras_bert_impl.data.swag import SwagExample
from keras_bert_impl.data.swag_featurizer import SwagFeaturizer

_ENDINGS = (
    "starts pulling up roofing on a roof.",
    "is ripping level tiles off.",
    "is holding a rubik's cube.",
    "starts pulling up the roof of the house with a very long hammer.",
)
_EXAMPLES = [
    SwagExample("v0", "0", "A man is sitting on a roof.", "He", _ENDINGS, 0),
    SwagExample("v1", "1", "Someone opens the door and walks in.", "He", _ENDINGS, 3),
    SwagExample("v2", "2", "She smiles.", "", _ENDINGS, 2),
]


@pytest.fixture(scope="module")
def uncased_vocab(shared_data):
    return str(shared_data / "vocab" / "uncased" / "vocab.txt")


@pytest.mark.parametrize("sequence_length", [8, 11, 16, 32])
def test_choices_pack_and_truncate_as_the_original(uncased_vocab, sequence_length):
    """Against the pure-Python reference tokenizer's `longest_first` pairs.

    `BertTokenizerLegacy(a, b, truncation="longest_first")` drops one token off
    the longer segment at a time (off the second on ties), as the original
    `_truncate_seq_pair`.
    """
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    from keras_bert_impl.tokenizers import BertTokenizer

    reference = BertTokenizerLegacy(uncased_vocab, do_lower_case=True)
    featurizer = SwagFeaturizer(BertTokenizer(uncased_vocab), sequence_length)
    features = featurizer.featurize(_EXAMPLES)
    assert features["x"]["token_ids"].shape == (3, 4, sequence_length)
    np.testing.assert_array_equal(features["labels"], [0, 3, 2])
    for index, example in enumerate(_EXAMPLES):
        for choice_index, choice in enumerate(example.choices):
            expected = reference(
                example.context,
                choice,
                truncation="longest_first",
                max_length=sequence_length,
                padding="max_length",
                return_token_type_ids=True,
                return_attention_mask=True,
            )
            found = {k: v[index, choice_index] for k, v in features["x"].items()}
            np.testing.assert_array_equal(found["token_ids"], expected["input_ids"])
            np.testing.assert_array_equal(
                found["segment_ids"], expected["token_type_ids"]
            )
            np.testing.assert_array_equal(
                found["padding_mask"], expected["attention_mask"]
            )


def test_unlabeled_examples_have_no_labels(uncased_vocab):
    from keras_bert_impl.tokenizers import BertTokenizer

    unlabeled = [SwagExample("v", "0", "A man sits.", "He", _ENDINGS, None)]
    features = SwagFeaturizer(BertTokenizer(uncased_vocab), 16).featurize(unlabeled)
    assert features["labels"] is None
    assert features["x"]["segment_ids"].shape == (1, 4, 16)
