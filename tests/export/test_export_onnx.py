"""Raw-string `.onnx` models served by ONNX Runtime, without TensorFlow or Keras.

The models are exported once per module (on the backend the tests run on; a
JAX model is converted in a TensorFlow child process) and run in ONE fresh
subprocess in which `tensorflow`, `keras`, `keras_bert_impl` and `jax` cannot
be imported: `onnxruntime` with onnxruntime-extensions' op library, nothing
else. Outputs are compared with the Keras models' on the same texts; the
token ids of the ONNX tokenizer with our tokenizer's (the original's,
tests/tokenizers) on the tests' real corpus and the tokenizer fixtures.
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

from keras_bert_impl.cli import main
from keras_bert_impl.export import export
from keras_bert_impl.export.onnx_tokenizer import tokenizer_graph
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertTokenClassifier
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from tests.bert_test_case import tiny_backbone
from tests.export.single_file_checks import PAIRS
from tests.export.single_file_checks import SHORT_TEXTS
from tests.export.single_file_checks import SingleFileExportChecks
from tests.export.single_file_checks import call_keras
from tests.export.test_export_saved_model import LABELS
from tests.export.test_export_saved_model import SEQUENCE_LENGTH
from tests.export.test_export_saved_model import TEXTS
from tests.tokenizers import reference

TOKEN_ID_LENGTH = 512  # longer than every corpus text

_SERVE_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np

    for name in ("tensorflow", "keras", "keras_bert_impl", "jax", "tf_keras"):
        sys.modules[name] = None
    import onnxruntime
    from onnxruntime_extensions import get_library_path

    options = onnxruntime.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    jobs = json.loads(sys.stdin.read())
    sessions = {}
    for key, (model_path, inputs, out_path) in jobs.items():
        if model_path not in sessions:
            sessions[model_path] = onnxruntime.InferenceSession(model_path, options)
        session = sessions[model_path]
        names = [output.name for output in session.get_outputs()]
        feed = {k: np.array(v, dtype=object) for k, v in inputs.items()}
        np.savez_compressed(out_path, **dict(zip(names, session.run(names, feed))))
    loaded = sorted(
        name for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in
        ("tensorflow", "keras", "keras_bert_impl", "jax", "jaxlib", "tf_keras")
    )
    print("LOADED" + json.dumps(loaded))
    """
)


def _serve(jobs):
    """Runs `jobs` ({key: (model, inputs)}) in an ONNX-Runtime-only process."""
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
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED"))
    assert json.loads(line[len("LOADED") :]) == []
    return {
        key: dict(np.load(out_path, allow_pickle=True))
        for key, (_, _, out_path) in requests.items()
    }


def _tokenizer_model(tokenizer, path):
    """The export's tokenizer graph alone: strings to rows (count, piece ids)."""
    import onnx

    onnx.save_model(tokenizer_graph(tokenizer, TOKEN_ID_LENGTH, ("text",), 17), path)
    return path


