"""The SQuAD scorer against hand-computed values of the official definitions."""

import pytest

from keras_bert_impl.data.squad import SquadAnswer
from keras_bert_impl.data.squad import SquadExample
from keras_bert_impl.data.squad import read_squad
from keras_bert_impl.data.squad_evaluation import evaluate_squad_v1
from keras_bert_impl.data.squad_evaluation import evaluate_squad_v2
from keras_bert_impl.data.squad_evaluation import exact_match_score
from keras_bert_impl.data.squad_evaluation import f1_score
from keras_bert_impl.data.squad_evaluation import find_best_threshold
from keras_bert_impl.data.squad_evaluation import normalize_answer


@pytest.mark.parametrize(
    "text, normalized",
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("an apple a day", "apple day"),
        # Articles only as whole words: "theater", "Anna", "ban" survive.
        ("Theater of Anna's ban", "theater of annas ban"),
        ("U.S.A.", "usa"),
        ("  multiple\tspaces\n here ", "multiple spaces here"),
        # Punctuation goes before articles, so "the-end" -> "theend" keeps "the".
        ("the-end", "theend"),
        ("(a) 1,000 $", "1000"),
        ("“Curly” quotes – dash", "“curly” quotes – dash"),
        ("THE", ""),
        ("", ""),
    ],
)
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_and_f1_by_hand():
    assert exact_match_score("the Normans.", "Normans") == 1
    assert exact_match_score("Normans of France", "Normans") == 0
    # pred {normans, of, france}, gold {normans}: P 1/3, R 1, F1 = 2PR/(P+R) = 1/2.
    assert f1_score("Normans of France", "Normans") == pytest.approx(0.5)
    # Repeated tokens count with multiplicity: pred [x, x, y], gold [x, y, y] share
    # one x and one y, so P = R = 2/3.
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_score("Rollo", "Normans") == 0.0
    # v2.0: empty vs empty agrees, empty vs anything does not.
    assert f1_score("", "") == 1.0
    assert f1_score("", "Rollo") == 0.0
    assert f1_score("the", "") == 1.0  # "the" normalizes to no tokens


def test_v1_max_over_several_gold_answers():
    gold = {
        # best gold for EM is the second; best F1 too.
        "q1": ["10th and 11th centuries", "in the 10th and 11th centuries"],
        # pred "Rollo's army": tokens [rollos, army]; gold [rollo] -> F1 0,
        # gold [rollos] -> P 1/2, R 1 -> 2/3.
        "q2": ["Rollo", "Rollo's"],
        # No overlap at all.
        "q3": ["Charles III"],
        # Articles and punctuation alone differ: EM 1.
        "q4": ["Denmark, Iceland and Norway"],
    }
    predictions = {
        "q1": "In the 10th and 11th centuries.",
        "q2": "Rollo's army",
        "q3": "King Louis",
        "q4": "denmark iceland and norway",
    }
    scores = evaluate_squad_v1(gold, predictions)
    assert scores["exact_match"] == pytest.approx(100 * 2 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0 + 1) / 4)


def test_v1_missing_prediction_scores_zero_and_counts(caplog):
    scores = evaluate_squad_v1({"q1": ["Paris"], "q2": ["Rome"]}, {"q1": "Paris"})
    assert scores == {"exact_match": 50.0, "f1": 50.0}
    assert "1 of 2 questions have no prediction" in caplog.text


def test_v1_differs_from_v2_only_on_tokenless_answers():
    # v1.1: two answers without tokens get F1 0 (but EM 1); v2.0 drops such a gold
    # answer and then only "no answer" is right.
    assert evaluate_squad_v1({"q": ["the"]}, {"q": "a"}) == {
        "exact_match": 100.0,
        "f1": 0.0,
    }
    v2 = evaluate_squad_v2({"q": ["the"]}, {"q": "a"})
    assert (v2["exact"], v2["f1"]) == (100.0, 100.0)


def v2_case():
    gold = {
        "a1": ["Normandy", "in Normandy"],
        "a2": ["Rollo"],
        "a3": ["the 10th century"],
        "n1": [],
        "n2": [],
    }
    predictions = {"a1": "Normandy", "a2": "", "a3": "10th", "n1": "", "n2": "Paris"}
    no_answer_probabilities = {"a1": 0.1, "a2": 0.9, "a3": 0.3, "n1": 0.8, "n2": 0.6}
    return gold, predictions, no_answer_probabilities


