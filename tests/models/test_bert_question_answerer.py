import numpy as np

from keras_bert_impl.models import BertQuestionAnswerer
from tests.bert_test_case import assert_overfits
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import run_task_test
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor


def test_overfits_start_and_end_positions():
    qa = BertQuestionAnswerer(tiny_backbone())
    x = random_inputs((4, 10))
    y = {
        "start_logits": np.array([4, 6, 0, 5], "int32"),  # 0: [CLS], no answer
        "end_logits": np.array([5, 8, 0, 5], "int32"),
    }
    history = assert_overfits(qa, x, y, steps=60)
    assert history["start_logits_accuracy"][-1] == 1.0
    assert history["end_logits_accuracy"][-1] == 1.0
    outputs = call(qa, x)
    assert set(outputs) == {"start_logits", "end_logits"}
    assert outputs["start_logits"].shape == (4, 10)
    np.testing.assert_array_equal(outputs["start_logits"].argmax(-1), y["start_logits"])
    np.testing.assert_array_equal(outputs["end_logits"].argmax(-1), y["end_logits"])


def test_default_loss_is_the_mean_of_start_and_end_losses():
    qa = BertQuestionAnswerer(tiny_backbone())
    x = random_inputs((2, 6))
    y = {"start_logits": np.array([1, 2]), "end_logits": np.array([3, 2])}
    outputs = call(qa, x)

    def cross_entropy(logits, labels):
        logits = np.asarray(logits, "float64")
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return -log_probs[np.arange(len(labels)), labels].mean()

    expected = 0.5 * (
        cross_entropy(outputs["start_logits"], y["start_logits"])
        + cross_entropy(outputs["end_logits"], y["end_logits"])
    )
    np.testing.assert_allclose(
        float(qa.compute_loss(x, y, outputs)), expected, rtol=1e-5
    )


def test_round_trips_with_preprocessor_on_question_context_pairs(tmp_path):
    qa = BertQuestionAnswerer(tiny_backbone(), preprocessor=tiny_preprocessor())
    pairs = (["where is the fox ?", "who sings ?"], ["in paris", "she sings ."])
    restored = run_serialization_test(qa, pairs, tmp_path)
    run_preset_test(qa, pairs, tmp_path)
    packed = qa.preprocess_samples(pairs)[0]  # [CLS] question [SEP] context [SEP]
    assert call(restored, packed)["end_logits"].shape == (2, 12)


def test_fits_and_predicts_raw_question_context_pairs():
    qa = BertQuestionAnswerer(tiny_backbone(), preprocessor=tiny_preprocessor())
    pairs = (["where is the fox ?", "who sings ?"], ["in paris", "she sings ."])
    # [CLS] where is the fox ? [SEP] in paris [SEP]: "in paris" is tokens 7-8.
    y = {"start_logits": np.array([7, 5]), "end_logits": np.array([8, 6])}
    run_task_test(qa, pairs, y, {"start_logits": (2, 12), "end_logits": (2, 12)})
