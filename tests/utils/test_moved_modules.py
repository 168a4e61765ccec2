"""Old import paths keep working for one release, with a warning naming the new one."""

import importlib
import sys

import pytest

from keras_bert_impl.utils.moved_modules import MOVED_MODULES
from keras_bert_impl.utils.moved_modules import MOVED_NAMES


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_an_old_module_path_imports_the_new_module_with_a_warning(old):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=MOVED_MODULES[old]):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED_MODULES[old])


@pytest.mark.parametrize(
    "package,name",
    sorted((package, name) for package, names in MOVED_NAMES.items() for name in names),
)
def test_a_moved_name_is_read_from_its_new_home_with_a_warning(package, name):
    new_module = importlib.import_module(MOVED_NAMES[package][name])
    with pytest.warns(DeprecationWarning, match=f"{MOVED_NAMES[package][name]}.{name}"):
        value = getattr(importlib.import_module(package), name)
    assert value is getattr(new_module, name)


def test_an_unknown_name_is_still_an_attribute_error():
    import keras_bert_impl.training

    with pytest.raises(AttributeError, match="no_such_name"):
        keras_bert_impl.training.no_such_name  # noqa: B018


def test_the_warning_points_at_the_users_line():
    import keras_bert_impl.training

    with pytest.warns(DeprecationWarning) as records:
        keras_bert_impl.training.Lamb  # noqa: B018
    assert records[0].filename == __file__
    sys.modules.pop("keras_bert_impl.training.lamb", None)
    with pytest.warns(DeprecationWarning) as records:
        import keras_bert_impl.training.lamb  # noqa: F401
    assert records[0].filename == __file__
