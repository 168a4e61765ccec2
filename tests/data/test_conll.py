import pytest

from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
from keras_bert_impl.data.conll import ConllSentence
from keras_bert_impl.data.conll import iob1_to_iob2
from keras_bert_impl.data.conll import read_conll2003
from keras_bert_impl.data.data_format_error import DataFormatError


def test_label_list_is_iob2_in_the_usual_order():
    assert CONLL2003_NER_LABELS == (
        "O",
        "B-PER",
        "I-PER",
        "B-ORG",
        "I-ORG",
        "B-LOC",
        "I-LOC",
        "B-MISC",
        "I-MISC",
    )


@pytest.mark.parametrize(
    "file_name, sentences, tokens",
    [("train.txt", 14041, 203621), ("valid.txt", 3250, 51362)],
)
def test_real_files_sentence_counts(shared_data, file_name, sentences, tokens):
    read = read_conll2003(shared_data / "conll2003" / file_name)
    assert len(read) == sentences
    assert sum(len(sentence.tokens) for sentence in read) == tokens
    for sentence in read:
        assert "-DOCSTART-" not in sentence.tokens
        assert set(sentence.ner_tags) <= set(CONLL2003_NER_LABELS)
        lengths = {len(sentence.pos_tags), len(sentence.chunk_tags)}
        assert lengths == {len(sentence.tokens)} == {len(sentence.ner_tags)}


def test_first_training_sentence(shared_data):
    first = read_conll2003(shared_data / "conll2003" / "train.txt")[0]
    assert first == ConllSentence(
        ("EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."),
        ("NNP", "VBZ", "JJ", "NN", "TO", "VB", "JJ", "NN", "."),
        ("B-NP", "B-VP", "B-NP", "I-NP", "B-VP", "I-VP", "B-NP", "I-NP", "O"),
        ("B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"),
        start_line=3,
    )


def test_eng_testa_iob1_converts_to_valid_txt(shared_data):
    # valid.txt is eng.testa with both tag columns rewritten from IOB1 to IOB2.
    converted = read_conll2003(shared_data / "conll2003" / "eng.testa", "iob1")
    reference = read_conll2003(shared_data / "conll2003" / "valid.txt")
    assert len(converted) == 3250
    for ours, theirs in zip(converted, reference, strict=True):
        assert ours.tokens == theirs.tokens
        assert ours.pos_tags == theirs.pos_tags
        assert ours.chunk_tags == theirs.chunk_tags
        assert ours.ner_tags == theirs.ner_tags
    # The conversion did real work: eng.testa begins most entities with I-.
    assert converted[0].tokens[2] == "LEICESTERSHIRE"
    assert converted[0].ner_tags[2] == "B-ORG"
    raw_lines = (shared_data / "conll2003" / "eng.testa").read_text().split("\n")
    assert raw_lines[2] == "LEICESTERSHIRE NNP I-NP I-ORG"


def test_iob1_file_read_as_iob2_is_refused(shared_data):
    with pytest.raises(DataFormatError, match="tag_scheme='iob1'") as caught:
        read_conll2003(shared_data / "conll2003" / "eng.testa")
    # Line 3 is "LEICESTERSHIRE NNP I-NP I-ORG", the first entity of the file.
    assert caught.value.line_number == 3 and caught.value.found == "I-ORG"


@pytest.mark.parametrize(
    "iob1, iob2",
    [
        ([], []),
        (["O", "I-PER"], ["O", "B-PER"]),
        (["I-PER", "I-PER", "I-LOC"], ["B-PER", "I-PER", "B-LOC"]),
        # B- separates two adjacent entities of one type and stays.
        (["I-LOC", "B-LOC", "I-LOC"], ["B-LOC", "B-LOC", "I-LOC"]),
        (["B-MISC", "I-MISC", "O", "I-MISC"], ["B-MISC", "I-MISC", "O", "B-MISC"]),
        (["I-NP", "I-NP", "I-VP", "O", "I-PP"], ["B-NP", "I-NP", "B-VP", "O", "B-PP"]),
    ],
)
def test_iob1_to_iob2_rule(iob1, iob2):
    assert iob1_to_iob2(iob1) == iob2
    # Valid IOB2 is a fixed point.
    assert iob1_to_iob2(iob2) == iob2


def test_docstart_blank_lines_crlf_and_no_final_newline(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_bytes(
        b"-DOCSTART- -X- -X- O\r\n\r\n\r\nPeter NNP B-NP B-PER\r\n"
        b"Blackburn NNP I-NP I-PER\r\n-DOCSTART- -X- O O\r\n"
        b"BRUSSELS NNP B-NP B-LOC\r\n\r\n1996-08-22 CD I-NP O"
    )
    sentences = read_conll2003(path)
    assert [s.tokens for s in sentences] == [
        ("Peter", "Blackburn"),
        ("BRUSSELS",),
        ("1996-08-22",),
    ]
    assert [s.start_line for s in sentences] == [4, 7, 9]


def test_no_break_space_stays_inside_a_token(tmp_path):
    path = tmp_path / "nbsp.txt"
    path.write_text("New\u00a0York NNP B-NP B-LOC\n", encoding="utf-8")
    assert read_conll2003(path)[0].tokens == ("New\u00a0York",)


def test_missing_column_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nGerman JJ B-MISC\n")
    with pytest.raises(DataFormatError) as caught:
        read_conll2003(path)
    assert (caught.value.path, caught.value.line_number) == (str(path), 4)
    assert caught.value.expected == "4 columns"
    assert str(caught.value).startswith(f"{path}:4: wrong number of space-separated")


def test_tag_outside_the_label_set(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP B-EVENT\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt:2: NER tag not in the label"):
        read_conll2003(path)


def test_invalid_utf8_and_bad_scheme(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"EU NNP B-NP B-ORG\n\nM\xfcnchen NNP B-NP B-LOC\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt:3: invalid UTF-8 at byte 1"):
        read_conll2003(path)
    with pytest.raises(ValueError, match="tag_scheme"):
        read_conll2003(path, tag_scheme="bioes")
