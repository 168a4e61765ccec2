import csv

import pytest

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.glue import GLUE_TASKS
from keras_bert_impl.data.glue import GlueExample
from keras_bert_impl.data.glue import read_glue
from keras_bert_impl.data.glue import read_glue_tsv


def write_tsv(path, rows):
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


# ---- the real files in ../shared/data (row counts from SOURCES.md) ----


@pytest.mark.parametrize(
    "folder, split, count",
    [
        ("SST-2", "dev", 872),
        ("SST-2", "train", 67349),
        ("CoLA", "dev", 1043),
        ("CoLA", "train", 8551),
        ("MRPC", "dev", 408),
        ("MRPC", "train", 3668),
        ("RTE", "train", 2490),
        ("STS-B", "train", 5749),
    ],
)
def test_real_files_have_the_documented_row_counts(shared_data, folder, split, count):
    data = read_glue(folder, shared_data / "glue" / folder, split)
    assert len(data) == count
    assert len({example.guid for example in data}) == count
    task = GLUE_TASKS[folder]
    for example in data:
        assert isinstance(example.text_a, str) and example.text_a
        if task.is_regression:
            assert 0.0 <= example.label <= 5.0
        else:
            assert example.label in task.label_list


def test_sst2_dev_matches_the_original_processor(shared_data):
    data = read_glue("sst-2", shared_data / "glue" / "SST-2", "dev")
    assert data.label_list == ("0", "1") and not data.is_regression
    # Text is kept as written, trailing space included; guids count the header line.
    assert data.examples[0] == GlueExample(
        "dev-1", "it 's a charming and often affecting journey . ", None, "1"
    )
    assert data.examples[-1].guid == "dev-872"


def test_cola_reads_the_headerless_four_column_layout(shared_data):
    data = read_glue("CoLA", shared_data / "glue" / "CoLA", "train")
    assert data.examples[0] == GlueExample(
        "train-0",
        "Our friends won't buy this analysis, let alone the next one we propose.",
        None,
        "1",
    )
    # Line 1514 is the one unacceptable sentence without a '*' mark: the label
    # column, not the mark, decides.
    assert data.examples[1513].text_a == "That he ever went there alone is certain."
    assert data.examples[1513].label == "0"


def test_mrpc_keeps_quotes_and_the_bom_header_is_skipped(shared_data):
    folder = shared_data / "glue" / "MRPC"
    data = read_glue("mrpc", folder, "train")
    first = data.examples[0]
    assert first.guid == "train-1" and first.label == "1"
    assert first.text_a == (
        'Amrozi accused his brother , whom he called " the witness " , '
        "of deliberately distorting his evidence ."
    )
    assert first.text_b.startswith('Referring to him as only " the witness "')
    dev = read_glue("MRPC", folder, "dev")
    # The dev set opens with an unbalanced quote that a quoting parser would
    # run into the next field.
    assert dev.examples[0].text_b.startswith('" The foodservice pie business')
    quoted = sum('"' in e.text_a + e.text_b for e in data.examples + dev.examples)
    assert quoted > 100


def test_every_field_equals_a_plain_tab_split(shared_data):
    # With quotechar=None nothing but the tab separates fields, so the reader must
    # agree with str.split("\t") on every line of files full of quotes.
    path = shared_data / "glue" / "STS-B" / "train.tsv"
    data = read_glue_tsv(path, "sts-b", "train")
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    for example, line in zip(data.examples, lines, strict=True):
        fields = line.split("\t")
        assert example.guid == "train-" + fields[0]
        assert (example.text_a, example.text_b) == (fields[7], fields[8])
        assert example.label == float(fields[9])
    with open(path, encoding="utf-8") as file:
        quoting_rows = list(csv.reader(file, delimiter="\t"))
    assert len(quoting_rows) != len(lines) + 1 or any(
        len(row) != 10 for row in quoting_rows
    ), "the file no longer shows why quoting must be off"


def test_rte_and_stsb_labels(shared_data):
    rte = read_glue("rte", shared_data / "glue" / "RTE", "train")
    assert rte.examples[0] == GlueExample(
        "train-0",
        "No Weapons of Mass Destruction Found in Iraq Yet.",
        "Weapons of Mass Destruction Found in Iraq.",
        "not_entailment",
    )
    stsb = read_glue("sts-b", shared_data / "glue" / "STS-B", "train")
    assert stsb.is_regression and stsb.label_list == () and stsb.task.num_classes == 1
    assert stsb.examples[1].label == 3.8


# ---- the registry ----


