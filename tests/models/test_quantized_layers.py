"""`model.quantize("int8")` on the backbone and every task: close to float,
saved, loaded and turned into a preset unchanged."""

import warnings

import keras
import numpy as np
import pytest

from keras_bert_impl.layers.onednn_int8_dense import onednn_int8_matmul_usable
from keras_bert_impl.layers.onednn_int8_dense import portable_int8_matmuls
from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertMultipleChoice
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.models import BertQuestionAnswerer
from keras_bert_impl.models import BertTokenClassifier
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import tiny_backbone
from tests.huggingface_reference import minilm_folder

BUILDERS = {
    "backbone": lambda: tiny_backbone(),
    "classifier": lambda: BertClassifier(tiny_backbone(), 3, dropout=0.0),
    "token_classifier": lambda: BertTokenClassifier(tiny_backbone(), 5, dropout=0.0),
    "question_answerer": lambda: BertQuestionAnswerer(tiny_backbone()),
    "multiple_choice": lambda: BertMultipleChoice(tiny_backbone(), 2, dropout=0.0),
    "pretrainer": lambda: BertPretrainer(tiny_backbone()),
}


def _inputs(kind):
    x = random_inputs((2, 10))
    if kind == "multiple_choice":
        return {key: np.stack([value, value[::-1]], axis=1) for key, value in x.items()}
    if kind == "pretrainer":
        x["mask_positions"] = np.array([[1, 4], [2, 7]], "int32")
    return x


def _outputs(model, x):
    # Eager calls: four `predict` compiles per test cost ~7 s on JAX.
    return keras.tree.flatten(call(model, x))


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_quantized_model_is_close_and_survives_saving_and_presets(kind, tmp_path):
    model = BUILDERS[kind]()
    x = _inputs(kind)
    float_outputs = _outputs(model, x)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.quantize("int8")
    # No warning per layer that stays in float (LayerNorm, Dropout, ...).
    assert not [w for w in caught if "quantize" in str(w.message)]
    quantized = [
        layer.path for layer in model._flatten_layers() if layer.quantization_mode
    ]
    assert any("attention/query" in path for path in quantized)
    outputs = _outputs(model, x)
    for found, expected in zip(outputs, float_outputs):
        # int8 weights with per-channel scales: errors ~1% of the spread.
        np.testing.assert_allclose(found, expected, atol=0.05 * np.std(expected) + 1e-3)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    model.save_to_preset(tmp_path / "preset")
    from_preset = type(model).from_preset(tmp_path / "preset")
    for restored in (loaded, from_preset):
        assert [
            layer.path
            for layer in restored._flatten_layers()
            if layer.quantization_mode
        ] == quantized
        for found, expected in zip(_outputs(restored, x), outputs):
            np.testing.assert_allclose(found, expected, atol=1e-6)


def test_int8_minilm_embeddings_stay_close_to_transformers():
    import torch
    import transformers

    from keras_bert_impl.convert import from_huggingface

    folder = minilm_folder()
    tokenizer = transformers.BertTokenizerFast(str(folder / "vocab.txt"))
    sentences = [
        "The quick brown fox jumps over the lazy dog.",
        "A man is playing a guitar on stage.",
        "Paris is the capital of France, said the tour guide.",
        "Stock markets fell sharply after the announcement.",
    ]
    encoded = tokenizer(sentences, padding=True, return_tensors="np")
    with torch.no_grad():
        reference_model = transformers.BertModel.from_pretrained(str(folder)).eval()
        reference = reference_model(
            **{key: torch.tensor(value) for key, value in encoded.items()}
        ).last_hidden_state.numpy()
    backbone = from_huggingface(folder)
    assert isinstance(backbone, BertBackbone)
    backbone.quantize("int8")
    found = call(
        backbone,
        {
            "token_ids": encoded["input_ids"].astype("int32"),
            "segment_ids": encoded["token_type_ids"].astype("int32"),
            "padding_mask": encoded["attention_mask"].astype("int32"),
        },
    )["sequence_output"]
    mask = encoded["attention_mask"][..., None]

    def mean_pooled(states):
        pooled = (states * mask).sum(axis=1) / mask.sum(axis=1)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    # Sentence embeddings (all-MiniLM's mean pooling) of the int8 model point
    # where the float reference's do (cosine), and rank pairs alike.
    cosines = (mean_pooled(found) * mean_pooled(reference)).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    similarities = mean_pooled(found) @ mean_pooled(found).T
    reference_similarities = mean_pooled(reference) @ mean_pooled(reference).T
    np.testing.assert_allclose(similarities, reference_similarities, atol=0.03)


