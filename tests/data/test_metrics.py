"""Each metric equals the library value it wraps, on data where the answer is known."""

import numpy as np
import pytest
import scipy.stats
import seqeval.metrics
import sklearn.metrics

from keras_bert_impl.training import metrics

RANDOM = np.random.default_rng(7)
LABELS = RANDOM.integers(0, 2, 200)
PREDICTIONS = np.where(RANDOM.random(200) < 0.8, LABELS, 1 - LABELS)
SCORES = RANDOM.uniform(0, 5, 150)
PREDICTED_SCORES = SCORES + RANDOM.normal(0, 1, 150)


def test_classification_metrics_equal_sklearn():
    assert metrics.accuracy(PREDICTIONS, LABELS) == pytest.approx(
        sklearn.metrics.accuracy_score(LABELS, PREDICTIONS)
    )
    assert metrics.f1(PREDICTIONS, LABELS) == pytest.approx(
        sklearn.metrics.f1_score(LABELS, PREDICTIONS)
    )
    assert metrics.matthews_corrcoef(PREDICTIONS, LABELS) == pytest.approx(
        sklearn.metrics.matthews_corrcoef(LABELS, PREDICTIONS)
    )


def test_f1_and_mcc_by_hand():
    # tp 2, fp 1, fn 1, tn 1: F1 = 2*2 / (2*2 + 1 + 1) = 2/3;
    # MCC = (2*1 - 1*1) / sqrt(3 * 3 * 2 * 2) = 1/6.
    predictions, labels = [1, 1, 1, 0, 0], [1, 1, 0, 1, 0]
    assert metrics.f1(predictions, labels) == pytest.approx(2 / 3)
    assert metrics.matthews_corrcoef(predictions, labels) == pytest.approx(1 / 6)


def test_correlations_equal_scipy():
    assert metrics.pearson(PREDICTED_SCORES, SCORES) == pytest.approx(
        scipy.stats.pearsonr(PREDICTED_SCORES, SCORES)[0]
    )
    assert metrics.spearman(PREDICTED_SCORES, SCORES) == pytest.approx(
        scipy.stats.spearmanr(PREDICTED_SCORES, SCORES)[0]
    )
    assert metrics.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_combined_glue_reports():
    combined = metrics.accuracy_and_f1(PREDICTIONS, LABELS)
    accuracy = sklearn.metrics.accuracy_score(LABELS, PREDICTIONS)
    f1 = sklearn.metrics.f1_score(LABELS, PREDICTIONS)
    assert combined == pytest.approx(
        {"accuracy": accuracy, "f1": f1, "accuracy_and_f1": (accuracy + f1) / 2}
    )
    correlations = metrics.pearson_and_spearman(PREDICTED_SCORES, SCORES)
    pearson = scipy.stats.pearsonr(PREDICTED_SCORES, SCORES)[0]
    spearman = scipy.stats.spearmanr(PREDICTED_SCORES, SCORES)[0]
    assert correlations == pytest.approx(
        {
            "pearson": pearson,
            "spearman": spearman,
            "pearson_and_spearman": (pearson + spearman) / 2,
        }
    )


@pytest.mark.parametrize(
    "task, keys",
    [
        ("CoLA", ["matthews_corrcoef"]),
        ("sst-2", ["accuracy"]),
        ("MRPC", ["accuracy", "f1", "accuracy_and_f1"]),
        ("qqp", ["accuracy", "f1", "accuracy_and_f1"]),
        ("rte", ["accuracy"]),
    ],
)
def test_compute_glue_metrics_keys_and_values(task, keys):
    scores = metrics.compute_glue_metrics(task, PREDICTIONS, LABELS)
    assert list(scores) == keys
    expected = {
        "matthews_corrcoef": sklearn.metrics.matthews_corrcoef(LABELS, PREDICTIONS),
        "accuracy": sklearn.metrics.accuracy_score(LABELS, PREDICTIONS),
        "f1": sklearn.metrics.f1_score(LABELS, PREDICTIONS),
    }
    expected["accuracy_and_f1"] = (expected["accuracy"] + expected["f1"]) / 2
    for key in keys:
        assert scores[key] == pytest.approx(expected[key])


def test_compute_glue_metrics_for_regression_and_logits():
    scores = metrics.compute_glue_metrics(
        "STS-B", PREDICTED_SCORES[:, None], SCORES.tolist()
    )
    assert scores["pearson"] == pytest.approx(
        scipy.stats.pearsonr(PREDICTED_SCORES, SCORES)[0]
    )
    assert scores["spearman"] == pytest.approx(
        scipy.stats.spearmanr(PREDICTED_SCORES, SCORES)[0]
    )
    logits = np.eye(3)[[0, 1, 2, 2]] * 5.0
    labels = ["contradiction", "entailment", "neutral", "entailment"]
    assert metrics.compute_glue_metrics("mnli", logits, labels) == {"accuracy": 0.75}
    assert metrics.compute_glue_metrics("mnli-mm", [0, 1, 2, 2], [0, 1, 2, 1]) == {
        "accuracy": 0.75
    }


def test_compute_glue_metrics_errors():
    with pytest.raises(ValueError, match="not in the label list"):
        metrics.compute_glue_metrics("rte", ["entailment"], ["contradiction"])
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        metrics.compute_glue_metrics("sst-2", [0, 1, 1], [0, 1])
    with pytest.raises(KeyError):
        metrics.compute_glue_metrics("squad", [0], [0])


def test_ner_metrics_equal_seqeval_default_mode():
    gold = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["B-ORG", "I-ORG", "I-ORG", "O", "B-MISC"],
    ]
    predicted = [
        ["B-PER", "I-PER", "O", "B-ORG"],  # PER right, LOC typed as ORG
        ["B-ORG", "I-ORG", "O", "O", "I-MISC"],  # ORG span too short; stray I-MISC
    ]
    scores = metrics.compute_ner_metrics(predicted, gold)
    assert scores == pytest.approx(
        {
            "precision": seqeval.metrics.precision_score(gold, predicted),
            "recall": seqeval.metrics.recall_score(gold, predicted),
            "f1": seqeval.metrics.f1_score(gold, predicted),
            "accuracy": seqeval.metrics.accuracy_score(gold, predicted),
        }
    )
    # By hand, conlleval rules: predicted entities PER, ORG (the LOC), ORG(0-1) and
    # MISC (the stray I-MISC starts one) -> 4; gold PER, LOC, ORG(0-2), MISC -> 4;
    # correct: PER and MISC -> P = R = F1 = 1/2. Tokens: 3 of 9 tags differ.
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["accuracy"] == pytest.approx(6 / 9)
