"""`compile(optimizer="auto")` reaches BERT's AdamW through this registry
(what it builds: tests/models/test_bert_task.py)."""

import pytest

from keras_bert_impl.models import BertClassifier
from keras_bert_impl.utils import default_optimizer as registry
from tests.bert_test_case import tiny_backbone


def test_without_a_registered_optimizer_the_error_names_the_fix(monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", [])
    with pytest.raises(RuntimeError, match="import keras_bert_impl"):
        BertClassifier(tiny_backbone(), num_classes=2)
