import csv

import pytest

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.swag import SwagExample
from keras_bert_impl.data.swag import read_swag

HEADER = [
    "",
    "video-id",
    "fold-ind",
    "startphrase",
    "sent1",
    "sent2",
    "gold-source",
    "ending0",
    "ending1",
    "ending2",
    "ending3",
    "label",
]
# Two rows in the official val.csv layout (leading unnamed index column), with the
# quoting real SWAG text needs: commas, doubled quotes and a line break in a field.
ROWS = [
    [
        "0",
        "lsmdc3001_21_JUMP_STREET-422",
        "0",
        "Students lower their eyes nervously. She",
        "Students lower their eyes nervously.",
        "She",
        "gold",
        "pats her shoulder, then saunters toward someone.",
        'turns with two students, saying "hi".',
        "walks slowly towards someone.",
        "wheels around as her dog thunders out.",
        "2",
    ],
    [
        "1",
        "anetv_dm5WXFiQZUQ",
        "18419",
        "He rides the motorcycle down the hall and into the elevator. He",
        "He rides the motorcycle down the hall\nand into the elevator.",
        "He",
        "gen",
        "looks at a mirror in the mirror as he watches someone walk through a door.",
        "stops, listening to a cup of coffee with the seated woman, who's standing.",
        "exits the building and rides the motorcycle into a casino.",
        "pulls up to a house where he stops to show someone the motorcycle.",
        "0",
    ],
]


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(rows)
    return path


def test_reads_the_official_layout(tmp_path):
    examples = read_swag(write_csv(tmp_path / "val.csv", [HEADER] + ROWS))
    assert len(examples) == 2
    assert examples[0] == SwagExample(
        video_id="lsmdc3001_21_JUMP_STREET-422",
        fold_index="0",
        context="Students lower their eyes nervously.",
        start_ending="She",
        endings=tuple(ROWS[0][7:11]),
        label=2,
    )
    assert examples[0].endings[2] == "walks slowly towards someone."
    assert examples[0].choices[1] == 'She turns with two students, saying "hi".'
    assert examples[1].context == ROWS[1][4] and examples[1].label == 0


def test_without_index_column_and_without_labels(tmp_path):
    header = HEADER[1:-1]
    rows = [row[1:-1] for row in ROWS]
    examples = read_swag(write_csv(tmp_path / "test.csv", [header] + rows))
    assert [example.label for example in examples] == [None, None]
    assert examples[1].fold_index == "18419"


def test_missing_column_names_the_line_after_a_multiline_record(tmp_path):
    short = ROWS[0][:-2] + ["2"]
    path = write_csv(tmp_path / "train.csv", [HEADER] + ROWS + [short])
    # The header, row 1, and row 2 whose quoted sent1 spans two lines: row 3 is on 5.
    with pytest.raises(DataFormatError) as caught:
        read_swag(path)
    assert (caught.value.path, caught.value.line_number) == (str(path), 5)
    assert caught.value.expected == "12 columns" and caught.value.found == "11 columns"


def test_missing_header_column_and_bad_label(tmp_path):
    path = write_csv(tmp_path / "a.csv", [HEADER[:-2]])
    with pytest.raises(DataFormatError, match=r"a\.csv:1: the header lacks .*ending3"):
        read_swag(path)
    path = write_csv(tmp_path / "b.csv", [HEADER, ROWS[0][:-1] + ["4"]])
    with pytest.raises(DataFormatError, match=r"b\.csv:2: label is not an ending"):
        read_swag(path)


def test_invalid_utf8_and_empty_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b",video-id\n0,caf\xe9\n")
    with pytest.raises(DataFormatError, match=r"bad\.csv:2: invalid UTF-8"):
        read_swag(path)
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty SWAG file"):
        read_swag(path)
