"""`predict --input`: one schema per file, every line checked, errors name the line."""

import codecs
import json

import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.recipes.finetuning_tasks import task_spec
from keras_bert_impl.recipes.predict import read_prediction_inputs
from keras_bert_impl.tokenizers import BertTokenizer
from tests.bert_test_case import TINY_VOCABULARY

PAIR = ("text_a", "text_b")


def _write(tmp_path, content):
    path = tmp_path / "inputs.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_json_lines_and_plain_text_lines(tmp_path):
    path = _write(tmp_path, '{"text_a": "one"}\n{"text_a": "two"}\n\n\n')
    assert read_prediction_inputs(path) == [{"text_a": "one"}, {"text_a": "two"}]
    # In a plain text file a line that looks like JSON is text too.
    path = _write(tmp_path, 'a film\r\n{"text_a": "x"}\n')
    assert read_prediction_inputs(path) == [
        {"text_a": "a film"},
        {"text_a": '{"text_a": "x"}'},
    ]
    # A byte order mark does not turn a JSON file into text.
    path = _write(tmp_path, codecs.BOM_UTF8 + b'{"text_a": "one"}\n')
    assert read_prediction_inputs(path) == [{"text_a": "one"}]


def test_a_pair_task_needs_both_texts_on_every_line(tmp_path):
    path = _write(tmp_path, '{"text_a": "a", "text_b": "b"}\n{"text_a": "c"}\n')
    with pytest.raises(ValueError) as error:
        read_prediction_inputs(path, PAIR)
    assert str(error.value) == (
        f"{path}:2: expected fields ['text_a', 'text_b'] (decided by line 1), got "
        "['text_a']; fix: add 'text_b'."
    )
    path = _write(tmp_path, '{"text_a": "a"}\n')
    with pytest.raises(ValueError, match=r":1: .*got \['text_a'\]; fix: add 'text_b'"):
        read_prediction_inputs(path, PAIR)
    path = _write(tmp_path, "a plain line\n")
    with pytest.raises(ValueError, match=r":1: .*fix: write one JSON object per line"):
        read_prediction_inputs(path, PAIR)


def test_a_single_text_task_refuses_pairs(tmp_path):
    # Not cut to text_a, and not scored against an empty text_b either.
    path = _write(tmp_path, '{"text_a": "a"}\n{"text_a": "c", "text_b": "d"}\n')
    with pytest.raises(ValueError, match=r"jsonl:2: .*fix: remove 'text_b'"):
        read_prediction_inputs(path)


def test_optional_fields_follow_the_first_record(tmp_path):
    required, optional = ("sent1",), ("sent2",)
    path = _write(tmp_path, '{"sent1": "a", "sent2": "b"}\n{"sent1": "c"}\n')
    with pytest.raises(ValueError, match=r":2: .*\(decided by line 1\).*add 'sent2'"):
        read_prediction_inputs(path, required, optional)
    path = _write(tmp_path, '{"sent1": "a"}\n{"sent1": "c"}\n')
    assert len(read_prediction_inputs(path, required, optional)) == 2


@pytest.mark.parametrize(
    "record, fix",
    [
        ('{"foo": "bar"}', "remove 'foo', add 'text_a'"),
        ('{"TEXT_A": "a"}', "rename 'TEXT_A' to 'text_a'"),
        ('{"text": "a"}', "rename 'text' to 'text_a'"),
        ('{"text_a": "a", "txt_b": "b"}', "remove 'txt_b'"),
    ],
)
def test_records_without_the_fields_are_refused(record, fix, tmp_path):
    path = _write(tmp_path, '{"text_a": "fine"}\n' + record + "\n")
    with pytest.raises(ValueError) as error:
        read_prediction_inputs(path)
    message = str(error.value)
    assert message.startswith(f"{path}:2: expected fields ['text_a'] (decided by")
    assert message.endswith(f"fix: {fix}.")
    # On the first line the task's fields decide.
    with pytest.raises(ValueError, match=rf":1: .*task.*fix: {fix}"):
        read_prediction_inputs(_write(tmp_path, record))


def test_a_blank_line_between_records_is_an_error(tmp_path):
    path = _write(tmp_path, "first\n\nthird\n")
    with pytest.raises(ValueError, match=r"inputs.jsonl:2: blank line"):
        read_prediction_inputs(path)
    path = _write(tmp_path, '\n{"text_a": "second"}\n')
    with pytest.raises(ValueError, match=r"inputs.jsonl:1: blank line"):
        read_prediction_inputs(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"text_a": "ok"}\n{"text_a": "caf\xe9"}\n', r":2: not valid UTF-8"),
        (b"ok\ncaf\xe9\n", r":2: not valid UTF-8"),
        ('{"text_a": "ok"}\n{"text_a": "\\ud800"}\n', r":2: field 'text_a' holds a"),
        ('{"text_a": "ok"}\n{"text_a": 3}\n', r":2: field 'text_a' must be a string"),
        ('{"text_a": "ok"}\n["a list"]\n', r":2: expected a JSON object"),
    ],
)
def test_bad_lines_are_named(content, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        read_prediction_inputs(_write(tmp_path, content))


@pytest.fixture
def pair_run(tmp_path):
    """What `predict` reads before a model: a pair task's run config, vocabulary."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "vocab.txt").write_text("\n".join(TINY_VOCABULARY) + "\n")
    task = task_spec("mrpc", BertTokenizer(TINY_VOCABULARY), max_seq_length=16)
    task.text_pair = True
    config = {**task.run_config(), "lowercase": True}
    (run / "run_config.json").write_text(json.dumps(config))
    return run


def test_the_cli_names_the_line_before_loading_the_model(pair_run, tmp_path, capsys):
    # `pair_run` has no model: the input is refused before one would load.
    path = _write(tmp_path, '{"text_a": "a", "text_b": "b"}\n{"text_a": "c"}\n')
    assert main(["predict", f"--model={pair_run}", f"--input={path}"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{path}:2: expected fields ['text_a', 'text_b'] (decided by" in error


@pytest.mark.parametrize("kind", ["directory", "missing"])
def test_input_must_be_a_file(kind, pair_run, tmp_path, capsys):
    path = tmp_path / "inputs"
    if kind == "directory":
        path.mkdir()
    assert main(["predict", f"--model={pair_run}", f"--input={path}"]) == 2
    error = capsys.readouterr().err.strip()
    assert f"--input={path}: expected a file" in error
    assert len(error.splitlines()) == 1
