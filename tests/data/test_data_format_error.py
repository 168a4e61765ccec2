import pytest

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.data_format_error import read_utf8_text


def test_message_names_file_line_expected_and_found():
    error = DataFormatError(
        "glue/dev.tsv", 7, "bad label", expected=["0", "1"], found="2"
    )
    assert isinstance(error, ValueError)
    assert str(error) == "glue/dev.tsv:7: bad label (expected ['0', '1'], found '2')"
    assert (error.path, error.line_number, error.expected, error.found) == (
        "glue/dev.tsv",
        7,
        ["0", "1"],
        "2",
    )


def test_location_and_missing_line():
    error = DataFormatError("a.json", 1, "oops", location="column 9, data[0]")
    assert str(error) == "a.json:1 (column 9, data[0]): oops"
    assert str(DataFormatError("a.txt", None, "empty")) == "a.txt: empty"


def test_read_utf8_text_strips_bom_and_reports_bad_bytes(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two\n")
    assert read_utf8_text(path) == "line one\r\nline two\n"
    path.write_bytes(b"ok\nstill ok\nbroken \xe2\x82 end\n")
    with pytest.raises(DataFormatError) as caught:
        read_utf8_text(path)
    assert caught.value.line_number == 3
    assert caught.value.found == b"\xe2\x82"
    with pytest.raises(FileNotFoundError):
        read_utf8_text(tmp_path / "absent.txt")
