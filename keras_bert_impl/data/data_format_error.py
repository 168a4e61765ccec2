"""The error every task reader raises on malformed input, and strict UTF-8 reading."""

import os

_NOT_GIVEN = object()


class DataFormatError(ValueError):
    """A data file does not have the layout its reader expects.

    The message names the file and the 1-based line, then says what was expected and
    what was found, so a user can open the file at that line and see the problem.
    Being a `ValueError`, code that already catches `ValueError` keeps working.

    Args:
        path: str or path-like. The file that holds the problem.
        line_number: int or None. 1-based line of the problem (None when the problem
            concerns the file as a whole, e.g. it is empty).
        message: str. What is wrong, in words.
        expected: optional. What the reader expected; shown with `repr`.
        found: optional. What the file held instead; shown with `repr`.
        location: str or None. Where inside the line or document, when a line alone
            is not enough (a JSON path such as `data[0].paragraphs[3].qas[1]`, or
            `column 17` in a one-line JSON file).

    Example:

    >>> error = DataFormatError("dev.tsv", 12, "missing column",
    ...                         expected="4 columns", found="3 columns")
    >>> str(error)
    "dev.tsv:12: missing column (expected '4 columns', found '3 columns')"
    >>> error.line_number
    12
    """

    def __init__(
        self,
        path,
        line_number,
        message,
        expected=_NOT_GIVEN,
        found=_NOT_GIVEN,
        location=None,
    ):
        self.path = os.fspath(path)
        self.line_number = line_number
        self.message = message
        self.expected = None if expected is _NOT_GIVEN else expected
        self.found = None if found is _NOT_GIVEN else found
        self.location = location
        where = self.path if line_number is None else f"{self.path}:{line_number}"
        text = f"{where}: {message}"
        if location:
            text = f"{where} ({location}): {message}"
        details = []
        if expected is not _NOT_GIVEN:
            details.append(f"expected {expected!r}")
        if found is not _NOT_GIVEN:
            details.append(f"found {found!r}")
        if details:
            text += f" ({', '.join(details)})"
        super().__init__(text)


def read_utf8_text(path):
    """Reads a whole file as strict UTF-8, dropping a leading byte-order mark.

    Invalid UTF-8 becomes a `DataFormatError` that names the line and shows the
    offending bytes, instead of a `UnicodeDecodeError` that only gives a byte offset.
    A missing or unreadable file raises the usual `OSError`, which already names it.

    Args:
        path: str or path-like. The file to read.

    Returns:
        str: the decoded text, line endings untouched.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_bytes(b"\\xef\\xbb\\xbfhello\\n")
    >>> read_utf8_text(path)
    'hello\\n'
    """
    with open(path, "rb") as file:
        raw = file.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line_number = raw.count(b"\n", 0, error.start) + 1
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        raise DataFormatError(
            path,
            line_number,
            f"invalid UTF-8 at byte {error.start - line_start} of the line "
            f"({error.reason})",
            expected="UTF-8 text",
            found=raw[error.start : error.end],
        ) from None
    # GLUE's MRPC files begin with a byte-order mark; it is not part of the text.
    return text[1:] if text.startswith("\ufeff") else text
