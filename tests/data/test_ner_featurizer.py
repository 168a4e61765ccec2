import numpy as np
import pytest

from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
from keras_bert_impl.data.conll import read_conll2003
from keras_bert_impl.data.metrics import compute_ner_metrics
from keras_bert_impl.data.ner_featurizer import NerFeaturizer


@pytest.fixture(scope="module")
def cased_vocab(shared_data):
    return str(shared_data / "vocab" / "cased" / "vocab.txt")


@pytest.fixture(scope="module")
def featurizer(cased_vocab):
    from keras_bert_impl.tokenizers import BertTokenizer

    # The paper's NER model is cased.
    return NerFeaturizer(
        BertTokenizer(cased_vocab, lowercase=False), sequence_length=64
    )


@pytest.fixture(scope="module")
def sentences(shared_data):
    return read_conll2003(shared_data / "conll2003" / "valid.txt")


def test_first_sub_token_labels_equal_the_hugging_face_recipe(
    featurizer, sentences, cased_vocab
):
    """Every real CoNLL-2003 dev sentence, against transformers' run_ner recipe.

    The reference: `BertTokenizerFast(words, is_split_into_words=True)` and
    its `word_ids()`; the first token of each word gets the word's tag id,
    every other position -100; cut at the same length.
    """
    import transformers

    reference = transformers.BertTokenizerFast(cased_vocab, do_lower_case=False)
    label_ids = {tag: index for index, tag in enumerate(CONLL2003_NER_LABELS)}
    features = featurizer.featurize(sentences)
    assert features["x"]["token_ids"].shape == (3250, 64)
    encoded = reference(
        [list(s.tokens) for s in sentences],
        is_split_into_words=True,
        truncation=True,
        max_length=64,
        padding="max_length",
    )
    for index, sentence in enumerate(sentences):
        np.testing.assert_array_equal(
            features["x"]["token_ids"][index], encoded["input_ids"][index]
        )
        np.testing.assert_array_equal(
            features["x"]["padding_mask"][index], encoded["attention_mask"][index]
        )
        expected, previous = [], None
        for word in encoded.word_ids(index):
            first = word is not None and word != previous
            expected.append(label_ids[sentence.ner_tags[word]] if first else -100)
            previous = word
        np.testing.assert_array_equal(features["labels"][index], expected)
    assert not features["x"]["segment_ids"].any()
    # Long sentences lose their tail at 64 pieces; no CoNLL word is empty.
    assert features["truncated_words"] > 0 and features["empty_words"] == 0


def test_gold_labels_map_back_to_the_words(featurizer, sentences):
    features = featurizer.featurize(sentences[:600])
    labels = features["labels"]
    tags = featurizer.predictions_to_tags(np.where(labels < 0, 0, labels), features)
    gold = [list(s.ner_tags) for s in sentences[:600]]
    assert [len(t) for t in tags] == [len(g) for g in gold]
    if features["truncated_words"] == 0:
        assert tags == gold
    # Logits (one-hot here) work the same as class ids.
    one_hot = np.eye(len(CONLL2003_NER_LABELS))[np.where(labels < 0, 0, labels)]
    assert featurizer.predictions_to_tags(one_hot, features) == tags
    scores = compute_ner_metrics(tags, gold)
    kept = sum(n for n in features["num_words"]) - features["truncated_words"]
    assert scores["accuracy"] >= kept / sum(features["num_words"])


def test_truncated_and_empty_words_get_the_default_tag():
    from keras_bert_impl.tokenizers import BertTokenizer

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "new", "york", "##er"]
    featurizer = NerFeaturizer(BertTokenizer(vocabulary), sequence_length=6)
    words = [["new", "\x00", "yorker", "new", "york"]]
    tags = [["B-LOC", "O", "B-MISC", "B-LOC", "I-LOC"]]
    features = featurizer.featurize(words, tags)
    # [CLS] new york ##er new [SEP]: "\x00" has no piece, "york" is cut off.
    np.testing.assert_array_equal(features["x"]["token_ids"][0], [2, 5, 6, 7, 5, 3])
    np.testing.assert_array_equal(features["labels"][0], [-100, 5, 7, -100, 5, -100])
    np.testing.assert_array_equal(features["word_starts"][0], [1, -1, 2, 4, -1])
    assert (features["empty_words"], features["truncated_words"]) == (1, 1)
    predictions = np.array([[0, 5, 7, 0, 5, 0]])
    assert featurizer.predictions_to_tags(predictions, features) == [
        ["B-LOC", "O", "B-MISC", "B-LOC", "O"]
    ]
    unlabeled = featurizer.featurize(words)
    assert unlabeled["labels"] is None


def test_bad_tags_fail_clearly(featurizer):
    with pytest.raises(ValueError, match="tag 'B-FOO' is not in the label list"):
        featurizer.featurize([["Paris"]], [["B-FOO"]])
    with pytest.raises(ValueError, match="has 2 words but 1 tags"):
        featurizer.featurize([["New", "York"]], [["B-LOC"]])
