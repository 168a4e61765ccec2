import numpy as np
import pytest

from keras_bert_impl.models import BertMultipleChoice
from tests.bert_test_case import assert_overfits
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import run_task_test
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor


def test_overfits_a_small_batch():
    model = BertMultipleChoice(tiny_backbone(), num_choices=3, dropout=0.0)
    assert model.input["token_ids"].shape[1:] == (3, None)
    x = random_inputs((4, 3, 8))
    labels = np.array([0, 2, 1, 2])
    history = assert_overfits(model, x, labels)
    assert history["accuracy"][-1] == 1.0
    logits = call(model, x)
    assert logits.shape == (4, 3)
    np.testing.assert_array_equal(logits.argmax(-1), labels)


def test_choices_are_scored_independently():
    model = BertMultipleChoice(tiny_backbone(), num_choices=2, dropout=0.0)
    x = random_inputs((2, 2, 6))
    swapped = {key: value[:, ::-1] for key, value in x.items()}
    logits = call(model, x)
    np.testing.assert_allclose(call(model, swapped), logits[:, ::-1], atol=1e-5)


def test_round_trips_with_preprocessor_on_raw_choices(tmp_path):
    model = BertMultipleChoice(
        tiny_backbone(), num_choices=2, preprocessor=tiny_preprocessor()
    )
    contexts = ["the fox jumps .", "she sings in london ."]
    choices = [["he runs .", "he eats ."], ["she is good .", "a dull movie ."]]
    restored = run_serialization_test(model, (contexts, choices), tmp_path)
    run_preset_test(model, (contexts, choices), tmp_path)
    logits = restored.predict((contexts, choices), verbose=0)
    # Each choice is packed with its own context: [CLS] context [SEP] choice [SEP].
    packed = model.preprocessor((contexts[:1] * 2, choices[0]))
    x = {key: np.asarray(value)[None] for key, value in packed.items()}
    np.testing.assert_allclose(call(restored, x), logits[:1], atol=1e-5)


def test_fits_and_predicts_raw_contexts_and_choices():
    model = BertMultipleChoice(
        tiny_backbone(), num_choices=2, preprocessor=tiny_preprocessor()
    )
    contexts = ["the fox jumps .", "she sings in london .", "who eats ?"]
    choices = [["he runs .", "he eats ."], ["she is good .", "a dull movie ."]] + [
        ["he eats .", "paris ."]
    ]
    run_task_test(model, (contexts, choices), np.array([0, 1, 0]), (3, 2))


def test_invalid_num_choices():
    with pytest.raises(ValueError, match="num_choices"):
        BertMultipleChoice(tiny_backbone(), num_choices=1)
