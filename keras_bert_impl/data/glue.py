"""Readers for GLUE's TSV files, in the layout GLUE's download script writes.

Column conventions follow google-research/bert's `run_classifier.py` processors
(CoLA, MRPC, MNLI) and the Hugging Face ports of the same processors for the tasks the
original left out (SST-2, STS-B, QQP, QNLI, RTE, WNLI), so an example read here is the
example the reference fine-tuning code trains on: same text fields, same label
strings, same guids.
"""

import csv
import dataclasses
import io
import math
import os
from collections.abc import Mapping

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.data_format_error import read_utf8_text


@dataclasses.dataclass(frozen=True)
class GlueExample:
    """One GLUE example.

    Args:
        guid: str. `"{split}-{id}"`: the file's id column where it has one, else the
            0-based line index (header included), as the original processors number.
        text_a: str. The first (or only) sentence, exactly as in the file.
        text_b: str or None. The second sentence of a pair task.
        label: str, float or None. A member of the task's `label_list` for
            classification, the score for regression (STS-B), None for test files.

    Example:

    >>> GlueExample("dev-1", "it 's a charming journey . ", None, "1").label
    '1'
    """

    guid: str
    text_a: str
    text_b: str | None
    label: str | float | None


@dataclasses.dataclass(frozen=True)
class GlueColumns:
    """Where one kind of GLUE file keeps each field.

    Args:
        has_header: bool. Whether line 1 names the columns (every row must then have
            as many columns as the header).
        text_a: int. 0-based column of the first sentence.
        text_b: int or None. Column of the second sentence; None for single sentences.
        label: int or None. Column of the label (-1 = the last one); None in test files.
        guid: int or None. Column of the example id; None numbers examples by line.
        column_count: int or None. Exact number of columns of a file without a header.

    Example:

    >>> GlueColumns(has_header=True, text_a=3, text_b=4, label=0).text_b
    4
    """

    has_header: bool
    text_a: int
    text_b: int | None = None
    label: int | None = None
    guid: int | None = None
    column_count: int | None = None


_STANDARD_SPLIT_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


@dataclasses.dataclass(frozen=True)
class GlueTask:
    """Everything a reader, a model and an evaluator need to know about a GLUE task.

    Args:
        name: str. The task's folder name in GLUE's download, lower-cased (`"sst-2"`).
        label_list: tuple of str. The labels as written in the files, in the order that
            gives class ids; empty for regression.
        metric_names: tuple of str. The scores GLUE reports for the task, as keys of
            `keras_bert_impl.data.metrics.compute_glue_metrics`' result.
        labeled_columns: GlueColumns. Layout of the train and dev files.
        test_columns: GlueColumns. Layout of the (unlabeled) test files.
        split_files: mapping from split name to file name inside the task's folder.
        label_range: (low, high) or None. Allowed scores of a regression task.

    Example:

    >>> task = GLUE_TASKS["STS-B"]
    >>> task.is_regression, task.num_classes, task.metric_names[:2]
    (True, 1, ('pearson', 'spearman'))
    """

    name: str
    label_list: tuple[str, ...]
    metric_names: tuple[str, ...]
    labeled_columns: GlueColumns
    test_columns: GlueColumns
    split_files: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: dict(_STANDARD_SPLIT_FILES)
    )
    label_range: tuple[float, float] | None = None

    @property
    def is_regression(self):
        """True when the label is a real-valued score rather than a class."""
        return not self.label_list

    @property
    def num_classes(self):
        """The `num_classes` a `BertClassifier` takes for this task (1 = regression)."""
        return 1 if self.is_regression else len(self.label_list)


@dataclasses.dataclass(frozen=True)
class GlueData:
    """The examples of one split of one GLUE task, with the task they belong to.

    Args:
        task: GlueTask. The task (label list, regression flag, metrics).
        split: str. The split that was read (`"train"`, `"dev"`, `"dev_mismatched"`...).
        examples: list of GlueExample, in file order.

    Example:

    >>> data = GlueData(GLUE_TASKS["rte"], "dev", [])
    >>> data.label_list, data.is_regression
    (('entailment', 'not_entailment'), False)
    """

    task: GlueTask
    split: str
    examples: list[GlueExample]

    @property
    def label_list(self):
        """The task's labels in class-id order (empty for regression)."""
        return self.task.label_list

    @property
    def is_regression(self):
        """Whether the task is a regression (STS-B)."""
        return self.task.is_regression

    def __len__(self):
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)


_BINARY = ("0", "1")
_ENTAILMENT = ("entailment", "not_entailment")
_ACCURACY = ("accuracy",)
_ACCURACY_AND_F1 = ("accuracy", "f1", "accuracy_and_f1")


