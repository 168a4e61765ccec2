import numpy as np
import pytest

from keras_bert_impl.data.squad import SquadAnswer
from keras_bert_impl.data.squad import SquadExample
from keras_bert_impl.data.squad import read_squad
from keras_bert_impl.data.squad_evaluation import evaluate_squad_v2
from keras_bert_impl.data.squad_featurizer import SquadFeaturizer


@pytest.fixture(scope="module")
def tokenizer(shared_data):
    from keras_bert_impl.tokenizers import BertTokenizer

    return BertTokenizer(str(shared_data / "vocab" / "uncased" / "vocab.txt"))


@pytest.fixture(scope="module")
def examples(shared_data):
    # The real SQuAD v2.0 dev subset: 626 questions, 293 with answers.
    return read_squad(shared_data / "squad" / "haystack_squad_v2_dev_subset_small.json")


def _oracle_logits(features, length):
    """Logits that put all mass on each window's labeled start and end."""
    windows = len(features["example_index"])
    start = np.full((windows, length), -10.0, "float32")
    end = start.copy()
    rows = np.arange(windows)
    start[rows, features["y"]["start_logits"]] = 10.0
    end[rows, features["y"]["end_logits"]] = 10.0
    return {"start_logits": start, "end_logits": end}


@pytest.mark.parametrize(
    "sequence_length, doc_stride", [(384, 128), (128, 32)], ids=["paper", "short"]
)
def test_every_answer_that_fits_is_recovered_character_exactly(
    tokenizer, examples, sequence_length, doc_stride
):
    featurizer = SquadFeaturizer(
        tokenizer, sequence_length, doc_stride, version_2_with_negative=True
    )
    features = featurizer.featurize(examples, training=True)
    starts, ends = features["y"]["start_logits"], features["y"]["end_logits"]
    answered = set()
    for window, example_index in enumerate(features["example_index"]):
        example = examples[example_index]
        if starts[window] == 0:
            assert ends[window] == 0
            continue
        assert features["x"]["segment_ids"][window, starts[window]] == 1
        text = example.context[
            features["token_start_chars"][window, starts[window]] : features[
                "token_end_chars"
            ][window, ends[window]]
        ]
        assert text == example.answers[0].text, example.qas_id
        answered.add(example.qas_id)
    # Every answer is shorter than a window: each is in at least one window.
    assert answered == {e.qas_id for e in examples if e.answers}
    assert len(answered) == 293
    # Decoding the oracle logits gives the official scorer's 100.
    result = featurizer.postprocess(features, _oracle_logits(features, sequence_length))
    scores = evaluate_squad_v2(examples, result["predictions"], result["null_odds"])
    assert scores["exact"] == 100.0 and scores["f1"] == 100.0


def test_windows_follow_the_original_recipe(tokenizer, examples):
    featurizer = SquadFeaturizer(tokenizer, sequence_length=128, doc_stride=32)
    long_question = SquadExample(
        "long", " ".join(["why"] * 100), examples[0].context, (), True
    )
    features = featurizer.featurize(examples[:40] + [long_question])
    token_ids = features["x"]["token_ids"]
    assert token_ids.shape[1] == 128
    for example_index, example in enumerate(examples[:40] + [long_question]):
        windows = np.flatnonzero(features["example_index"] == example_index)
        question = tokenizer.tokenize(example.question)[:64]
        context_ids = tokenizer.tokenize(example.context)
        covered = np.zeros(len(context_ids), int)
        max_context = np.zeros(len(context_ids), int)
        previous_start = None
        for window in windows:
            ids = token_ids[window]
            # [CLS] question (at most 64 pieces) [SEP] context piece [SEP]
            assert ids[0] == tokenizer.cls_token_id
            np.testing.assert_array_equal(ids[1 : 1 + len(question)], question)
            assert ids[1 + len(question)] == tokenizer.sep_token_id
            in_context = features["token_start_chars"][window] >= 0
            positions = np.flatnonzero(in_context)
            first = len(question) + 2
            assert positions[0] == first
            assert (features["x"]["segment_ids"][window][positions] == 1).all()
            # Which context pieces this window holds, from its character offsets.
            starts = features["token_start_chars"][window][positions]
            span_start = int(
                np.searchsorted(_piece_starts(tokenizer, example), starts[0])
            )
            np.testing.assert_array_equal(
                ids[positions], context_ids[span_start : span_start + len(positions)]
            )
            covered[span_start : span_start + len(positions)] += 1
            max_context[span_start : span_start + len(positions)] += features[
                "token_is_max_context"
            ][window][positions]
            if previous_start is not None:
                assert span_start - previous_start == 32
            previous_start = span_start
            assert first + len(positions) + 1 <= 128
        assert (covered >= 1).all()
        assert (max_context == 1).all()  # each piece scored in exactly one window
    assert len(np.flatnonzero(features["example_index"] == 40)) >= 1


