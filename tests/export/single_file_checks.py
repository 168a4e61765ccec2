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

import keras
import numpy as np

from tests.export.test_export_saved_model import LABELS
from tests.export.test_export_saved_model import PAIRS as SAVED_MODEL_PAIRS
from tests.export.test_export_saved_model import SEQUENCE_LENGTH
from tests.export.test_export_saved_model import TEXTS

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
