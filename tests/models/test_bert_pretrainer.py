import numpy as np

from keras_bert_impl.models import BertBackbone
from keras_bert_impl.models import BertPretrainer
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import call
from tests.bert_test_case import fast_compile
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import tiny_backbone
from tests.huggingface_reference import random_batch

VOCABULARY_SIZE = len(TINY_VOCABULARY)


def _tiny_pretrainer(**overrides):
    return BertPretrainer(tiny_backbone(**overrides))


def _training_batch():
    x = random_batch(
        vocab_size=VOCABULARY_SIZE, batch=3, length=12, num_masks=4, seed=5
    )
    rng = np.random.default_rng(5)
    y = {
        "mlm_logits": rng.integers(5, VOCABULARY_SIZE, size=(3, 4)).astype("int32"),
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
    assert outputs["mlm_logits"].shape == (3, 4, VOCABULARY_SIZE)
    assert outputs["nsp_logits"].shape == (3, 2)


def test_decoder_is_tied_to_the_token_embedding():
    pretrainer = _tiny_pretrainer()
    table = pretrainer.backbone.token_embedding.embeddings
    assert pretrainer.masked_lm_head.token_embedding.embeddings is table
    # Tied: the variable is counted once.
    paths = [v.path for v in pretrainer.weights]
    assert len(paths) == len(set(paths))


def test_fit_overfits_a_small_batch_and_reports_named_metrics():
    pretrainer = fast_compile(_tiny_pretrainer())
    x, y, weights = _training_batch()
    history = pretrainer.fit(x, y, sample_weight=weights, epochs=60, verbose=0).history
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    assert history["mlm_logits_masked_lm_accuracy"][-1] == 1.0
    assert history["nsp_logits_next_sentence_accuracy"][-1] == 1.0


def test_padding_predictions_weigh_nothing():
    pretrainer = _tiny_pretrainer()
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
    x, _, _ = _training_batch()
    run_serialization_test(_tiny_pretrainer(dropout=0.1), x, tmp_path, atol=1e-6)


def test_preset_round_trip_and_backbone_from_task_preset(tmp_path):
    pretrainer = _tiny_pretrainer(num_layers=2)
    x, _, _ = _training_batch()
    run_preset_test(pretrainer, x, tmp_path, atol=1e-6)
    backbone = BertBackbone.from_preset(str(tmp_path / f"{pretrainer.name}_preset"))
    inputs = {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    np.testing.assert_allclose(
        call(backbone, inputs)["pooled_output"],
        call(pretrainer.backbone, inputs)["pooled_output"],
        atol=1e-6,
    )


def _packed_row(instance_lengths, row_length, vocab_size, seed=0):
    """One packed row of `[CLS] A [SEP] B [SEP]`-shaped instances, and each alone.

    Returns (row inputs with batch 1, list of instances with batch 1 each, the
    offsets of the instances in the row). Two masked positions per instance.
    """
    rng = np.random.default_rng(seed)
    row = {
        key: np.zeros((1, row_length), "int32")
        for key in ("token_ids", "segment_ids", "padding_mask")
    }
    row["token_ids"][:] = 7  # whatever sits under padding must not matter
    mask_positions, next_sentence_positions, instances, offsets = [], [], [], []
    offset = 0
    for number, length in enumerate(instance_lengths, start=1):
        token_ids = rng.integers(5, vocab_size, size=length).astype("int32")
        segment_ids = (np.arange(length) >= length // 2).astype("int32")
        masks = np.sort(rng.choice(np.arange(1, length), size=2, replace=False))
        span = slice(offset, offset + length)
        row["token_ids"][0, span] = token_ids
        row["segment_ids"][0, span] = segment_ids
        row["padding_mask"][0, span] = number
        mask_positions.extend(masks + offset)
        next_sentence_positions.append(offset)
        instances.append(
            {
                "token_ids": token_ids[None],
                "segment_ids": segment_ids[None],
                "padding_mask": np.ones((1, length), "int32"),
                "mask_positions": masks[None].astype("int32"),
            }
        )
        offsets.append(offset)
        offset += length
    row["mask_positions"] = np.array([mask_positions], "int32")
    row["next_sentence_positions"] = np.array(
        [next_sentence_positions + [0] * 2], "int32"
    )  # two empty slots
    return row, instances, offsets


def test_packed_rows_match_transformers_on_each_instance_alone(tmp_path):
    from keras_bert_impl.convert import from_huggingface
    from tests.huggingface_reference import huggingface_outputs
    from tests.huggingface_reference import random_bert_for_pretraining

    reference_model = random_bert_for_pretraining(tmp_path)
    unpacked = from_huggingface(tmp_path)
    backbone = BertBackbone.from_config(
        {**unpacked.backbone.get_config(), "packed_sequences": True}
    )
    packed = BertPretrainer(backbone)
    # The same variables in the same order: converted weights load as they are.
    packed.set_weights(unpacked.get_weights())

    lengths = (9, 6, 11)
    row, instances, offsets = _packed_row(lengths, row_length=30, vocab_size=97)
    ours = packed.predict(row, verbose=0)
    sequence = backbone.predict(
        {k: row[k] for k in ("token_ids", "segment_ids", "padding_mask")}, verbose=0
    )["sequence_output"]
    assert ours["mlm_logits"].shape == (1, 6, 97)
    assert ours["nsp_logits"].shape == (1, 5, 2)
    for index, (instance, offset, length) in enumerate(
        zip(instances, offsets, lengths)
    ):
        reference = huggingface_outputs(reference_model, instance)
        np.testing.assert_allclose(
            sequence[0, offset : offset + length],
            reference.hidden_states[-1].numpy()[0],
            atol=1e-5,
            rtol=0,
        )
        expected_mlm = reference.prediction_logits.numpy()[
            0, instance["mask_positions"][0]
        ]
        np.testing.assert_allclose(
            ours["mlm_logits"][0, 2 * index : 2 * index + 2],
            expected_mlm,
            atol=1e-5,
            rtol=0,
        )
        np.testing.assert_allclose(
            ours["nsp_logits"][0, index],
            reference.seq_relationship_logits.numpy()[0],
            atol=1e-5,
            rtol=0,
        )


def test_packed_pretrainer_weighs_out_empty_next_sentence_slots():
    pretrainer = _tiny_pretrainer(packed_sequences=True)
    row, _, _ = _packed_row((5, 4), row_length=12, vocab_size=VOCABULARY_SIZE)
    x = {
        key: np.repeat(value, 2, axis=0) for key, value in row.items()
    }  # a batch of two rows
    y = {
        "mlm_logits": np.full((2, 4), 9, "int32"),
        "nsp_logits": np.array([[0, 1, 0, 0], [1, 1, 0, 0]], "int32"),
    }
    weights = {
        "mlm_logits": np.ones((2, 4), "float32"),
        "nsp_logits": np.array([[1, 1, 0, 0]] * 2, "float32"),
    }
    first = pretrainer.evaluate(
        x, y, sample_weight=weights, verbose=0, return_dict=True
    )
    changed = {key: value.copy() for key, value in y.items()}
    changed["nsp_logits"][:, 2:] = 1  # labels of empty slots
    second = pretrainer.evaluate(
        x, changed, sample_weight=weights, verbose=0, return_dict=True
    )
    assert first["nsp_logits_loss"] == second["nsp_logits_loss"]
    assert (
        first["nsp_logits_next_sentence_accuracy"]
        == second["nsp_logits_next_sentence_accuracy"]
    )
    assert set(pretrainer.input) == {
        "token_ids",
        "segment_ids",
        "padding_mask",
        "mask_positions",
        "next_sentence_positions",
    }


def _cross_entropy(logits, labels):
    logits = logits - logits.max(axis=-1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probabilities, labels[..., None], axis=-1)[..., 0]


def test_evaluate_reports_the_losses_over_every_real_prediction():
    # Issue 13 item 8: the reported losses were the true mean times n/(n+1).
    pretrainer = _tiny_pretrainer()
    x, y, weights = _training_batch()
    x2, y2, w2 = (
        {k: np.concatenate([v, v[:1]]) for k, v in d.items()} for d in (x, y, weights)
    )
    logs = pretrainer.evaluate(
        x2, y2, sample_weight=w2, batch_size=2, return_dict=True, verbose=0
    )
    outputs = pretrainer.predict(x2, batch_size=2, verbose=0)
    mlm = _cross_entropy(np.asarray(outputs["mlm_logits"], "float64"), y2["mlm_logits"])
    expected_mlm = (mlm * w2["mlm_logits"]).sum() / w2["mlm_logits"].sum()
    nsp = _cross_entropy(np.asarray(outputs["nsp_logits"], "float64"), y2["nsp_logits"])
    np.testing.assert_allclose(
        logs["mlm_logits_masked_lm_loss"], expected_mlm, rtol=1e-5
    )
    np.testing.assert_allclose(
        logs["nsp_logits_next_sentence_loss"], nsp.mean(), rtol=1e-5
    )