def test_registry_names_and_case_insensitive_lookup():
    assert list(GLUE_TASKS) == [
        "cola",
        "sst-2",
        "mrpc",
        "sts-b",
        "qqp",
        "mnli",
        "qnli",
        "rte",
        "wnli",
    ]
    assert GLUE_TASKS["SST-2"] is GLUE_TASKS["sst-2"] is GLUE_TASKS["sst2"]
    assert GLUE_TASKS["STS-B"] is GLUE_TASKS["stsb"]
    assert GLUE_TASKS["MNLI-MM"] is GLUE_TASKS["mnli"]
    assert "CoLA" in GLUE_TASKS
    with pytest.raises(KeyError, match="known tasks: cola, sst-2"):
        GLUE_TASKS["squad"]


@pytest.mark.parametrize(
    "name, labels, metrics",
    [
        ("cola", ("0", "1"), ("matthews_corrcoef",)),
        ("sst-2", ("0", "1"), ("accuracy",)),
        ("mrpc", ("0", "1"), ("accuracy", "f1", "accuracy_and_f1")),
        ("sts-b", (), ("pearson", "spearman", "pearson_and_spearman")),
        ("qqp", ("0", "1"), ("accuracy", "f1", "accuracy_and_f1")),
        ("mnli", ("contradiction", "entailment", "neutral"), ("accuracy",)),
        ("qnli", ("entailment", "not_entailment"), ("accuracy",)),
        ("rte", ("entailment", "not_entailment"), ("accuracy",)),
        ("wnli", ("0", "1"), ("accuracy",)),
    ],
)
def test_label_lists_and_metrics_follow_the_reference(name, labels, metrics):
    task = GLUE_TASKS[name]
    assert task.label_list == labels
    assert task.metric_names == metrics
    assert task.is_regression == (name == "sts-b")
    assert task.num_classes == (len(labels) or 1)


# ---- layouts without real files here: QQP, MNLI, QNLI, WNLI, test files ----


def test_qqp_columns(tmp_path):
    write_tsv(
        tmp_path / "dev.tsv",
        [
            ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
            ["201359", "303345", "303346", 'Why "this"?', "Why that?", "0"],
        ],
    )
    example = read_glue("qqp", tmp_path, "dev").examples[0]
    assert example == GlueExample("dev-201359", 'Why "this"?', "Why that?", "0")


