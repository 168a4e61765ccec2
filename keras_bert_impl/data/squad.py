"""Reader for SQuAD v1.1 and v2.0 JSON files (the official `{"version", "data"}`)."""

import dataclasses
import json
import json.decoder
import json.scanner
from typing import NamedTuple

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.data_format_error import read_utf8_text


class SquadAnswer(NamedTuple):
    """A gold answer: its text and where it starts in the context (in characters).

    Args:
        text: str. The answer text, equal to `context[char_start:][:len(text)]`.
        char_start: int. 0-based character offset of the answer in the context.

    Example:

    >>> SquadAnswer("France", 159) == ("France", 159)
    True
    """

    text: str
    char_start: int


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One SQuAD question with its context paragraph and gold answers.

    Args:
        qas_id: str. The question's `id`, the key of the official evaluation.
        question: str. The question text.
        context: str. The paragraph the answer comes from.
        answers: tuple of SquadAnswer, as listed in the file (dev sets list several,
            possibly repeated; train sets one). Empty for unanswerable questions.
        is_impossible: bool. SQuAD v2.0's unanswerable flag (always False in v1.1).
        title: str. The article's title.

    Example:

    >>> answers = (SquadAnswer("France", 3),)
    >>> example = SquadExample("q1", "Where?", "In France.", answers, False, "Normans")
    >>> example.context[example.answers[0].char_start:][:6]
    'France'
    """

    qas_id: str
    question: str
    context: str
    answers: tuple[SquadAnswer, ...]
    is_impossible: bool
    title: str = ""


def read_squad(path, check_answer_offsets=True):
    """Reads a SQuAD v1.1 or v2.0 JSON file into one example per question.

    Every answer is checked against its context: `context[answer_start:]` must begin
    with the answer text, since the span labels of fine-tuning come from that offset.
    Problems raise a `DataFormatError` naming the file, the line (the official files
    are a single line, so the column and the JSON path are given too), the question id
    and the expected vs found text.

    Args:
        path: str or path-like. The JSON file.
        check_answer_offsets: bool. Set False to accept answers whose offset does
            not match their text (they are kept as they are).

    Returns:
        list of SquadExample, in file order.

    Example:

    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "dev.json"
    >>> qa = {"id": "q1", "question": "Where?",
    ...       "answers": [{"text": "France", "answer_start": 3}]}
    >>> paragraph = {"context": "In France.", "qas": [qa]}
    >>> article = {"title": "Normans", "paragraphs": [paragraph]}
    >>> _ = path.write_text(json.dumps({"version": "1.1", "data": [article]}))
    >>> read_squad(path)[0].answers
    (SquadAnswer(text='France', char_start=3),)
    """
    text = read_utf8_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataFormatError(
            path,
            error.lineno,
            f"invalid JSON: {error.msg}",
            location=f"column {error.colno}",
        ) from None
    try:
        return _examples_from_document(document, check_answer_offsets)
    except _Problem as problem:
        line_number, column = _locate(text, problem.json_path)
        raise DataFormatError(
            path,
            line_number,
            problem.message,
            expected=problem.expected,
            found=problem.found,
            location=f"column {column}, {_format_json_path(problem.json_path)}",
        ) from None


class _Problem(Exception):
    """A malformed part of the document, found before its line is known."""

    def __init__(self, json_path, message, expected, found):
        super().__init__(message)
        self.json_path = json_path
        self.message = message
        self.expected = expected
        self.found = found


def _field(container, key, kind, json_path, default=dataclasses.MISSING):
    """`container[key]`, checked to be of type `kind`."""
    if not isinstance(container, dict):
        raise _Problem(
            json_path, "not a JSON object", "an object", type(container).__name__
        )
    if key not in container:
        if default is not dataclasses.MISSING:
            return default
        raise _Problem(json_path, f"missing key {key!r}", key, sorted(container))
    value = container[key]
    # bool is an int subclass; an answer_start of `true` is still malformed.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Problem(
            json_path + (key,),
            f"{key!r} has the wrong type",
            kind.__name__,
            type(value).__name__,
        )
    return value


def _examples_from_document(document, check_answer_offsets):
    examples = []
    seen_ids = set()
    articles = _field(document, "data", list, ())
    for article_index, article in enumerate(articles):
        article_path = ("data", article_index)
        title = _field(article, "title", str, article_path, default="")
        paragraphs = _field(article, "paragraphs", list, article_path)
        for paragraph_index, paragraph in enumerate(paragraphs):
            paragraph_path = article_path + ("paragraphs", paragraph_index)
            context = _field(paragraph, "context", str, paragraph_path)
            questions = _field(paragraph, "qas", list, paragraph_path)
            for question_index, qa in enumerate(questions):
                qa_path = paragraph_path + ("qas", question_index)
                examples.append(
                    _example(qa, qa_path, context, title, check_answer_offsets)
                )
                if examples[-1].qas_id in seen_ids:
                    raise _Problem(
                        qa_path,
                        "duplicate question id (the evaluation keys on it)",
                        "a unique id",
                        examples[-1].qas_id,
                    )
                seen_ids.add(examples[-1].qas_id)
    return examples


def _example(qa, qa_path, context, title, check_answer_offsets):
    qas_id = _field(qa, "id", str, qa_path)
    question = _field(qa, "question", str, qa_path)
    is_impossible = _field(qa, "is_impossible", bool, qa_path, default=False)
    # Files made for prediction carry no answers at all.
    raw_answers = _field(qa, "answers", list, qa_path, default=[])
    if is_impossible and raw_answers:
        raise _Problem(
            qa_path,
            f"question {qas_id}: is_impossible is true but answers are given",
            "no answers",
            f"{len(raw_answers)} answers",
        )
    answers = []
    for answer_index, raw_answer in enumerate(raw_answers):
        answer_path = qa_path + ("answers", answer_index)
        answer_text = _field(raw_answer, "text", str, answer_path)
        char_start = _field(raw_answer, "answer_start", int, answer_path)
        found = context[char_start : char_start + len(answer_text)]
        if check_answer_offsets and (char_start < 0 or found != answer_text):
            raise _Problem(
                answer_path,
                f"question {qas_id}: answer text does not match the context at "
                f"answer_start {char_start}",
                answer_text,
                found if char_start >= 0 else "(negative offset)",
            )
        answers.append(SquadAnswer(answer_text, char_start))
    return SquadExample(qas_id, question, context, tuple(answers), is_impossible, title)


class _PositionedDict(dict):
    offset = 0


class _PositionedList(list):
    offset = 0


def _parse_with_offsets(text):
    """Parses JSON, recording on every object and array its character offset.

    Only used to place an error, so the slow pure-Python scanner is acceptable.
    """
    decoder = json.JSONDecoder(object_pairs_hook=_PositionedDict)

    def parse_object(string_and_end, *args):
        value, end = json.decoder.JSONObject(string_and_end, *args)
        value.offset = string_and_end[1] - 1
        return value, end

    def parse_array(string_and_end, scan_once):
        values, end = json.decoder.JSONArray(string_and_end, scan_once)
        values = _PositionedList(values)
        values.offset = string_and_end[1] - 1
        return values, end

    decoder.parse_object = parse_object
    decoder.parse_array = parse_array
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    return decoder.decode(text)


def _locate(text, json_path):
    """(line, column), both 1-based, of the deepest object or array on `json_path`."""
    node = _parse_with_offsets(text)
    offset = getattr(node, "offset", 0)
    for key in json_path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, (_PositionedDict, _PositionedList)):
            offset = node.offset
    line_number = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    return line_number, column


def _format_json_path(json_path):
    parts = []
    for key in json_path:
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(parts).lstrip(".") or "top level"
