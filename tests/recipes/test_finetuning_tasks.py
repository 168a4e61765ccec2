import pytest

from keras_bert_impl.recipes.finetuning_tasks import TASK_SPECS
from keras_bert_impl.recipes.finetuning_tasks import task_kind
from keras_bert_impl.recipes.finetuning_tasks import task_spec_class


@pytest.mark.parametrize(
    "name, kind",
    [
        ("SST-2", "glue"),
        ("sst2", "glue"),
        ("MNLI-MM", "glue"),
        ("sts-b", "glue"),
        ("CoNLL2003", "ner"),
        ("squad", "squad"),
        ("SQuAD_v2", "squad"),
        ("swag", "swag"),
    ],
)
def test_every_task_name_finds_its_spec(name, kind):
    assert task_kind(name) == kind


def test_no_task_name_has_two_specs():
    names = [name for spec in TASK_SPECS for name in spec.task_names()]
    assert len(names) == len(set(names))
    for name in names:
        assert [spec for spec in TASK_SPECS if spec.handles(name)] == [
            task_spec_class(name)
        ]


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown --task_name 'imdb'") as error:
        task_spec_class("imdb")
    for name in ("conll2003", "mrpc", "squad_v2", "sst-2", "swag"):
        assert name in str(error.value)


def test_export_options_come_from_the_run_config():
    glue = {
        "task_name": "mrpc",
        "max_seq_length": 64,
        "text_pair": True,
        "is_regression": False,
        "label_list": ["0", "1"],
    }
    assert task_spec_class("mrpc").export_options(glue) == {
        "sequence_length": 64,
        "text_pair": True,
        "label_names": ["0", "1"],
    }
    regression = {**glue, "task_name": "sts-b", "is_regression": True}
    assert "label_names" not in task_spec_class("sts-b").export_options(regression)
    squad = {"task_name": "squad", "max_seq_length": 64, "doc_stride": 32}
    assert task_spec_class("squad").export_options(squad) == {
        "sequence_length": 64,
        "doc_stride": 32,
    }
    ner = {"task_name": "conll2003", "max_seq_length": 32}
    assert task_spec_class("conll2003").export_options(ner) == {"sequence_length": 32}
