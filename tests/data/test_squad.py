import json

import pytest

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.squad import SquadAnswer
from keras_bert_impl.data.squad import read_squad

SAMPLE = "squad/haystack_squad_v2_dev_subset_small.json"


def squad_document(answers, is_impossible=False, context="The Normans were in France."):
    qa = {"question": "Where?", "id": "q-1", "answers": answers}
    if is_impossible is not None:
        qa["is_impossible"] = is_impossible
    return {
        "version": "v2.0",
        "data": [
            {"title": "Normans", "paragraphs": [{"context": context, "qas": [qa]}]}
        ],
    }


def write_json(path, document, indent=2):
    path.write_text(json.dumps(document, indent=indent), encoding="utf-8")
    return path


def test_real_v2_sample_counts_and_offsets(shared_data):
    examples = read_squad(shared_data / SAMPLE)
    assert len(examples) == 626
    assert sum(example.is_impossible for example in examples) == 333
    assert len({example.qas_id for example in examples}) == 626
    assert {example.title for example in examples} == {
        "Normans",
        "Computational_complexity_theory",
    }
    assert len({example.context for example in examples}) == 87
    for example in examples:
        assert bool(example.answers) != example.is_impossible
        for text, char_start in example.answers:
            assert example.context[char_start : char_start + len(text)] == text
    first = examples[0]
    assert first.qas_id == "56ddde6b9a695914005b9628"
    assert first.question == "In what country is Normandy located?"
    assert first.answers == (SquadAnswer("France", 159),) * 4
    assert examples[1].answers[1] == ("in the 10th and 11th centuries", 87)


def test_v11_file_without_is_impossible(tmp_path):
    path = write_json(
        tmp_path / "v1.json",
        squad_document([{"text": "France", "answer_start": 20}], is_impossible=None),
    )
    (example,) = read_squad(path)
    assert example.is_impossible is False
    assert example.answers == (("France", 20),)


def test_offset_mismatch_names_file_line_question_and_texts(tmp_path):
    document = squad_document(
        [
            {"text": "France", "answer_start": 20},
            {"text": "France", "answer_start": 19},
        ]
    )
    path = write_json(tmp_path / "dev.json", document)
    with pytest.raises(DataFormatError) as caught:
        read_squad(path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.expected == "France" and error.found == " Franc"
    assert "question q-1" in error.message and "answer_start 19" in error.message
    # The second answer object opens on this line of the pretty-printed file.
    lines = path.read_text().split("\n")
    answer_line = [i for i, line in enumerate(lines, 1) if '"answer_start": 19' in line]
    assert error.line_number == answer_line[0] - 2
    assert lines[error.line_number - 1].strip() == "{"
    assert "data[0].paragraphs[0].qas[0].answers[1]" in str(error)
    assert str(error).startswith(f"{path}:{error.line_number} ")


def test_offset_mismatch_in_a_one_line_file_gives_the_column(tmp_path):
    document = squad_document([{"text": "Normans", "answer_start": 0}])
    path = write_json(tmp_path / "dev.json", document, indent=None)
    with pytest.raises(DataFormatError) as caught:
        read_squad(path)
    text = path.read_text()
    column = text.index('{"text": "Normans"') + 1
    assert caught.value.line_number == 1
    assert f"column {column}," in str(caught.value)
    assert caught.value.found == "The Nor"
    assert read_squad(path, check_answer_offsets=False)[0].answers == (("Normans", 0),)


def test_offset_past_the_end_or_negative(tmp_path):
    for start in (200, -3):
        document = squad_document([{"text": "France", "answer_start": start}])
        path = write_json(tmp_path / "dev.json", document)
        with pytest.raises(DataFormatError, match="does not match the context"):
            read_squad(path)


@pytest.mark.parametrize(
    "document, message",
    [
        ({"version": "v2.0"}, "missing key 'data'"),
        (
            {"data": [{"title": "T", "paragraphs": [{"qas": []}]}]},
            "missing key 'context'",
        ),
        (
            squad_document([{"text": "France", "answer_start": "20"}]),
            "'answer_start' has the wrong type",
        ),
        (
            squad_document([{"text": "France", "answer_start": 20}], True),
            "is_impossible is true but answers are given",
        ),
    ],
)
def test_structure_errors(tmp_path, document, message):
    path = write_json(tmp_path / "bad.json", document)
    with pytest.raises(DataFormatError, match=message) as caught:
        read_squad(path)
    assert caught.value.path == str(path) and caught.value.line_number >= 1


def test_duplicate_question_ids(tmp_path):
    document = squad_document([{"text": "France", "answer_start": 20}])
    qas = document["data"][0]["paragraphs"][0]["qas"]
    qas.append(dict(qas[0]))
    with pytest.raises(DataFormatError, match="duplicate question id"):
        read_squad(write_json(tmp_path / "dup.json", document))


def test_invalid_json_and_invalid_utf8(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": [\n  {"title": "x",\n  }\n]}')
    with pytest.raises(
        DataFormatError, match=r"broken\.json:3 \(column 3\): invalid JSON"
    ):
        read_squad(path)
    path.write_bytes(b'{"data": [],\n "version": "\xc3("}')
    with pytest.raises(DataFormatError, match=r"broken\.json:2: invalid UTF-8"):
        read_squad(path)