def test_v2_breakdown_by_hand():
    gold, predictions, _ = v2_case()
    scores = evaluate_squad_v2(gold, predictions)
    # EM: a1 1, a2 0 (empty vs Rollo), a3 0, n1 1 (empty vs no answer), n2 0.
    # F1: a1 1, a2 0, a3 "10th" vs [10th, century]: P 1, R 1/2 -> 2/3, n1 1, n2 0.
    assert scores["exact"] == pytest.approx(100 * 2 / 5)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 5)
    assert scores["total"] == 5
    assert scores["HasAns_exact"] == pytest.approx(100 / 3)
    assert scores["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert scores["HasAns_total"] == 3
    assert scores["NoAns_exact"] == scores["NoAns_f1"] == 50.0
    assert scores["NoAns_total"] == 2
    assert "best_exact" not in scores


def test_v2_no_answer_threshold_and_best_threshold_by_hand():
    gold, predictions, probabilities = v2_case()
    # Threshold 0.5: a2 (0.9), n1 (0.8), n2 (0.6) become "no answer".
    # EM: a1 1, a2 0, a3 0, n1 1, n2 1 -> 60; F1: 1, 0, 2/3, 1, 1.
    scores = evaluate_squad_v2(
        gold, predictions, probabilities, no_answer_threshold=0.5
    )
    assert scores["exact"] == pytest.approx(60.0)
    assert scores["f1"] == pytest.approx(100 * (3 + 2 / 3) / 5)
    assert scores["NoAns_exact"] == 100.0
    # Best threshold, official walk in increasing probability: start at 2 (the
    # unanswerable count); a1 (0.1) +1 -> 3 best; a3 (0.3) +0 (EM) -> 3;
    # n2 (0.6) -1 -> 2; n1 (0.8) +0; a2 (0.9) +0. Best EM 3/5 at 0.1.
    assert scores["best_exact"] == pytest.approx(60.0)
    assert scores["best_exact_thresh"] == 0.1
    # F1: a1 +1 -> 3; a3 +2/3 -> 3.667 best at 0.3; n2 -1; ...
    assert scores["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 5)
    assert scores["best_f1_thresh"] == 0.3


def test_find_best_threshold_matches_the_official_walk():
    has_answer = {"x": True, "y": False, "z": True}
    predictions = {"x": "a", "y": "", "z": "b"}
    scores = {"x": 0.0, "y": 1.0, "z": 1.0}
    probabilities = {"x": 0.5, "y": 0.2, "z": 0.7}
    # start 1; y (0.2): empty prediction, +0; x (0.5): +0; z (0.7): +1 -> 2 at 0.7.
    assert find_best_threshold(predictions, scores, probabilities, has_answer) == (
        pytest.approx(100 * 2 / 3),
        0.7,
    )
    # Nothing beats predicting "no answer" everywhere: threshold stays 0.0.
    assert find_best_threshold({"y": "junk"}, {"y": 0.0}, {"y": 0.4}, {"y": False}) == (
        100.0,
        0.0,
    )


def test_v2_requires_every_prediction():
    with pytest.raises(ValueError, match=r"1 of 2 questions have no prediction"):
        evaluate_squad_v2({"a": ["x"], "b": []}, {"a": "x"})


def test_accepts_squad_examples(shared_data):
    examples = read_squad(shared_data / "squad/haystack_squad_v2_dev_subset_small.json")
    # Predicting the first gold answer, or no answer, is perfect.
    predictions = {
        example.qas_id: example.answers[0].text if example.answers else ""
        for example in examples
    }
    scores = evaluate_squad_v2(examples, predictions)
    assert scores["exact"] == scores["f1"] == 100.0
    assert (scores["total"], scores["HasAns_total"], scores["NoAns_total"]) == (
        626,
        293,
        333,
    )
    wrong = dict(predictions, **{examples[0].qas_id: "Italy"})
    assert evaluate_squad_v2(examples, wrong)["exact"] == pytest.approx(100 * 625 / 626)
    example = SquadExample("q", "?", "ctx", (SquadAnswer("ctx", 0),), False)
    assert evaluate_squad_v1([example], {"q": "CTX"})["exact_match"] == 100.0
