"""Raw-string `.tflite` models served by a LiteRT interpreter, without Keras.

The models are exported once per module (on the backend the tests run on; a
JAX model is converted in a TensorFlow child process) and run in ONE fresh
subprocess in which `keras`, `keras_bert_impl` and `jax` cannot be imported:
LiteRT's interpreter with tensorflow-text's kernels, nothing else. Outputs are
compared with the Keras models' on the same texts; the token ids of the
LiteRT tokenizer with our tokenizer's (the original's, tests/tokenizers) on the
tests' real corpus.
"""

import json
import os
import subprocess
import sys
import textwrap
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.cli import main
from keras_bert_impl.export import export
from keras_bert_impl.export.export_litert import convert_saved_model
from keras_bert_impl.export.litert_preprocessor import LiteRTPreprocessor
from keras_bert_impl.export.saved_model_archive import SERVING_SIGNATURE
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertQuestionAnswerer
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from tests.bert_test_case import tiny_backbone
from tests.export.single_file_checks import PAIRS
from tests.export.single_file_checks import SHORT_TEXTS
from tests.export.single_file_checks import SingleFileExportChecks
from tests.export.test_export_saved_model import LABELS
from tests.export.test_export_saved_model import SEQUENCE_LENGTH
from tests.export.test_export_saved_model import TEXTS
from tests.tokenizers import reference

TOKEN_ID_LENGTH = 512  # longer than every corpus text

_SERVE_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import types

    import numpy as np

    for name in ("keras", "keras_bert_impl", "jax", "tf_keras"):
        sys.modules[name] = None
    sys.modules["tensorflow_text.python.keras"] = types.ModuleType("stub")
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
    from tensorflow_text.core.pybinds import tflite_registrar

    jobs = json.loads(sys.stdin.read())
    for key, (model_path, inputs, out_path) in jobs.items():
        interpreter = InterpreterWithCustomOps(
            model_path=model_path,
            custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS,
        )
        serve = interpreter.get_signature_runner("serving_default")
        outputs = serve(**{k: np.array(v, dtype=object) for k, v in inputs.items()})
        np.savez_compressed(out_path, **outputs)
    loaded = sorted(
        name for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in
        ("keras", "keras_bert_impl", "jax", "jaxlib", "tf_keras")
    )
    print("LOADED" + json.dumps(loaded))
    """
)


def _serve(jobs):
    """Runs `jobs` ({key: (model, inputs)}) in a LiteRT-only process."""
    folder = os.path.dirname(next(iter(jobs.values()))[0])
    requests = {
        key: (str(model), inputs, os.path.join(folder, f"{key}.npz"))
        for key, (model, inputs) in jobs.items()
    }
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED"))
    assert json.loads(line[len("LOADED") :]) == []
    return {
        key: dict(np.load(out_path, allow_pickle=True))
        for key, (_, _, out_path) in requests.items()
    }


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
    vocab = reference.vocab_path(shared_data, "uncased")
    preprocessor = BertPreprocessor(BertTokenizer(vocab), SEQUENCE_LENGTH)
    vocabulary_size = preprocessor.tokenizer.vocabulary_size()
    keras.utils.set_random_seed(7)
    backbone = tiny_backbone(vocabulary_size=vocabulary_size, max_sequence_length=32)
    classifier = BertClassifier(backbone, num_classes=3, preprocessor=preprocessor)
    export(classifier, root / "classifier.tflite", format="litert", label_names=LABELS)
    export(classifier, root / "pairs.tflite", format="litert", text_pair=True)
    export(backbone, root / "backbone.tflite", "litert", preprocessor)
    export(backbone, root / "int8.tflite", "litert", preprocessor, quantize="int8")
    # The same classifier through `keras-bert export --format litert`: a run
    # directory whose preset metadata names the labels.
    classifier.save_to_preset(root / "run" / RUN_MODEL_DIR)
    (root / "run" / RUN_MODEL_DIR / METADATA_FILE).write_text(
        json.dumps({"label_names": LABELS})
    )
    flags = ["export", f"--model={root / 'run'}", f"--out={root / 'cli.tflite'}"]
    assert main([*flags, "--format=litert"]) == 0
    corpus = reference.corpus(shared_data)
    corpus_texts = [text for texts in corpus.values() for text in texts]
    corpus_texts += reference.EDGE_CASES + reference.MIXED_CHINESE_LINES
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
    batch = corpus_texts[:1000]
    jobs = {
        "classifier": (root / "classifier.tflite", {"text": TEXTS}),
        "classifier_1000": (root / "classifier.tflite", {"text": batch}),
        "classifier_empty_batch": (root / "classifier.tflite", {"text": []}),
        "cli": (root / "cli.tflite", {"text": TEXTS}),
        "pairs": (root / "pairs.tflite", {"text_a": PAIRS[0], "text_b": PAIRS[1]}),
        "backbone": (root / "backbone.tflite", {"text": SHORT_TEXTS}),
        "int8": (root / "int8.tflite", {"text": SHORT_TEXTS}),
    }
    for name, (path, _) in tokenizer_models.items():
        jobs[f"tokens_{name}"] = (path, {"text": corpus_texts})
    return {
        "outputs": _serve(jobs),
        "classifier": classifier,
        "backbone": backbone,
        "preprocessor": preprocessor,
        "corpus": corpus_texts,
        "batch": batch,
        "tokenizers": {name: t for name, (_, t) in tokenizer_models.items()},
        "root": root,
        "suffix": ".tflite",
    }


class TestLiteRTFile(SingleFileExportChecks):
    """Classifier, pairs, backbone and int8 outputs equal Keras' (`served`)."""


def test_keras_bert_export_format_litert_serves_a_run_directory(served):
    found = served["outputs"]["cli"]
    np.testing.assert_allclose(
        found["logits"], served["outputs"]["classifier"]["logits"], atol=1e-6
    )
    expected = [LABELS[i] for i in found["label_id"]]
    assert [x.decode() for x in found["label"]] == expected


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
