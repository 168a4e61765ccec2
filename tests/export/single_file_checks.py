"""The checks every one-file export (LiteRT, ONNX) passes, on its served outputs.

Each format's test module subclasses `SingleFileExportChecks`; its
module-scoped `served` fixture exports a tiny classifier (3 classes, `LABELS`)
and its backbone (`classifier`, `pairs`, `backbone`, `int8` files with the
format's `suffix`), serves them in a process without Keras and returns:
`outputs` (one dict of arrays per job: `classifier` on `TEXTS`,
`classifier_1000` on `batch`, `classifier_empty_batch`, `pairs` on `PAIRS`,
`backbone` and `int8` on `SHORT_TEXTS`), the Keras `classifier`, `backbone`
and `preprocessor`, `batch`, `root` and `suffix`.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from keras_bert_impl.cli import main
from keras_bert_impl.export import export
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from tests.bert_test_case import tiny_backbone
from tests.export.test_export_saved_model import LABELS
from tests.export.test_export_saved_model import PAIRS as SAVED_MODEL_PAIRS
from tests.export.test_export_saved_model import SEQUENCE_LENGTH
from tests.export.test_export_saved_model import TEXTS
from tests.tokenizers import reference

# The SavedModel tests' texts (empty, blank, over-long, accents, CJK), and a
# pair whose first text is short (longest-first truncation cuts the second).
SHORT_TEXTS = [text for text in TEXTS if len(text) < 40]
PAIRS = (SAVED_MODEL_PAIRS[0] + ["fox " * 3], SAVED_MODEL_PAIRS[1] + ["dog " * 20])


def call_keras(model, inputs):
    """`model(inputs)` as numpy arrays."""
    outputs = model(inputs, training=False)
    return keras.tree.map_structure(
        lambda x: np.asarray(keras.ops.convert_to_numpy(x)), outputs
    )


def export_tiny_models(shared_data, root, format, suffix):
    """Exports what `SingleFileExportChecks` serves, in `format`.

    A tiny classifier over the uncased vocabulary (3 classes named
    `LABELS`), the same for pairs, its backbone in float and int8, and the
    classifier through `keras-bert export --format` from a run directory.

    Returns:
        The `served` dict without `outputs`, and `jobs` for
        `serve_in_clean_process` (the format's module may add its own).
    """
    vocab = reference.vocab_path(shared_data, "uncased")
    preprocessor = BertPreprocessor(BertTokenizer(vocab), SEQUENCE_LENGTH)
    vocabulary_size = preprocessor.tokenizer.vocabulary_size()
    keras.utils.set_random_seed(7)
    backbone = tiny_backbone(vocabulary_size=vocabulary_size, max_sequence_length=32)
    classifier = BertClassifier(backbone, num_classes=3, preprocessor=preprocessor)
    path = {name: root / f"{name}{suffix}" for name in _FILES}
    export(classifier, path["classifier"], format, label_names=LABELS)
    export(classifier, path["pairs"], format, text_pair=True)
    export(backbone, path["backbone"], format, preprocessor)
    export(backbone, path["int8"], format, preprocessor, quantize="int8")
    # The same backbone trained in bfloat16: the file computes in float32.
    mixed = tiny_backbone(
        vocabulary_size=vocabulary_size, max_sequence_length=32, dtype="mixed_bfloat16"
    )
    mixed.set_weights(backbone.get_weights())
    export(mixed, path["mixed"], format, preprocessor)
    # The same classifier through `keras-bert export --format`: a run
    # directory whose preset metadata names the labels.
    classifier.save_to_preset(root / "run" / RUN_MODEL_DIR)
    (root / "run" / RUN_MODEL_DIR / METADATA_FILE).write_text(
        json.dumps({"label_names": LABELS})
    )
    flags = ["export", f"--model={root / 'run'}", f"--out={path['cli']}"]
    assert main([*flags, f"--format={format}"]) == 0
    corpus = reference.corpus(shared_data)
    corpus_texts = [text for texts in corpus.values() for text in texts]
    corpus_texts += reference.EDGE_CASES + reference.MIXED_CHINESE_LINES
    batch = corpus_texts[:1000]
    jobs = {
        "classifier": (path["classifier"], {"text": TEXTS}),
        "classifier_1000": (path["classifier"], {"text": batch}),
        "classifier_empty_batch": (path["classifier"], {"text": []}),
        "cli": (path["cli"], {"text": TEXTS}),
        "pairs": (path["pairs"], {"text_a": PAIRS[0], "text_b": PAIRS[1]}),
        "backbone": (path["backbone"], {"text": SHORT_TEXTS}),
        "int8": (path["int8"], {"text": SHORT_TEXTS}),
        "mixed": (path["mixed"], {"text": SHORT_TEXTS}),
    }
    served = {
        "classifier": classifier,
        "backbone": backbone,
        "mixed": mixed,
        "preprocessor": preprocessor,
        "corpus": corpus_texts,
        "batch": batch,
        "root": root,
        "suffix": suffix,
    }
    return served, jobs


_FILES = ("classifier", "pairs", "backbone", "int8", "mixed", "cli")

_SERVE_SCRIPT = """
import json
import sys

import numpy as np

for name in {blocked!r}:
    sys.modules[name] = None
{setup}
jobs = json.loads(sys.stdin.read())
for key, (model_path, inputs, out_path) in jobs.items():
    inputs = {{k: np.array(v, dtype=object) for k, v in inputs.items()}}
    np.savez_compressed(out_path, **run(model_path, inputs))
loaded = sorted(
    name for name, module in sys.modules.items()
    if module is not None and name.split(".")[0] in {blocked!r}
)
print("LOADED" + json.dumps(loaded))
"""


def serve_in_clean_process(jobs, setup, blocked):
    """Runs `jobs` ({key: (model file, inputs)}) in a fresh Python process in
    which the `blocked` top-level modules cannot be imported (and checks that
    none was). `setup` is the serving code: it defines `run(model_path,
    inputs)`, returning a dict of arrays.

    Returns:
        {key: {output name: array}}.
    """
    folder = os.path.dirname(next(iter(jobs.values()))[0])
    requests = {
        key: (str(model), inputs, os.path.join(folder, f"{key}.npz"))
        for key, (model, inputs) in jobs.items()
    }
    script = _SERVE_SCRIPT.format(blocked=tuple(blocked), setup=textwrap.dedent(setup))
    done = subprocess.run(
        [sys.executable, "-c", script],
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


def _softmax(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _strings(values):
    return [x.decode() if isinstance(x, bytes) else x for x in values]


class SingleFileExportChecks:
    """Tests every one-file format passes; a format's module subclasses it as
    `Test...` (pytest collects the subclass with that module's `served`)."""

    def test_classifier_serves_labels_and_keras_logits(self, served):
        classifier, preprocessor = served["classifier"], served["preprocessor"]
        found = served["outputs"]["classifier"]
        expected = call_keras(classifier, preprocessor(TEXTS))
        np.testing.assert_allclose(found["logits"], expected, atol=1e-4)
        np.testing.assert_allclose(
            found["probabilities"], _softmax(expected), atol=1e-4
        )
        label_ids = expected.argmax(-1)
        np.testing.assert_array_equal(found["label_id"], label_ids)
        assert _strings(found["label"]) == [LABELS[i] for i in label_ids]

    def test_keras_bert_export_serves_a_run_directory(self, served):
        found = served["outputs"]["cli"]
        np.testing.assert_allclose(
            found["logits"], served["outputs"]["classifier"]["logits"], atol=1e-6
        )
        assert _strings(found["label"]) == [LABELS[i] for i in found["label_id"]]

    def test_a_batch_of_1000_real_sentences_and_an_empty_batch(self, served):
        classifier, preprocessor = served["classifier"], served["preprocessor"]
        expected = call_keras(classifier, preprocessor(served["batch"]))
        np.testing.assert_allclose(
            served["outputs"]["classifier_1000"]["logits"], expected, atol=1e-4
        )
        assert served["outputs"]["classifier_empty_batch"]["logits"].shape == (0, 3)

    def test_sentence_pairs_are_packed_and_truncated_as_the_preprocessor(self, served):
        classifier, preprocessor = served["classifier"], served["preprocessor"]
        expected = call_keras(classifier, preprocessor(PAIRS))
        found = served["outputs"]["pairs"]
        np.testing.assert_allclose(found["logits"], expected, atol=1e-4)
        # No label names given and none on the model: labels are the ids.
        np.testing.assert_array_equal(found["label"], expected.argmax(-1))

    def test_backbone_serves_keras_embeddings(self, served):
        backbone, preprocessor = served["backbone"], served["preprocessor"]
        inputs = preprocessor(SHORT_TEXTS)
        expected = call_keras(backbone, inputs)
        found = served["outputs"]["backbone"]
        # Padded to the longest text, not to the sequence length.
        width = int(np.asarray(inputs["padding_mask"]).sum(1).max())
        assert found["sequence_output"].shape[1] == width < SEQUENCE_LENGTH
        np.testing.assert_allclose(
            found["sequence_output"], expected["sequence_output"][:, :width], atol=1e-4
        )
        np.testing.assert_allclose(
            found["pooled_output"], expected["pooled_output"], atol=1e-4
        )
        np.testing.assert_array_equal(
            found["padding_mask"], np.asarray(inputs["padding_mask"])[:, :width]
        )

    def test_a_bfloat16_model_serves_its_float32_outputs(self, served):
        # LiteRT has no bfloat16 matmul kernels; a CPU runs float32 best. The
        # file serves what the float32 backbone's does (Keras' outputs, as
        # `test_backbone_serves_keras_embeddings` checks).
        found, expected = served["outputs"]["mixed"], served["outputs"]["backbone"]
        for name in ("sequence_output", "pooled_output"):
            np.testing.assert_allclose(found[name], expected[name], atol=1e-6)
        # The model itself computes in bfloat16 again after the export.
        block = served["mixed"].transformer_layers[0]
        assert block.attention.compute_dtype == "bfloat16"

    def test_int8_stays_near_keras_float32_in_a_smaller_file(self, served):
        backbone, preprocessor = served["backbone"], served["preprocessor"]
        expected = call_keras(backbone, preprocessor(SHORT_TEXTS))
        int8 = served["outputs"]["int8"]
        width = int8["sequence_output"].shape[1]
        np.testing.assert_allclose(
            int8["pooled_output"], expected["pooled_output"], atol=1e-2
        )
        # Hidden states (unit scale after LayerNorm): the largest error of ~2,000
        # values is 0.0097 with LiteRT, the mean 0.0027.
        error = np.abs(int8["sequence_output"] - expected["sequence_output"][:, :width])
        assert error.max() < 2e-2 and error.mean() < 5e-3
        root, suffix = served["root"], served["suffix"]
        int8_size = (root / f"int8{suffix}").stat().st_size
        assert int8_size < 0.7 * (root / f"backbone{suffix}").stat().st_size