@pytest.fixture(scope="module")
def served(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    vocab = reference.vocab_path(shared_data, "uncased")
    preprocessor = BertPreprocessor(BertTokenizer(vocab), SEQUENCE_LENGTH)
    vocabulary_size = preprocessor.tokenizer.vocabulary_size()
    keras.utils.set_random_seed(7)
    backbone = tiny_backbone(vocabulary_size=vocabulary_size, max_sequence_length=32)
    classifier = BertClassifier(backbone, num_classes=3, preprocessor=preprocessor)
    export(classifier, root / "classifier.onnx", format="onnx", label_names=LABELS)
    export(classifier, root / "pairs.onnx", format="onnx", text_pair=True)
    export(backbone, root / "backbone.onnx", "onnx", preprocessor)
    export(backbone, root / "int8.onnx", "onnx", preprocessor, quantize="int8")
    keras_int8 = tiny_backbone(vocabulary_size=vocabulary_size, max_sequence_length=32)
    keras_int8.quantize("int8")
    export(keras_int8, root / "keras_int8.onnx", "onnx", preprocessor)
    # The same classifier through `keras-bert export --format onnx`: a run
    # directory whose preset metadata names the labels.
    classifier.save_to_preset(root / "run" / RUN_MODEL_DIR)
    (root / "run" / RUN_MODEL_DIR / METADATA_FILE).write_text(
        json.dumps({"label_names": LABELS})
    )
    flags = ["export", f"--model={root / 'run'}", f"--out={root / 'cli.onnx'}"]
    assert main([*flags, "--format=onnx"]) == 0
    corpus = reference.corpus(shared_data)
    corpus_texts = [text for texts in corpus.values() for text in texts]
    corpus_texts += reference.EDGE_CASES + reference.MIXED_CHINESE_LINES
    tokenizers = {
        name: BertTokenizer(reference.vocab_path(shared_data, name), lowercase=lower)
        for name, lower in (("uncased", True), ("chinese", True), ("cased", False))
    }
    batch = corpus_texts[:1000]
    jobs = {
        "classifier": (root / "classifier.onnx", {"text": TEXTS}),
        "classifier_1000": (root / "classifier.onnx", {"text": batch}),
        "classifier_empty_batch": (root / "classifier.onnx", {"text": []}),
        "cli": (root / "cli.onnx", {"text": TEXTS}),
        "pairs": (root / "pairs.onnx", {"text_a": PAIRS[0], "text_b": PAIRS[1]}),
        "backbone": (root / "backbone.onnx", {"text": SHORT_TEXTS}),
        "int8": (root / "int8.onnx", {"text": SHORT_TEXTS}),
        "keras_int8": (root / "keras_int8.onnx", {"text": SHORT_TEXTS}),
    }
    for name, tokenizer in tokenizers.items():
        path = _tokenizer_model(tokenizer, root / f"{name}.onnx")
        jobs[f"tokens_{name}"] = (path, {"text": corpus_texts})
    return {
        "outputs": _serve(jobs),
        "classifier": classifier,
        "backbone": backbone,
        "keras_int8": keras_int8,
        "preprocessor": preprocessor,
        "corpus": corpus_texts,
        "batch": batch,
        "tokenizers": tokenizers,
        "root": root,
        "suffix": ".onnx",
    }


class TestOnnxFile(SingleFileExportChecks):
    """Classifier, pairs, backbone and int8 outputs equal Keras' (`served`)."""


def test_keras_bert_export_format_onnx_serves_a_run_directory(served):
    found = served["outputs"]["cli"]
    np.testing.assert_allclose(
        found["logits"], served["outputs"]["classifier"]["logits"], atol=1e-6
    )
    assert list(found["label"]) == [LABELS[i] for i in found["label_id"]]


def test_a_model_quantized_in_keras_serves_its_own_int8_outputs(served):
    model, preprocessor = served["keras_int8"], served["preprocessor"]
    expected = call_keras(model, preprocessor(SHORT_TEXTS))
    found = served["outputs"]["keras_int8"]
    np.testing.assert_allclose(
        found["pooled_output"], expected["pooled_output"], atol=1e-4
    )


def _differs_by_design(text, tokenizer):
    """Whether `text` has what the ONNX tokenizer is documented to read
    differently (`keras_bert_impl/export/onnx_tokenizer.py`): with
    lower-casing, a character outside Latin-1 that lower-casing or NFD
    changes; without, text not in NFC; a NUL character."""
    if "\x00" in text:
        return True
    if not tokenizer.lowercase:
        return unicodedata.normalize("NFC", text) != text
    return any(
        ord(char) > 0xFF
        and (char.lower() != char or unicodedata.normalize("NFD", char) != char)
        for char in text
    )


@pytest.mark.parametrize("name", ["uncased", "chinese", "cased"])
def test_token_ids_are_the_originals_on_the_real_corpus(served, name):
    """Equal to our tokenizer's (= the original's) on every text but those
    with the stated differences; those are few and listed."""
    tokenizer = served["tokenizers"][name]
    texts = served["corpus"]
    expected = [[int(i) for i in pieces] for pieces in tokenizer(texts)]
    rows = served["outputs"][f"tokens_{name}"]["text_pieces"]
    counts = rows[:, 0]
    assert counts.max() < TOKEN_ID_LENGTH  # nothing cut
    found = [list(row[1 : 1 + count]) for row, count in zip(rows, counts)]
    differ = [
        text for text, pieces, got in zip(texts, expected, found) if pieces != got
    ]
    assert [text for text in differ if not _differs_by_design(text, tokenizer)] == []
    # Every real text reads as the original's; the differences are in the
    # fixtures written to probe them (measured: 11 of their 77 lines with the
    # uncased vocabulary, 16 with the Chinese one, 3 with the cased).
    fixtures = set(reference.EDGE_CASES + reference.MIXED_CHINESE_LINES)
    assert set(differ) <= fixtures
    assert len(differ) <= 0.25 * len(fixtures)


def test_models_onnx_cannot_serve_are_refused_with_the_fix(served):
    tagger = BertTokenClassifier(tiny_backbone(), num_classes=3)
    with pytest.raises(ValueError, match="format='saved_model'"):
        export(tagger, served["root"] / "tags.onnx", "onnx", served["preprocessor"])
    with pytest.raises(ValueError, match="must end in '.onnx'"):
        export(served["classifier"], served["root"] / "folder", format="onnx")
    backbone = tiny_backbone()
    backbone.quantize("int8")
    with pytest.raises(ValueError, match="without quantize='int8'"):
        export(
            backbone,
            served["root"] / "q.onnx",
            "onnx",
            served["preprocessor"],
            quantize="int8",
        )
    assert not list(served["root"].glob("[tq]*.onnx"))