def _piece_starts(tokenizer, example):
    _, starts, _ = tokenizer.tokenize_with_offsets(example.context, unit="char")
    return np.array(starts)


def _toy_features(featurizer, context="the fox jumps over the dog in paris ."):
    example = SquadExample("q", "where ?", context, (SquadAnswer("paris", 31),), False)
    return featurizer.featurize([example], training=True)


def test_postprocess_keeps_only_valid_spans(tokenizer):
    featurizer = SquadFeaturizer(
        tokenizer, sequence_length=16, max_query_length=4, n_best_size=5,
        max_answer_length=3,
    )  # fmt: skip
    features = _toy_features(featurizer)
    # [CLS] where ? [SEP] the fox jumps over the dog in paris . [SEP] pad pad
    #   0     1   2   3    4   5    6     7    8   9  10   11  12   13
    assert features["y"]["start_logits"][0] == features["y"]["end_logits"][0] == 11
    start = np.zeros((1, 16), "float32")
    end = np.zeros((1, 16), "float32")
    start[0, [1, 5, 11]] = [9.0, 3.0, 4.0]  # 1 is in the question: never a start
    # 2: question; 4 < 5; 9 makes 5..9 longer than 3 pieces.
    end[0, [2, 4, 9, 11, 6]] = [8.0, 7.0, 4.0, 1.0, 0.5]
    result = featurizer.postprocess(
        features, {"start_logits": start, "end_logits": end}
    )
    nbest = result["nbest"]["q"]
    assert result["predictions"]["q"] == "paris"
    assert [entry["text"] for entry in nbest] == ["paris", "fox jumps"]
    assert [entry["start_logit"] + entry["end_logit"] for entry in nbest] == [5.0, 3.5]
    assert sum(entry["probability"] for entry in nbest) == pytest.approx(1.0)
    assert "null_odds" not in result  # SQuAD v1.1: always an answer
    # Only the n_best_size best starts and ends are searched.
    fewer = SquadFeaturizer(
        tokenizer,
        sequence_length=16,
        max_query_length=4,
        n_best_size=3,
        max_answer_length=3,
    ).postprocess(features, {"start_logits": start, "end_logits": end})
    assert fewer["predictions"]["q"] == ""  # end 11 is not among the best 3


def test_null_answer_and_its_threshold(tokenizer):
    featurizer = SquadFeaturizer(
        tokenizer, sequence_length=16, max_query_length=4,
        version_2_with_negative=True,
    )  # fmt: skip
    features = _toy_features(featurizer)
    start = np.zeros((1, 16), "float32")
    end = np.zeros((1, 16), "float32")
    start[0, 0], end[0, 0] = 3.0, 2.0  # null score 5
    start[0, 11], end[0, 11] = 2.0, 1.5  # best span 3.5
    logits = {"start_logits": start, "end_logits": end}
    result = featurizer.postprocess(features, logits)
    assert result["null_odds"]["q"] == pytest.approx(1.5)
    assert result["predictions"]["q"] == ""  # 1.5 > threshold 0
    assert "" in [entry["text"] for entry in result["nbest"]["q"]]
    tuned = featurizer.postprocess(features, logits, null_score_diff_threshold=2.0)
    assert tuned["predictions"]["q"] == "paris"


def test_bad_settings_fail_clearly(tokenizer):
    with pytest.raises(ValueError, match="leaves no room for the context"):
        SquadFeaturizer(tokenizer, sequence_length=64, max_query_length=64)
