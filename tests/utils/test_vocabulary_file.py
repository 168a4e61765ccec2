"""The one vocab.txt reader: lines as ids, and errors that name the file and line."""

import pytest

from keras_bert_impl.utils.vocabulary_file import read_vocabulary


def test_lines_are_ids_and_unicode_separators_stay_in_tokens(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("[PAD]\r\n[UNK]\na\u2028b\n".encode())
    assert read_vocabulary(path) == ["[PAD]", "[UNK]", "a\u2028b"]


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n[UNK]\ncaf\xe9\n")
    expected = r"vocab.txt:3: expected UTF-8 text, got byte 0xe9"
    with pytest.raises(ValueError, match=expected):
        read_vocabulary(path)


@pytest.mark.parametrize("kind", ["folder", "missing"])
def test_a_folder_or_nothing_is_refused(kind, tmp_path):
    path = tmp_path / "vocab"
    if kind == "folder":
        path.mkdir()
    with pytest.raises(ValueError, match=r"expected a vocab.txt file .*--vocab_file"):
        read_vocabulary(path)
