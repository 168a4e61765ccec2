"""Raw-string `.tflite` models served by a LiteRT interpreter, without Keras.

The models are exported once per module (on the backend the tests run on; a
JAX model is converted in a TensorFlow child process) and run in ONE fresh
subprocess in which `keras`, `keras_bert_impl` and `jax` cannot be imported:
LiteRT's interpreter with tensorflow-text's kernels, nothing else. Outputs are
compared with the Keras models' on the same texts; the token ids of the
LiteRT tokenizer with our tokenizer's (the original's, tests/tokenizers) on the
tests' real corpus.
"""

import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.cli import main
from keras_bert_impl.export import export
from keras_bert_impl.export.export_litert import convert_saved_model
from keras_bert_impl.export.litert_preprocessor import LiteRTPreprocessor
from keras_bert_impl.export.saved_model_archive import SERVING_SIGNATURE
from keras_bert_impl.models import BertQuestionAnswerer
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from tests.bert_test_case import tiny_backbone
from tests.export.single_file_checks import SingleFileExportChecks
from tests.export.single_file_checks import export_tiny_models
from tests.export.single_file_checks import serve_in_clean_process
from tests.tokenizers import reference

TOKEN_ID_LENGTH = 512  # longer than every corpus text

# LiteRT's interpreter with tensorflow-text's kernels; TensorFlow itself is
# the interpreter's package, its Keras-backed parts stubbed.
_LITERT_SETUP = """
import types

sys.modules["tensorflow_text.python.keras"] = types.ModuleType("stub")
from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
from tensorflow_text.core.pybinds import tflite_registrar


def run(model_path, inputs):
    interpreter = InterpreterWithCustomOps(
        model_path=model_path,
        custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS,
    )
    return interpreter.get_signature_runner("serving_default")(**inputs)
"""
_BLOCKED = ("keras", "keras_bert_impl", "jax", "jaxlib", "tf_keras")


def _tokenizer_model(preprocessor, path):
    """A `.tflite` of the LiteRT preprocessor alone: strings to token ids."""
    litert = LiteRTPreprocessor(preprocessor)
    signature = tf.function(
        lambda text: litert(text),
        input_signature=[tf.TensorSpec([None], tf.string, name="text")],
        autograph=False,
    )
    folder = path.with_suffix("")
    tf.saved_model.save(litert, str(folder), signatures={SERVING_SIGNATURE: signature})
    path.write_bytes(convert_saved_model(folder))
    return path


@pytest.fixture(scope="module")
def served(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("litert")
    served, jobs = export_tiny_models(shared_data, root, "litert", ".tflite")
    corpus_texts = served["corpus"]
    tokenizer_models = {}
    for name, lowercase in (("uncased", True), ("chinese", True), ("cased", False)):
        tokenizer = BertTokenizer(
            reference.vocab_path(shared_data, name), lowercase=lowercase
        )
        tokenizer_models[name] = (
            _tokenizer_model(
                BertPreprocessor(tokenizer, TOKEN_ID_LENGTH), root / f"{name}.tflite"
            ),
            tokenizer,
        )
    for name, (path, _) in tokenizer_models.items():
        jobs[f"tokens_{name}"] = (path, {"text": corpus_texts})
    return {
        **served,
        "outputs": serve_in_clean_process(jobs, _LITERT_SETUP, _BLOCKED),
        "tokenizers": {name: t for name, (_, t) in tokenizer_models.items()},
    }


class TestLiteRTFile(SingleFileExportChecks):
    """Classifier, pairs, backbone and int8 outputs equal Keras' (`served`)."""


def test_keras_bert_export_quantize_needs_format_litert_or_onnx(served, capsys):
    out = served["root"] / "quantized_saved_model"
    flags = ["export", f"--model={served['root'] / 'run'}", f"--out={out}"]
    assert main([*flags, "--quantize=int8"]) == 2
    error = capsys.readouterr().err
    assert "--quantize=int8 applies to --format=litert or onnx" in error
    assert not out.exists()


def test_a_model_quantized_in_keras_is_refused_with_the_fix(served):
    backbone = tiny_backbone()
    backbone.quantize("int8")
    with pytest.raises(ValueError, match="quantize='int8'"):
        export(backbone, served["root"] / "q.tflite", "litert", served["preprocessor"])


def _differs_by_design(text, lowercase, max_chars_per_word=100):
    """Whether `text` has what LiteRT's tokenizer is documented to read
    differently (`keras_bert_impl/export/litert_preprocessor.py`)."""
    for char in text:
        if char in "\t\n\r":
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char == "\ufffd":
            return True
        if lowercase and unicodedata.normalize("NFKD", char) != unicodedata.normalize(
            "NFD", char
        ):
            return True
    if lowercase and text.lower() != text.casefold():
        return True
    if not lowercase and unicodedata.normalize("NFC", text) != text:
        return True
    return any(
        len(word.encode()) > max_chars_per_word >= len(word) for word in text.split()
    )


@pytest.mark.parametrize("name", ["uncased", "chinese", "cased"])
def test_token_ids_are_the_originals_on_the_real_corpus(served, name):
    """Equal to our tokenizer's (= the original's) on every text without a
    character of the stated differences; those are few and listed."""
    tokenizer = served["tokenizers"][name]
    texts = served["corpus"]
    expected = BertPreprocessor(tokenizer, TOKEN_ID_LENGTH)(texts)
    found = served["outputs"][f"tokens_{name}"]
    width = found["token_ids"].shape[1]  # the longest text's
    assert not np.asarray(expected["padding_mask"])[:, width:].any()
    same = np.all(
        (found["token_ids"] == np.asarray(expected["token_ids"])[:, :width])
        & (found["padding_mask"] == np.asarray(expected["padding_mask"])[:, :width]),
        axis=1,
    )
    unexplained = [
        text
        for text, equal in zip(texts, same)
        if not equal and not _differs_by_design(text, tokenizer.lowercase)
    ]
    assert unexplained == []
    assert (~same).sum() <= 0.001 * len(texts)
    assert same.sum() > 90_000


def test_models_litert_cannot_serve_are_refused_with_the_fix(served):
    answerer = BertQuestionAnswerer(tiny_backbone())
    with pytest.raises(ValueError, match="format='saved_model'"):
        export(answerer, served["root"] / "qa.tflite", format="litert")
    with pytest.raises(ValueError, match="must end in '.tflite'"):
        export(served["classifier"], served["root"] / "folder", format="litert")
    with pytest.raises(ValueError, match="format must be one of"):
        export(served["classifier"], served["root"] / "m.pt", format="torch")
