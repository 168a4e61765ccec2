"""The official SQuAD evaluation: exact match and token F1 after answer normalization.

A faithful port of the official scripts (`evaluate-v1.1.py` and `evaluate-v2.0.py` from
the SQuAD site): same normalization, same max over gold answers, same v2.0 no-answer
handling, threshold and best-threshold search, same result keys. There is no library
for it; the definitions are the scripts themselves, so they are copied rule for rule.
"""

import collections
import logging
import re
import string
from collections.abc import Mapping

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
    """Lower-cases, drops ASCII punctuation and the articles a/an/the, squeezes spaces.

    Args:
        text: str. An answer.

    Returns:
        str: the normalized answer (the order of the steps matters and is the
        official one: lower, punctuation, articles, whitespace).

    Example:

    >>> normalize_answer("  The  Normans' (Norman) rule!")
    'normans norman rule'
    """
    text = text.lower()
    text = "".join(character for character in text if character not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _answer_tokens(text):
    return normalize_answer(text).split() if text else []


def exact_match_score(prediction, ground_truth):
    """1 when the normalized prediction equals the normalized gold answer, else 0.

    Args:
        prediction: str. The predicted answer ("" for no answer).
        ground_truth: str. One gold answer.

    Returns:
        int, 0 or 1.

    Example:

    >>> exact_match_score("the Eiffel Tower.", "Eiffel tower")
    1
    """
    return int(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction, ground_truth):
    """Token-overlap F1 of two answers, the v2.0 official definition.

    Tokens are the whitespace-split normalized answers; overlap counts repeated
    tokens with multiplicity. When either side has no tokens (an empty answer, i.e.
    "no answer" in v2.0), the score is 1 if both are empty and 0 otherwise.

    Args:
        prediction: str. The predicted answer ("" for no answer).
        ground_truth: str. One gold answer ("" for no answer).

    Returns:
        float in [0, 1].

    Example:

    >>> f1_score("in the 10th century", "10th and 11th centuries")
    0.28571428571428575
    >>> f1_score("", "")
    1.0
    """
    prediction_tokens = _answer_tokens(prediction)
    gold_tokens = _answer_tokens(ground_truth)
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    return _overlap_f1(prediction_tokens, gold_tokens)


def _overlap_f1(prediction_tokens, gold_tokens):
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _v1_f1_score(prediction, ground_truth):
    """v1.1's F1: as v2.0's, except that two token-less answers score 0, not 1."""
    return _overlap_f1(
        normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    )


def _gold_answer_texts(gold):
    """{question id: [gold answer texts]} from SquadExamples or such a mapping."""
    if isinstance(gold, Mapping):
        return {qas_id: list(answers) for qas_id, answers in gold.items()}
    return {
        example.qas_id: [answer.text for answer in example.answers] for example in gold
    }


def evaluate_squad_v1(gold, predictions):
    """SQuAD v1.1's official scores: exact match and F1, in percent.

    Each question scores its best value over its gold answers. A question without a
    prediction scores 0 and still counts in the total (the official v1.1 rule); a
    warning names how many were missing.

    Args:
        gold: list of `SquadExample` (from `read_squad`), or a mapping from question
            id to the list of gold answer texts.
        predictions: mapping from question id to the predicted answer text.

    Returns:
        dict with `exact_match` and `f1` (0-100), as the official script prints.

    Example:

    >>> gold = {"q1": ["Denmark", "the Denmark"], "q2": ["10th century"]}
    >>> evaluate_squad_v1(gold, {"q1": "denmark!", "q2": "the 10th"})
    {'exact_match': 50.0, 'f1': 83.33333333333333}
    """
    gold_answers = _gold_answer_texts(gold)
    exact_total = f1_total = 0.0
    missing = 0
    for qas_id, answers in gold_answers.items():
        if qas_id not in predictions:
            missing += 1
            continue
        prediction = predictions[qas_id]
        exact_total += max(exact_match_score(prediction, answer) for answer in answers)
        f1_total += max(_v1_f1_score(prediction, answer) for answer in answers)
    if missing:
        logging.getLogger(__name__).warning(
            "%d of %d questions have no prediction and score 0",
            missing,
            len(gold_answers),
        )
    total = len(gold_answers)
    return {"exact_match": 100.0 * exact_total / total, "f1": 100.0 * f1_total / total}


def evaluate_squad_v2(
    gold, predictions, no_answer_probabilities=None, no_answer_threshold=1.0
):
    """SQuAD v2.0's official scores, with the has-answer / no-answer breakdown.

    Gold answers that normalize to nothing are dropped; a question left without any
    is answered only by "" (no answer). A prediction is replaced by "no answer" when
    its no-answer probability exceeds `no_answer_threshold`. With
    `no_answer_probabilities` given, the best threshold for exact match and for F1 is
    searched too (`find_best_threshold`). The "probabilities" may be any score where
    larger means "more likely unanswerable", e.g. BERT's null-score difference
    `score_null - best_non_null_score`.

    Args:
        gold: list of `SquadExample` (from `read_squad`), or a mapping from question
            id to the list of gold answer texts (empty list = unanswerable).
        predictions: mapping from question id to the predicted text ("" = no answer).
            Every gold question needs one (the official script fails otherwise).
        no_answer_probabilities: mapping from question id to float, or None (then
            every question gets 0.0, as the official script without `--na-prob-file`).
        no_answer_threshold: float. The official `--na-prob-thresh` (default 1.0).

    Returns:
        dict with the official keys: `exact`, `f1`, `total`, then `HasAns_exact`,
        `HasAns_f1`, `HasAns_total` and `NoAns_*` when such questions exist, then
        `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh` when
        `no_answer_probabilities` is given. Scores are percentages.

    Example:

    >>> gold = {"q1": ["Denmark"], "q2": []}
    >>> scores = evaluate_squad_v2(gold, {"q1": "Denmark", "q2": ""})
    >>> scores["exact"], scores["HasAns_total"], scores["NoAns_exact"]
    (100.0, 1, 100.0)
    """
    gold_answers = _gold_answer_texts(gold)
    missing = [qas_id for qas_id in gold_answers if qas_id not in predictions]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(gold_answers)} questions have no prediction "
            f"(first: {missing[:5]}); SQuAD v2.0 scoring needs one for each"
        )
    has_answer = {qas_id: bool(answers) for qas_id, answers in gold_answers.items()}
    exact_raw, f1_raw = {}, {}
    for qas_id, answers in gold_answers.items():
        answers = [answer for answer in answers if normalize_answer(answer)]
        if not answers:
            # The only correct answer to an unanswerable question is no answer.
            answers = [""]
        prediction = predictions[qas_id]
        exact_raw[qas_id] = max(exact_match_score(prediction, a) for a in answers)
        f1_raw[qas_id] = max(f1_score(prediction, a) for a in answers)

    if no_answer_probabilities is None:
        probabilities = {qas_id: 0.0 for qas_id in predictions}
    else:
        probabilities = no_answer_probabilities
    exact_thresholded = _apply_no_answer_threshold(
        exact_raw, probabilities, has_answer, no_answer_threshold
    )
    f1_thresholded = _apply_no_answer_threshold(
        f1_raw, probabilities, has_answer, no_answer_threshold
    )
    results = _percentages(exact_thresholded, f1_thresholded, list(gold_answers))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qas_ids = [qas_id for qas_id, value in has_answer.items() if value is wanted]
        if qas_ids:
            part = _percentages(exact_thresholded, f1_thresholded, qas_ids)
            results.update({f"{prefix}_{key}": value for key, value in part.items()})
    if no_answer_probabilities is not None:
        best_exact, best_exact_threshold = find_best_threshold(
            predictions, exact_raw, probabilities, has_answer
        )
        best_f1, best_f1_threshold = find_best_threshold(
            predictions, f1_raw, probabilities, has_answer
        )
        results["best_exact"] = best_exact
        results["best_exact_thresh"] = best_exact_threshold
        results["best_f1"] = best_f1
        results["best_f1_thresh"] = best_f1_threshold
    return results