def _pair_task(name, label_list):
    """QNLI, RTE and WNLI: `index, sentence1, sentence2, label`."""
    return GlueTask(
        name=name,
        label_list=label_list,
        metric_names=_ACCURACY,
        labeled_columns=GlueColumns(True, text_a=1, text_b=2, label=-1, guid=0),
        test_columns=GlueColumns(True, text_a=1, text_b=2, guid=0),
    )


_TASKS = (
    # CoLA train/dev have no header: source, label, original mark, sentence.
    GlueTask(
        name="cola",
        label_list=_BINARY,
        metric_names=("matthews_corrcoef",),
        labeled_columns=GlueColumns(False, text_a=3, label=1, column_count=4),
        test_columns=GlueColumns(True, text_a=1),
    ),
    GlueTask(
        name="sst-2",
        label_list=_BINARY,
        metric_names=_ACCURACY,
        labeled_columns=GlueColumns(True, text_a=0, label=1),
        test_columns=GlueColumns(True, text_a=1),
    ),
    # Quality, #1 ID, #2 ID, #1 String, #2 String; test files put an index first.
    GlueTask(
        name="mrpc",
        label_list=_BINARY,
        metric_names=_ACCURACY_AND_F1,
        labeled_columns=GlueColumns(True, text_a=3, text_b=4, label=0),
        test_columns=GlueColumns(True, text_a=3, text_b=4),
    ),
    # index, genre, filename, year, old_index, source1, source2, sentence1, sentence2,
    # score (the test files stop before score).
    GlueTask(
        name="sts-b",
        label_list=(),
        metric_names=("pearson", "spearman", "pearson_and_spearman"),
        labeled_columns=GlueColumns(True, text_a=7, text_b=8, label=-1, guid=0),
        test_columns=GlueColumns(True, text_a=7, text_b=8, guid=0),
        label_range=(0.0, 5.0),
    ),
    # id, qid1, qid2, question1, question2, is_duplicate;
    # test files: id, question1, question2.
    GlueTask(
        name="qqp",
        label_list=_BINARY,
        metric_names=_ACCURACY_AND_F1,
        labeled_columns=GlueColumns(True, text_a=3, text_b=4, label=5, guid=0),
        test_columns=GlueColumns(True, text_a=1, text_b=2, guid=0),
    ),
    # index, promptID, pairID, genre, 4 parse columns, sentence1, sentence2, then one
    # or more annotator labels with gold_label last.
    GlueTask(
        name="mnli",
        label_list=("contradiction", "entailment", "neutral"),
        metric_names=_ACCURACY,
        labeled_columns=GlueColumns(True, text_a=8, text_b=9, label=-1, guid=0),
        test_columns=GlueColumns(True, text_a=8, text_b=9, guid=0),
        split_files={
            "train": "train.tsv",
            # The original MnliProcessor evaluates on the matched set.
            "dev": "dev_matched.tsv",
            "dev_matched": "dev_matched.tsv",
            "dev_mismatched": "dev_mismatched.tsv",
            "test": "test_matched.tsv",
            "test_matched": "test_matched.tsv",
            "test_mismatched": "test_mismatched.tsv",
        },
    ),
    _pair_task("qnli", _ENTAILMENT),
    _pair_task("rte", _ENTAILMENT),
    _pair_task("wnli", _BINARY),
)

# Other spellings in common use: TFDS / keras-hub ("sst2", "stsb") and Hugging Face's
# name for MNLI's mismatched evaluation ("mnli-mm").
_ALIASES = {"sst2": "sst-2", "stsb": "sts-b", "mnli-mm": "mnli"}


class _GlueTaskRegistry(Mapping):
    """A read-only mapping from task name to GlueTask, looked up case-insensitively."""

    def __init__(self, tasks):
        self._tasks = {task.name: task for task in tasks}

    def __getitem__(self, name):
        key = str(name).strip().lower()
        key = _ALIASES.get(key, key)
        if key not in self._tasks:
            raise KeyError(
                f"unknown GLUE task {name!r}; known tasks: {', '.join(self._tasks)}"
            )
        return self._tasks[key]

    def __iter__(self):
        return iter(self._tasks)

    def __len__(self):
        return len(self._tasks)

    def __repr__(self):
        return f"GLUE_TASKS({', '.join(self._tasks)})"


GLUE_TASKS = _GlueTaskRegistry(_TASKS)
"""The nine GLUE tasks by lower-case folder name; `GLUE_TASKS["SST-2"]` also works."""


