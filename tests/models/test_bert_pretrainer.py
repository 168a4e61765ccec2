import keras
import numpy as np

from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertPretrainer
from tests.huggingface_reference import random_batch


def _tiny_pretrainer(**kwargs):
    backbone = BertBackbone(
        vocabulary_size=97,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=16,
        **kwargs,
    )
    return BertPretrainer(backbone)


def _training_batch():
    x = random_batch(vocab_size=97, batch=3, length=12, num_masks=4, seed=5)
    rng = np.random.default_rng(5)
    y = {
        "mlm_logits": rng.integers(5, 97, size=(3, 4)).astype("int32"),
        "nsp_logits": np.array([0, 1, 1], "int32"),
    }
    weights = {
        "mlm_logits": np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], "float32")
    }
    return x, y, weights


def test_outputs_follow_the_contract():
    pretrainer = _tiny_pretrainer()
    x, _, _ = _training_batch()
    outputs = pretrainer.predict(x, verbose=0)
    assert outputs["mlm_logits"].shape == (3, 4, 97)
    assert outputs["nsp_logits"].shape == (3, 2)


def test_decoder_is_tied_to_the_token_embedding():
    pretrainer = _tiny_pretrainer()
    table = pretrainer.backbone.token_embedding.embeddings
    assert pretrainer.masked_lm_head.token_embedding.embeddings is table
    # Tied: the variable is counted once.
    paths = [v.path for v in pretrainer.weights]
    assert len(paths) == len(set(paths))


def test_fit_overfits_a_small_batch_and_reports_named_metrics():
    pretrainer = _tiny_pretrainer(dropout=0.0)
    pretrainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    x, y, weights = _training_batch()
    history = pretrainer.fit(x, y, sample_weight=weights, epochs=60, verbose=0).history
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    assert history["mlm_logits_masked_lm_accuracy"][-1] == 1.0
    assert history["nsp_logits_next_sentence_accuracy"][-1] == 1.0


def test_padding_predictions_weigh_nothing():
    pretrainer = _tiny_pretrainer(dropout=0.0)
    x, y, weights = _training_batch()
    changed = {key: value.copy() for key, value in y.items()}
    changed["mlm_logits"][weights["mlm_logits"] == 0] = 6  # labels under weight 0
    first = pretrainer.evaluate(
        x, y, sample_weight=weights, verbose=0, return_dict=True
    )
    second = pretrainer.evaluate(
        x, changed, sample_weight=weights, verbose=0, return_dict=True
    )
    assert first["mlm_logits_loss"] == second["mlm_logits_loss"]


def test_keras_file_round_trip_keeps_heads(tmp_path):
    pretrainer = _tiny_pretrainer()
    x, _, _ = _training_batch()
    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    restored = keras.models.load_model(path)
    for key in ("mlm_logits", "nsp_logits"):
        np.testing.assert_allclose(
            restored.predict(x, verbose=0)[key],
            pretrainer.predict(x, verbose=0)[key],
            atol=1e-6,
        )


def test_preset_round_trip_and_backbone_from_task_preset(tmp_path):
    pretrainer = _tiny_pretrainer()
    pretrainer.save_to_preset(tmp_path / "preset")
    x, _, _ = _training_batch()
    restored = BertPretrainer.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(
        restored.predict(x, verbose=0)["mlm_logits"],
        pretrainer.predict(x, verbose=0)["mlm_logits"],
        atol=1e-6,
    )
    backbone = BertBackbone.from_preset(str(tmp_path / "preset"))
    inputs = {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    np.testing.assert_allclose(
        backbone.predict(inputs, verbose=0)["pooled_output"],
        pretrainer.backbone.predict(inputs, verbose=0)["pooled_output"],
        atol=1e-6,
    )