def _apply_no_answer_threshold(scores, probabilities, has_answer, threshold):
    """Scores after turning every prediction above the threshold into "no answer"."""
    return {
        qas_id: float(not has_answer[qas_id])
        if probabilities[qas_id] > threshold
        else score
        for qas_id, score in scores.items()
    }


def _percentages(exact_scores, f1_scores, qas_ids):
    total = len(qas_ids)
    return {
        "exact": 100.0 * sum(exact_scores[qas_id] for qas_id in qas_ids) / total,
        "f1": 100.0 * sum(f1_scores[qas_id] for qas_id in qas_ids) / total,
        "total": total,
    }


def find_best_threshold(predictions, scores, no_answer_probabilities, has_answer):
    """The no-answer threshold that maximizes a score, as the official v2.0 script.

    Starting from "every question answered with no answer" (which scores the number
    of unanswerable questions), questions are switched to their predicted answer in
    increasing order of no-answer probability; each switch adds the question's score
    if it has an answer, or subtracts 1 if it is unanswerable and the prediction is
    not empty. The best running total and the probability where it is reached are
    returned. Ties among probabilities keep the order of `no_answer_probabilities`.

    Args:
        predictions: mapping from question id to predicted text ("" = no answer).
        scores: mapping from question id to its raw exact-match or F1 score (0-1).
        no_answer_probabilities: mapping from question id to float.
        has_answer: mapping from question id to bool (True = answerable).

    Returns:
        (best score in percent, best threshold); predict "no answer" when the
        probability is strictly greater than the threshold.

    Example:

    >>> find_best_threshold({"q1": "Paris", "q2": "Rome"}, {"q1": 1.0, "q2": 0.0},
    ...                     {"q1": 0.2, "q2": 0.9}, {"q1": True, "q2": False})
    (100.0, 0.2)
    """
    num_no_answer = sum(1 for qas_id in has_answer if not has_answer[qas_id])
    current_score = best_score = num_no_answer
    best_threshold = 0.0
    ordered_ids = sorted(no_answer_probabilities, key=no_answer_probabilities.get)
    for qas_id in ordered_ids:
        if qas_id not in scores:
            continue
        if has_answer[qas_id]:
            difference = scores[qas_id]
        else:
            difference = -1 if predictions[qas_id] else 0
        current_score += difference
        if current_score > best_score:
            best_score = current_score
            best_threshold = no_answer_probabilities[qas_id]
    return 100.0 * best_score / len(scores), best_threshold
