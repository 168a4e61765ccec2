import os
import signal

import keras
import numpy as np
import pytest

from keras_bert_impl.training import IsolatedRunError
from keras_bert_impl.training import run_isolated


# The spawned child imports these by module and name.
def fit_tiny_classifier(num_examples):
    from keras_bert_impl.models import BertClassifier
    from tests.bert_test_case import texts_of_many_lengths
    from tests.bert_test_case import tiny_backbone
    from tests.bert_test_case import tiny_preprocessor

    model = BertClassifier(tiny_backbone(), 2, preprocessor=tiny_preprocessor())
    texts = texts_of_many_lengths(num_examples)
    history = model.fit(texts, np.arange(num_examples) % 2, batch_size=4, verbose=0)
    return {"backend": keras.backend.backend(), "loss": history.history["loss"]}


def raise_value_error(message):
    raise ValueError(message)


def die_by_signal():
    os.kill(os.getpid(), signal.SIGKILL)


def test_returns_the_childs_result_on_this_backend():
    result = run_isolated(fit_tiny_classifier, 8)
    assert result["backend"] == keras.backend.backend()
    assert len(result["loss"]) == 1 and np.isfinite(result["loss"][0])


def test_an_exception_in_the_child_is_raised_here():
    with pytest.raises(ValueError, match="bad fold 3") as raised:
        run_isolated(raise_value_error, "bad fold 3")
    assert "raise_value_error" in str(raised.value.__cause__)


def test_a_killed_child_is_an_error_naming_the_signal():
    with pytest.raises(IsolatedRunError, match="killed by signal 9"):
        run_isolated(die_by_signal)


def test_functions_a_child_cannot_import_are_refused():
    def nested():
        return 1

    with pytest.raises(ValueError, match="lambda"):
        run_isolated(lambda: 1)
    with pytest.raises(ValueError, match="inside another function"):
        run_isolated(nested)