def test_quantized_classifier_exports_a_string_in_saved_model(tmp_path):
    import tensorflow as tf

    from keras_bert_impl.export import export_saved_model
    from tests.bert_test_case import texts_of_many_lengths
    from tests.bert_test_case import tiny_preprocessor

    model = BertClassifier(tiny_backbone(), 2, preprocessor=tiny_preprocessor())
    model.quantize("int8")
    texts = texts_of_many_lengths(5)
    export_saved_model(model, tmp_path / "served")
    served = tf.saved_model.load(str(tmp_path / "served"))
    logits = served.signatures["serving_default"](tf.constant(texts))["logits"]
    expected = model.predict(texts, verbose=0)
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="XLA for int8 is a TensorFlow choice (JAX always compiles with XLA)",
)
def test_int8_models_run_through_xla_on_tensorflow_unless_told_otherwise(
    tmp_path, monkeypatch
):
    from keras_bert_impl.models import quantized_layers
    from keras_bert_impl.models.quantized_layers import has_int8_input_quantization
    from tests.bert_test_case import texts_of_many_lengths
    from tests.bert_test_case import tiny_preprocessor

    # A CPU without 8-bit dot-product instructions (oneDNN's int8 kernel
    # unusable): the next test covers the others.
    monkeypatch.setattr(quantized_layers, "onednn_int8_matmul_usable", lambda: False)

    model = BertClassifier(tiny_backbone(), 2, preprocessor=tiny_preprocessor())
    texts = texts_of_many_lengths(9)
    model.predict(texts, verbose=0)
    assert not model.jit_compile  # Keras' "auto": no XLA for TensorFlow on CPUs.
    model.quantize("int8")
    assert has_int8_input_quantization(model) and model.jit_compile
    eager = model(model.preprocessor(texts), training=False)
    np.testing.assert_allclose(model.predict(texts, verbose=0), eager, atol=1e-5)

    model.save(tmp_path / "model.keras")
    assert keras.saving.load_model(tmp_path / "model.keras").jit_compile
    backbone = tiny_backbone()
    backbone.quantize("int8")
    assert backbone.jit_compile

    told = BertClassifier(tiny_backbone(), 2)
    told.compile(jit_compile=False)
    told.quantize("int8")
    assert not told.jit_compile
    # Weights only: the matmuls run in float, where XLA buys nothing.
    weights_only = BertClassifier(tiny_backbone(), 2)
    weights_only.quantize(
        "int8",
        config=keras.quantizers.Int8QuantizationConfig(activation_quantizer=None),
    )
    assert not has_int8_input_quantization(weights_only)
    assert not weights_only.jit_compile


@pytest.mark.skipif(
    not onednn_int8_matmul_usable(),
    reason="oneDNN's int8 kernel serves TensorFlow on CPUs with VNNI or AMX-INT8",
)
def test_int8_models_run_on_onednn_without_xla_where_the_cpu_allows():
    model = BertClassifier(tiny_backbone(), 2, dropout=0.0)
    x = _inputs("classifier")
    model.quantize("int8")
    assert not model.jit_compile  # XLA cannot compile oneDNN's int8 kernel
    with portable_int8_matmuls():
        keras_int8 = call(model, x)  # Keras' own int8 matmuls
    np.testing.assert_allclose(
        model.predict(x, verbose=0), keras_int8, rtol=1e-5, atol=1e-5
    )


def test_a_custom_quantization_config_that_saving_would_lose_is_refused(tmp_path):
    model = BertClassifier(tiny_backbone(), 2, dropout=0.0)
    x = _inputs("classifier")
    float_logits = call(model, x)
    weights_only = keras.quantizers.Int8QuantizationConfig(activation_quantizer=None)
    model.quantize("int8", config=weights_only)
    # In memory it is Keras' weights-only int8: close to float.
    np.testing.assert_allclose(call(model, x), float_logits, atol=1e-3)
    # Reloaded, the layers would quantize their inputs again (Keras' default).
    with pytest.raises(ValueError, match="custom Int8QuantizationConfig"):
        model.save(tmp_path / "model.keras")
    assert not (tmp_path / "model.keras").exists()
    with pytest.raises(ValueError, match="quantized with a custom"):
        model.save_to_preset(tmp_path / "preset")
    assert not (tmp_path / "preset").exists()
