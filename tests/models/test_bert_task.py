"""The behaviour every task shares (BertTask), shown on BertClassifier."""

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertClassifier
from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.optimizers.linear_warmup_decay import LinearWarmupDecay
from tests.bert_test_case import random_inputs
from tests.bert_test_case import texts_of_many_lengths
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor


def test_default_compilation_is_the_papers_fine_tuning_recipe():
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    optimizer = classifier.optimizer
    assert isinstance(optimizer, AdamWeightDecay)
    assert float(optimizer.learning_rate) == pytest.approx(5e-5)
    assert optimizer.weight_decay == pytest.approx(0.01)
    assert optimizer.epsilon == pytest.approx(1e-6)
    assert optimizer.global_clipnorm == pytest.approx(1.0)
    # Given the number of steps: 10% linear warmup, then linear decay to 0.
    classifier.compile(num_train_steps=1000)
    schedule = classifier.optimizer._learning_rate
    assert isinstance(schedule, LinearWarmupDecay)
    assert (schedule.num_train_steps, schedule.num_warmup_steps) == (1000, 100)
    assert float(schedule(50)) == pytest.approx(2.5e-5, rel=1e-3)


def test_first_fit_plans_the_warmup_and_a_saved_model_resumes(tmp_path):
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    x = random_inputs((20, 6))
    y = np.arange(20) % 2
    classifier.fit(x, y, batch_size=4, epochs=2, verbose=0)  # 5 steps per epoch
    schedule = classifier.optimizer._learning_rate
    assert isinstance(schedule, LinearWarmupDecay)
    assert (schedule.num_train_steps, schedule.num_warmup_steps) == (10, 1)
    assert int(classifier.optimizer.iterations) == 10
    # A `.keras` file keeps the default compilation and the optimizer's state.
    classifier.save(str(tmp_path / "run.keras"))
    restored = keras.models.load_model(str(tmp_path / "run.keras"))
    assert int(restored.optimizer.iterations) == 10
    assert restored.optimizer._learning_rate.num_train_steps == 10
    for saved, loaded in zip(
        classifier.optimizer.variables, restored.optimizer.variables
    ):
        np.testing.assert_allclose(np.asarray(loaded), np.asarray(saved))


def test_an_explicit_compile_is_kept():
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    classifier.compile(optimizer=keras.optimizers.SGD(0.1), metrics=[])
    classifier.fit(random_inputs((4, 6)), np.array([0, 1, 0, 1]), verbose=0)
    assert isinstance(classifier.optimizer, keras.optimizers.SGD)
    assert classifier.get_compile_config() is None
    # "auto" keeps the default of that part only.
    classifier.compile(loss="auto", optimizer=keras.optimizers.SGD(0.1))
    assert type(classifier.loss).__name__ == "SparseCategoricalCrossentropy"


def test_preset_with_another_preprocessor_keeps_the_trained_head(tmp_path):
    classifier = BertClassifier(
        tiny_backbone(), num_classes=3, preprocessor=tiny_preprocessor(12)
    )
    classifier.save_to_preset(tmp_path / "preset")
    other = tiny_preprocessor(sequence_length=10)
    restored = BertClassifier.from_preset(str(tmp_path / "preset"), preprocessor=other)
    assert restored.preprocessor is other
    for expected, found in zip(classifier.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(found, expected)
    # A different head (another num_classes) starts from the backbone only.
    fresh = BertClassifier.from_preset(str(tmp_path / "preset"), num_classes=5)
    assert fresh.num_classes == 5
    np.testing.assert_array_equal(
        fresh.backbone.get_weights()[0], classifier.backbone.get_weights()[0]
    )


def test_strings_without_a_preprocessor_fail_clearly():
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    with pytest.raises(ValueError, match="has no preprocessor"):
        classifier.predict(["no preprocessor attached"], verbose=0)


def test_strings_are_batched_by_length_and_predicted_in_input_order():
    from keras_bert_impl.models import BertTokenClassifier
    from tests.bert_test_case import call

    backbone = tiny_backbone(max_sequence_length=64)
    preprocessor = tiny_preprocessor(sequence_length=64)
    texts = texts_of_many_lengths(37)
    packed = preprocessor(texts)
    mask = keras.ops.convert_to_numpy(packed["padding_mask"]).astype(bool)

    classifier = BertClassifier(backbone, 3, preprocessor=preprocessor)
    # Every batch is padded to one of a few lengths, most shorter than 64.
    dataset = classifier._as_preprocessed_data(texts, np.zeros(37), batch_size=8)[0]
    widths = [int(x["padding_mask"].shape[1]) for x, _ in dataset]
    assert set(widths) <= {16, 24, 32, 40, 48, 64} and min(widths) < 64, widths
    assert sum(len(x["padding_mask"]) for x, _ in dataset) == 37
    # Predictions come back in input order and equal the full-length ones.
    logits = classifier.predict(texts, batch_size=8, verbose=0)
    np.testing.assert_allclose(logits, call(classifier, packed), atol=1e-5)

    tagger = BertTokenClassifier(backbone, 5, preprocessor=preprocessor)
    tags = tagger.predict(texts, batch_size=8, verbose=0)
    assert tags.shape == (37, 64, 5)
    np.testing.assert_allclose(tags[mask], call(tagger, packed)[mask], atol=1e-5)
    assert not tags[~mask].any()  # past each text's end: zeros


def test_a_string_fit_knows_its_number_of_batches():
    import warnings

    classifier = BertClassifier(
        tiny_backbone(max_sequence_length=64),
        2,
        preprocessor=tiny_preprocessor(sequence_length=64),
    )
    texts, labels = texts_of_many_lengths(40), np.arange(40) % 2
    dataset = classifier._as_preprocessed_data(texts, labels, batch_size=8)[0]
    batches = sum(1 for _ in dataset)
    assert int(dataset.cardinality()) == batches
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Your input ran out of data"
        classifier.fit(texts, labels, batch_size=8, epochs=2, verbose=0)
    assert classifier._planned_train_steps == 2 * batches


def test_a_task_refuses_ids_outside_its_backbones_embeddings():
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    inputs = random_inputs((2, 8))
    inputs["token_ids"][0, 0] = 30
    labels = np.array([0, 1])
    for run in (
        lambda: classifier(inputs),
        lambda: classifier.predict(inputs, verbose=0),
        lambda: classifier.evaluate(inputs, labels, verbose=0),
        lambda: classifier.fit(inputs, labels, verbose=0),
    ):
        with pytest.raises(ValueError, match=r"token_ids\[0, 0\] is 30, outside"):
            run()
