import gc

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertClassifier
from keras_bert_impl.optimizers import create_optimizer
from tests.bert_test_case import texts_of_many_lengths
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor

tensorflow_only = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the traced train steps kept alive are TensorFlow graphs",
)


def _live_traced_graphs():
    # Graphs that earlier tests in this process left to `clear_session` go
    # first (the fits below clear the session). A second collection frees
    # what the first one's finalizers released.
    keras.backend.clear_session()
    gc.collect()
    return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())


def _fit_and_release(optimizer):
    model = BertClassifier(tiny_backbone(), 2, preprocessor=tiny_preprocessor())
    if optimizer != "auto":
        model.compile(optimizer=optimizer)
    texts = texts_of_many_lengths(16)
    labels = np.arange(16) % 2
    model.fit(texts, labels, batch_size=8, epochs=1, verbose=0)
    del model
    keras.backend.clear_session()
    gc.collect()


@tensorflow_only
@pytest.mark.parametrize("optimizer", ["auto", "lamb"])
def test_repeated_fits_keep_no_traced_train_step(optimizer):
    # k-fold / hyper-parameter search: a train step kept alive holds the
    # model's and optimizer's buffers (+210 MB per BERT-mini fit, issue 13).
    before = _live_traced_graphs()
    for _ in range(2):
        _fit_and_release(
            "auto" if optimizer == "auto" else create_optimizer(optimizer, 1e-3)
        )
    assert _live_traced_graphs() == before


@tensorflow_only
def test_plain_keras_optimizer_still_keeps_its_train_steps():
    # The control: the count above sees the leak that the override removes.
    # When this fails, Keras or TensorFlow fixed it upstream and
    # `BertGradientHandling._all_reduce_sum_gradients` can go.
    before = _live_traced_graphs()
    _fit_and_release(keras.optimizers.AdamW(1e-3, global_clipnorm=1.0))
    assert _live_traced_graphs() > before