def read_glue(task_name, data_dir, split="train"):
    """Reads one split of a GLUE task from its folder, as GLUE's download lays it out.

    Args:
        task_name: str. A key of `GLUE_TASKS`, any case (`"SST-2"`, `"mrpc"`, ...).
        data_dir: str or path-like. The task's folder (e.g. `glue_data/MRPC`), as the
            original `--data_dir`.
        split: str. A key of the task's `split_files`: `"train"`, `"dev"`, `"test"`;
            MNLI also `"dev_matched"`, `"dev_mismatched"`, `"test_matched"`,
            `"test_mismatched"` (its `"dev"` is the matched set, as the original's).

    Returns:
        GlueData: the examples with the task's label list and regression flag.

    Raises:
        KeyError: unknown task. ValueError: unknown split. FileNotFoundError: the
        split's file is absent. DataFormatError: the file is malformed.

    Example:

    >>> data = read_glue("SST-2", "glue_data/SST-2", "dev")  # doctest: +SKIP
    >>> len(data), data.label_list, data.examples[0].label  # doctest: +SKIP
    (872, ('0', '1'), '1')
    """
    task = GLUE_TASKS[task_name]
    if split not in task.split_files:
        raise ValueError(
            f"GLUE task {task.name!r} has no split {split!r}; "
            f"known splits: {', '.join(task.split_files)}"
        )
    path = os.path.join(os.fspath(data_dir), task.split_files[split])
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"GLUE task {task.name!r} split {split!r} expects the file {path}, "
            "which does not exist"
        )
    return read_glue_tsv(path, task.name, split)


def read_glue_tsv(path, task_name, split="train"):
    """Reads one GLUE TSV file, whatever its name, with the task's column layout.

    The file is split on tabs with no quote handling at all (the original reads it
    with `csv.reader(f, delimiter="\\t", quotechar=None)`): MRPC, RTE and STS-B hold
    unbalanced `"` inside sentences that a quoting CSV parser would join across
    fields. Every row must have the header's number of columns (CoLA: exactly 4),
    and every label must belong to the task's label set.

    Args:
        path: str or path-like. The TSV file.
        task_name: str. A key of `GLUE_TASKS`, any case.
        split: str. Prefix of the guids; a split starting with `"test"` selects the
            task's unlabeled test layout.

    Returns:
        GlueData: the examples with the task's label list and regression flag.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dev.tsv"
    >>> _ = path.write_text('sentence\\tlabel\\na "quoted\\t1\\n')
    >>> read_glue_tsv(path, "sst-2", "dev").examples
    [GlueExample(guid='dev-1', text_a='a "quoted', text_b=None, label='1')]
    """
    task = GLUE_TASKS[task_name]
    columns = task.test_columns if split.startswith("test") else task.labeled_columns
    rows = _read_tab_separated_rows(path)
    if columns.has_header:
        if not rows:
            raise DataFormatError(
                path, 1, f"empty {task.name} file", expected="a header line", found=""
            )
        column_count = len(rows[0])
        needed = 1 + max(
            index
            for index in (columns.text_a, columns.text_b, columns.label, columns.guid)
            if index is not None
        )
        if column_count < needed:
            raise DataFormatError(
                path,
                1,
                f"the header has too few columns for {task.name} {split}",
                expected=f"at least {needed} columns",
                found=f"{column_count} columns: {rows[0]!r}",
            )
        first_row = 1
        count_reason = "as the header"
    else:
        column_count = columns.column_count
        first_row = 0
        count_reason = f"{task.name} {split} has no header"

    examples = []
    for row_index in range(first_row, len(rows)):
        fields = rows[row_index]
        line_number = row_index + 1
        if len(fields) != column_count:
            raise DataFormatError(
                path,
                line_number,
                f"wrong number of tab-separated columns ({count_reason})",
                expected=f"{column_count} columns",
                found=f"{len(fields)} columns",
            )
        if columns.guid is None:
            guid = f"{split}-{row_index}"
        else:
            guid = f"{split}-{fields[columns.guid]}"
        label = None
        if columns.label is not None:
            label = _parse_label(task, fields[columns.label], path, line_number)
        text_b = None if columns.text_b is None else fields[columns.text_b]
        examples.append(GlueExample(guid, fields[columns.text_a], text_b, label))
    return GlueData(task=task, split=split, examples=examples)


def _read_tab_separated_rows(path):
    """All rows of a TSV file, one per line; empty lines at the end are dropped."""
    text = read_utf8_text(path)
    # QUOTE_NONE is what the original's `quotechar=None` means: a `"` is text.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    rows = []
    try:
        for fields in reader:
            rows.append(fields)
    except csv.Error as error:
        raise DataFormatError(
            path, reader.line_num, f"unreadable line: {error}"
        ) from None
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _parse_label(task, text, path, line_number):
    if not task.is_regression:
        if text not in task.label_list:
            raise DataFormatError(
                path,
                line_number,
                f"label not in the {task.name} label set",
                expected=list(task.label_list),
                found=text,
            )
        return text
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    low, high = task.label_range or (-math.inf, math.inf)
    if not low <= score <= high:
        raise DataFormatError(
            path,
            line_number,
            f"{task.name} score is not a number in its range",
            expected=f"a number in [{low}, {high}]",
            found=text,
        )
    return score
