"""Task metrics as GLUE and CoNLL-2003 report them, computed by scikit-learn, SciPy and
seqeval so that the numbers are the ones everybody else computes.

Every function takes `(predictions, labels)` in that order, as Hugging Face's GLUE
metrics do.
"""

import numpy as np
import scipy.stats
import seqeval.metrics
import sklearn.metrics

from keras_bert_impl.data.glue import GLUE_TASKS


def accuracy(predictions, labels):
    """Fraction of predictions equal to their label (`sklearn.metrics.accuracy_score`).

    Args:
        predictions: array-like of class ids (or any comparable labels).
        labels: array-like of the same length.

    Returns:
        float in [0, 1].

    Example:

    >>> accuracy([1, 0, 1, 1], [1, 0, 0, 1])
    0.75
    """
    return float(sklearn.metrics.accuracy_score(labels, predictions))


def f1(predictions, labels, pos_label=1, average="binary"):
    """F1 of the positive class (`sklearn.metrics.f1_score`), GLUE's MRPC/QQP F1.

    Args:
        predictions: array-like of class ids.
        labels: array-like of class ids.
        pos_label: the positive class (1: "paraphrase" / "duplicate").
        average: passed to scikit-learn (`"binary"`, `"macro"`, ...).

    Returns:
        float in [0, 1].

    Example:

    >>> round(f1([1, 1, 0, 0], [1, 0, 1, 0]), 3)
    0.5
    """
    return float(
        sklearn.metrics.f1_score(
            labels, predictions, pos_label=pos_label, average=average
        )
    )


def matthews_corrcoef(predictions, labels):
    """Matthews correlation (`sklearn.metrics.matthews_corrcoef`), CoLA's metric.

    Args:
        predictions: array-like of class ids.
        labels: array-like of class ids.

    Returns:
        float in [-1, 1]; 0 when either side holds a single class.

    Example:

    >>> matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0])
    1.0
    """
    return float(sklearn.metrics.matthews_corrcoef(labels, predictions))


def pearson(predictions, labels):
    """Pearson correlation (`scipy.stats.pearsonr`), STS-B's first metric.

    Args:
        predictions: array-like of floats.
        labels: array-like of floats.

    Returns:
        float in [-1, 1] (NaN when either side is constant).

    Example:

    >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.5]), 4)
    0.9979
    """
    return float(scipy.stats.pearsonr(predictions, labels)[0])


def spearman(predictions, labels):
    """Spearman rank correlation (`scipy.stats.spearmanr`), STS-B's second metric.

    Args:
        predictions: array-like of floats.
        labels: array-like of floats.

    Returns:
        float in [-1, 1].

    Example:

    >>> spearman([1.0, 2.0, 3.0], [2.0, 4.0, 6.5])
    1.0
    """
    return float(scipy.stats.spearmanr(predictions, labels)[0])


def accuracy_and_f1(predictions, labels):
    """MRPC's and QQP's report: accuracy, F1 and their mean (GLUE's single score).

    Args:
        predictions: array-like of class ids (1 = positive).
        labels: array-like of class ids.

    Returns:
        dict with `accuracy`, `f1`, `accuracy_and_f1`.

    Example:

    >>> accuracy_and_f1([1, 1, 0, 0], [1, 0, 1, 0])
    {'accuracy': 0.5, 'f1': 0.5, 'accuracy_and_f1': 0.5}
    """
    scores = {"accuracy": accuracy(predictions, labels), "f1": f1(predictions, labels)}
    scores["accuracy_and_f1"] = float(np.mean([scores["accuracy"], scores["f1"]]))
    return scores


def pearson_and_spearman(predictions, labels):
    """STS-B's report: Pearson, Spearman and their mean (GLUE's single score).

    Args:
        predictions: array-like of floats.
        labels: array-like of floats.

    Returns:
        dict with `pearson`, `spearman`, `pearson_and_spearman`.

    Example:

    >>> scores = pearson_and_spearman([1.0, 2.0, 3.0], [2.0, 4.0, 6.5])
    >>> sorted(scores)
    ['pearson', 'pearson_and_spearman', 'spearman']
    """
    scores = {
        "pearson": pearson(predictions, labels),
        "spearman": spearman(predictions, labels),
    }
    scores["pearson_and_spearman"] = float(
        np.mean([scores["pearson"], scores["spearman"]])
    )
    return scores


