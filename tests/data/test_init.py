"""`keras_bert_impl.data` exports the data package's public names."""

import importlib
import sys
import warnings

import keras_bert_impl as kb
from keras_bert_impl import data


def test_every_public_name_resolves_to_its_module():
    for name, module in data._PUBLIC_NAMES.items():
        defined = importlib.import_module(f"keras_bert_impl.data.{module}")
        assert getattr(kb.data, name) is getattr(defined, name)
    assert set(data.__all__) <= set(dir(data))


def test_the_old_module_path_does_not_hide_the_function():
    old = "keras_bert_impl.data.pretraining_dataset"
    sys.modules.pop(old, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(old)
    assert module.pretraining_dataset is kb.data.pretraining_dataset
    assert callable(kb.data.pretraining_dataset)
    from keras_bert_impl.data import pretraining_dataset

    assert pretraining_dataset is module.pretraining_dataset