def test_mnli_matched_and_mismatched_dev_files(tmp_path):
    parses = ["(a)", "(b)", "(ROOT a)", "(ROOT b)"]
    head = ["index", "promptID", "pairID", "genre"]
    head += ["sentence1_binary_parse", "sentence2_binary_parse"]
    head += ["sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]
    dev_header = head + ["label1", "label2", "label3", "label4", "label5", "gold_label"]
    votes = ["neutral", "entailment", "neutral", "neutral", "neutral"]
    row = ["0", "63735", "63735n", "slate"] + parses + ["P", "H"] + votes
    write_tsv(tmp_path / "dev_matched.tsv", [dev_header, row + ["neutral"]])
    row = ["7", "1", "1e", "verbatim"] + parses + ["P2", "H2"] + votes
    write_tsv(tmp_path / "dev_mismatched.tsv", [dev_header, row + ["contradiction"]])
    train_row = ["3", "2", "2c", "fiction"] + parses + ["P3", "H3", "neutral"]
    write_tsv(
        tmp_path / "train.tsv",
        [head + ["label1", "gold_label"], train_row + ["entailment"]],
    )
    # The gold label is the last column, however many annotator columns precede it.
    matched = read_glue("MNLI", tmp_path, "dev")
    assert matched.split == "dev"
    assert matched.examples == [GlueExample("dev-0", "P", "H", "neutral")]
    mismatched = read_glue("mnli", tmp_path, "dev_mismatched")
    assert mismatched.examples == [
        GlueExample("dev_mismatched-7", "P2", "H2", "contradiction")
    ]
    train = read_glue("mnli", tmp_path, "train")
    assert train.examples[0].label == "entailment"


@pytest.mark.parametrize("name, label", [("qnli", "entailment"), ("wnli", "1")])
def test_index_sentence_sentence_label_tasks(tmp_path, name, label):
    write_tsv(
        tmp_path / "train.tsv",
        [["index", "question", "sentence", "label"], ["5", "Q?", "S.", label]],
    )
    example = read_glue(name, tmp_path).examples[0]
    assert example == GlueExample("train-5", "Q?", "S.", label)


@pytest.mark.parametrize(
    "name, header, row, text_a, text_b",
    [
        ("cola", ["index", "sentence"], ["0", "Bill left."], "Bill left.", None),
        ("sst-2", ["index", "sentence"], ["0", "fun ."], "fun .", None),
        (
            "mrpc",
            ["index", "#1 ID", "#2 ID", "#1 String", "#2 String"],
            ["0", "1", "2", "A .", "B ."],
            "A .",
            "B .",
        ),
        ("qqp", ["id", "question1", "question2"], ["0", "A?", "B?"], "A?", "B?"),
        ("rte", ["index", "sentence1", "sentence2"], ["0", "A.", "B."], "A.", "B."),
    ],
)
def test_test_files_are_read_without_labels(
    tmp_path, name, header, row, text_a, text_b
):
    write_tsv(tmp_path / "test.tsv", [header, row])
    example = read_glue(name, tmp_path, "test").examples[0]
    assert (example.text_a, example.text_b, example.label) == (text_a, text_b, None)


def test_file_without_final_newline_and_with_crlf(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(b"sentence\tlabel\r\ngood .\t1\r\nbad .\t0")
    data = read_glue_tsv(path, "sst-2", "dev")
    assert [(e.text_a, e.label) for e in data] == [("good .", "1"), ("bad .", "0")]


# ---- bad input: clear errors naming the file and the line ----


def test_missing_column_names_file_and_line(tmp_path):
    path = write_tsv(
        tmp_path / "dev.tsv",
        [["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]]
        + [["1", "1", "2", "A .", "B ."]] * 2
        + [["1", "1", "2", "A ."]],
    )
    with pytest.raises(DataFormatError) as caught:
        read_glue("mrpc", tmp_path, "dev")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.line_number) == (str(path), 4)
    assert error.expected == "5 columns" and error.found == "4 columns"
    assert str(error).startswith(f"{path}:4: wrong number of tab-separated columns")


def test_missing_column_in_headerless_cola(tmp_path):
    path = write_tsv(
        tmp_path / "train.tsv",
        [["gj04", "1", "", "Fine."], ["gj04", "1", "Missing the mark column."]],
    )
    with pytest.raises(DataFormatError, match=r"train\.tsv:2: .*4 columns"):
        read_glue_tsv(path, "cola", "train")


def test_label_outside_the_label_set(tmp_path):
    write_tsv(
        tmp_path / "train.tsv",
        [["index", "sentence1", "sentence2", "label"]]
        + [["0", "A.", "B.", "entailment"], ["1", "A.", "B.", "contradiction"]],
    )
    with pytest.raises(DataFormatError) as caught:
        read_glue("RTE", tmp_path)
    assert caught.value.line_number == 3
    assert caught.value.found == "contradiction"
    assert caught.value.expected == ["entailment", "not_entailment"]
    assert "label not in the rte label set" in str(caught.value)


@pytest.mark.parametrize("score", ["high", "5.5", "nan", ""])
def test_stsb_score_must_be_a_number_in_range(tmp_path, score):
    header = ["index", "genre", "filename", "year", "old_index"]
    header += ["source1", "source2", "sentence1", "sentence2", "score"]
    row = ["0", "main", "f", "2012", "1", "none", "none", "A.", "B.", score]
    path = write_tsv(tmp_path / "train.tsv", [header, row])
    with pytest.raises(DataFormatError, match=r"train\.tsv:2: sts-b score"):
        read_glue_tsv(path, "sts-b")


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(b"sentence\tlabel\nok .\t1\nbad \xff byte .\t0\n")
    with pytest.raises(DataFormatError) as caught:
        read_glue("sst-2", tmp_path, "dev")
    assert caught.value.line_number == 3
    assert caught.value.found == b"\xff"
    assert "invalid UTF-8 at byte 4 of the line" in str(caught.value)


def test_blank_line_inside_the_file_is_an_error(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("sentence\tlabel\na .\t1\n\nb .\t0\n\n\n")
    with pytest.raises(DataFormatError, match=r"dev\.tsv:3: .*found '0 columns'"):
        read_glue_tsv(path, "sst-2", "dev")


def test_empty_file_and_short_header(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="a header line"):
        read_glue_tsv(empty, "sst-2")
    short = write_tsv(tmp_path / "short.tsv", [["index", "sentence"], ["0", "A."]])
    with pytest.raises(DataFormatError, match=r"short\.tsv:1: the header has too few"):
        read_glue_tsv(short, "rte")


def test_unknown_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="known splits: train, dev, test"):
        read_glue("sst-2", tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match="dev_mismatched.tsv"):
        read_glue("mnli", tmp_path, "dev_mismatched")