_GLUE_METRIC_FUNCTIONS = {
    "accuracy": accuracy,
    "f1": f1,
    "accuracy_and_f1": lambda p, y: accuracy_and_f1(p, y)["accuracy_and_f1"],
    "matthews_corrcoef": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
    "pearson_and_spearman": lambda p, y: pearson_and_spearman(p, y)[
        "pearson_and_spearman"
    ],
}


def compute_glue_metrics(task_name, predictions, labels):
    """The metrics GLUE reports for a task (its `GLUE_TASKS[...].metric_names`).

    CoLA: Matthews correlation; MRPC and QQP: accuracy, F1, their mean; STS-B:
    Pearson, Spearman, their mean; the others: accuracy.

    Args:
        task_name: str. A GLUE task, any case (`"CoLA"`, `"sts-b"`, `"mnli-mm"`...).
        predictions: array-like. Class ids, label strings from the task's label list,
            or logits of shape (n, num_classes) (arg-maxed); for regression, scores of
            shape (n,) or (n, 1).
        labels: array-like. Class ids or label strings; scores for regression.

    Returns:
        dict from metric name to float.

    Example:

    >>> compute_glue_metrics("MRPC", [[0.1, 0.9], [2.0, -1.0]], ["1", "1"])
    {'accuracy': 0.5, 'f1': 0.6666666666666666, 'accuracy_and_f1': 0.5833333333333333}
    """
    task = GLUE_TASKS[task_name]
    if task.is_regression:
        predictions = _as_scores(predictions)
        labels = _as_scores(labels)
    else:
        predictions = _as_class_ids(predictions, task.label_list)
        labels = _as_class_ids(labels, task.label_list)
    if predictions.shape != labels.shape:
        raise ValueError(
            f"{len(predictions)} predictions for {len(labels)} labels in {task.name}"
        )
    return {
        name: _GLUE_METRIC_FUNCTIONS[name](predictions, labels)
        for name in task.metric_names
    }


def _as_scores(values):
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1:
        raise ValueError(
            f"regression scores must have shape (n,) or (n, 1), got {scores.shape}"
        )
    return scores


def _as_class_ids(values, label_list):
    """Class ids from ids, label strings or logits."""
    array = np.asarray(values)
    if array.dtype.kind in "USO":
        index = {label: class_id for class_id, label in enumerate(label_list)}
        unknown = sorted({str(value) for value in array.ravel()} - set(index))
        if unknown:
            raise ValueError(
                f"labels {unknown} are not in the label list {list(label_list)}"
            )
        return np.vectorize(index.__getitem__, otypes=[np.int64])(array)
    if array.ndim == 2:
        return np.argmax(array, axis=-1)
    if array.ndim != 1:
        raise ValueError(
            f"class ids must have shape (n,) or logits (n, classes), got {array.shape}"
        )
    return array.astype(np.int64)


def compute_ner_metrics(predictions, labels):
    """Entity-level precision, recall and F1 (and token accuracy) by seqeval.

    An entity counts as found only when its type and exact span match, the CoNLL-2003
    `conlleval` rule. seqeval runs in its default mode, which reads IOB2 tags (and
    reads a stray `I-X` as the start of an entity, as `conlleval` does).

    Args:
        predictions: list of lists of tag strings, one list per sentence.
        labels: list of lists of gold tag strings, the same lengths.

    Returns:
        dict with `precision`, `recall`, `f1` (entity level) and `accuracy` (token
        level), floats in [0, 1].

    Example:

    >>> scores = compute_ner_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    >>> scores["f1"], scores["accuracy"]
    (0.0, 0.6666666666666666)
    """
    predictions = [list(sentence) for sentence in predictions]
    labels = [list(sentence) for sentence in labels]
    return {
        "precision": float(seqeval.metrics.precision_score(labels, predictions)),
        "recall": float(seqeval.metrics.recall_score(labels, predictions)),
        "f1": float(seqeval.metrics.f1_score(labels, predictions)),
        "accuracy": float(seqeval.metrics.accuracy_score(labels, predictions)),
    }
