"""Reader for SWAG's CSV files (rowanz/swagaf `data/train.csv`, `val.csv`, ...)."""

import csv
import dataclasses
import io

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.data_format_error import read_utf8_text

SWAG_NUM_CHOICES = 4
SWAG_ENDING_COLUMNS = tuple(f"ending{index}" for index in range(SWAG_NUM_CHOICES))
"""The CSV columns of the candidate endings, in label order."""
_REQUIRED_COLUMNS = ("video-id", "fold-ind", "sent1", "sent2") + SWAG_ENDING_COLUMNS


@dataclasses.dataclass(frozen=True)
class SwagExample:
    """One SWAG question: a context and four candidate endings.

    Args:
        video_id: str. The source video clip (`video-id`).
        fold_index: str. The example's index in its split (`fold-ind`).
        context: str. The first sentence (`sent1`).
        start_ending: str. The start of the second sentence, shared by every ending
            (`sent2`).
        endings: tuple of 4 str. The candidate completions (`ending0`..`ending3`).
        label: int or None. Index of the right ending; None in the unlabeled test file.

    Example:

    >>> example = SwagExample("v1", "0", "A man sits.", "He", ("eats.", "runs.",
    ...                       "sings.", "swims."), 0)
    >>> example.choices[0]
    'He eats.'
    """

    video_id: str
    fold_index: str
    context: str
    start_ending: str
    endings: tuple[str, ...]
    label: int | None

    @property
    def choices(self):
        """The second segment of each choice: `sent2` followed by the ending.

        This is the pairing of the reference SWAG fine-tuning: segment A is `context`,
        segment B is the shared start plus one ending.
        """
        return tuple(
            " ".join(part for part in (self.start_ending, ending) if part)
            for ending in self.endings
        )


def read_swag(path):
    """Reads a SWAG CSV file: a header, then one quoted-CSV row per example.

    Columns are found by their header names (`video-id, fold-ind, startphrase, sent1,
    sent2, gold-source, ending0..ending3, label`), so the leading unnamed index column
    of the official files is optional. Without a `label` column (the test file) every
    label is None.

    Args:
        path: str or path-like. The CSV file.

    Returns:
        list of SwagExample, in file order.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "val.csv"
    >>> _ = path.write_text(
    ...     "video-id,fold-ind,startphrase,sent1,sent2,gold-source,"
    ...     "ending0,ending1,ending2,ending3,label\\n"
    ...     'v1,7,"A man sits. He","A man sits.",He,gold,eats.,runs.,"sings, loudly.",'
    ...     "swims.,2\\n")
    >>> example = read_swag(path)[0]
    >>> example.endings[example.label]
    'sings, loudly.'
    """
    text = read_utf8_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
    try:
        while True:
            # A quoted field may span lines: a record starts after the previous one.
            start_line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            records.append((start_line, fields))
    except csv.Error as error:
        raise DataFormatError(
            path, reader.line_num, f"unreadable CSV: {error}"
        ) from None
    if not records:
        raise DataFormatError(path, 1, "empty SWAG file", expected="a header", found="")

    _, header = records[0]
    missing = [name for name in _REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DataFormatError(
            path,
            1,
            f"the header lacks SWAG columns {missing}",
            expected=list(_REQUIRED_COLUMNS),
            found=header,
        )
    position = {name: index for index, name in enumerate(header)}
    label_position = position.get("label")

    examples = []
    for line_number, fields in records[1:]:
        if not fields:
            continue
        if len(fields) != len(header):
            raise DataFormatError(
                path,
                line_number,
                "wrong number of comma-separated columns (as the header)",
                expected=f"{len(header)} columns",
                found=f"{len(fields)} columns",
            )
        label = None
        if label_position is not None:
            label = _parse_label(fields[label_position], path, line_number)
        examples.append(
            SwagExample(
                video_id=fields[position["video-id"]],
                fold_index=fields[position["fold-ind"]],
                context=fields[position["sent1"]],
                start_ending=fields[position["sent2"]],
                endings=tuple(fields[position[name]] for name in SWAG_ENDING_COLUMNS),
                label=label,
            )
        )
    return examples


def _parse_label(text, path, line_number):
    valid = [str(index) for index in range(SWAG_NUM_CHOICES)]
    if text.strip() not in valid:
        raise DataFormatError(
            path,
            line_number,
            "label is not an ending index",
            expected=valid,
            found=text,
        )
    return int(text)
