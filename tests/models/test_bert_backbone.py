import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertBackbone
from keras_bert_impl.utils import mixed_precision
from tests.bert_test_case import TINY_BACKBONE_CONFIG
from tests.bert_test_case import call
from tests.bert_test_case import random_inputs
from tests.bert_test_case import run_backbone_test
from tests.bert_test_case import run_preset_test
from tests.bert_test_case import run_serialization_test
from tests.bert_test_case import tiny_backbone


@pytest.mark.parametrize(
    "size, expected",
    [
        # Devlin et al. BERT-Base and BERT-Large with the 30522 uncased vocabulary,
        # pooler included (the counts of google-research/bert's checkpoints).
        (
            dict(num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072),
            109_482_240,
        ),
        (
            dict(num_layers=24, num_heads=16, hidden_dim=1024, intermediate_dim=4096),
            335_141_888,
        ),
    ],
)
def test_parameter_counts_of_base_and_large(size, expected):
    backbone = BertBackbone(vocabulary_size=30522, **size)
    assert backbone.count_params() == expected


def test_output_shapes_and_names():
    run_backbone_test(
        tiny_backbone(),
        random_inputs((2, 8)),
        expected_output_shape={"sequence_output": (2, 8, 16), "pooled_output": (2, 16)},
    )


def test_padding_does_not_change_real_token_outputs():
    backbone = tiny_backbone()
    inputs = random_inputs((1, 6))
    padded = {key: np.pad(value, ((0, 0), (0, 4))) for key, value in inputs.items()}
    padded["token_ids"][:, 6:] = 7  # whatever sits under padding must not matter
    short = backbone.predict(inputs, verbose=0)
    long = backbone.predict(padded, verbose=0)
    np.testing.assert_allclose(
        long["sequence_output"][:, :6], short["sequence_output"], atol=1e-5
    )
    np.testing.assert_allclose(long["pooled_output"], short["pooled_output"], atol=1e-5)


@pytest.mark.parametrize("packed_sequences", [False, True])
def test_pooled_output_is_the_pooler_on_the_full_last_blocks_first_token(
    packed_sequences,
):
    # `pooled_output` takes its own, first-token-only path through the last
    # block; it must equal the pooler on `sequence_output`'s first token.
    backbone = tiny_backbone(num_layers=2, packed_sequences=packed_sequences)
    inputs = random_inputs((3, 7))
    inputs["padding_mask"][1, 4:] = 0
    if packed_sequences:
        inputs["padding_mask"][2, 3:] = 2  # a second instance from token 3 on
    outputs = call(backbone, inputs)
    expected = backbone.pooler_dense(outputs["sequence_output"][:, 0, :])
    np.testing.assert_allclose(
        outputs["pooled_output"], keras.ops.convert_to_numpy(expected), atol=1e-6
    )


def test_sequence_longer_than_max_sequence_length_fails_clearly():
    backbone = tiny_backbone(max_sequence_length=12)
    with pytest.raises(
        ValueError, match="longer than the model's max_sequence_length=12"
    ):
        backbone(random_inputs((2, 13)))


def test_config_and_keras_file_round_trip(tmp_path):
    backbone = tiny_backbone(activation="gelu_approximate", dropout=0.2)
    run_serialization_test(backbone, random_inputs((2, 8)), tmp_path, atol=1e-6)


def test_preset_round_trip(tmp_path):
    backbone = tiny_backbone(num_layers=2)
    run_preset_test(backbone, random_inputs((2, 8)), tmp_path, atol=1e-6)
    untrained = BertBackbone.from_preset(
        str(tmp_path / f"{backbone.name}_preset"), load_weights=False
    )
    assert untrained.count_params() == backbone.count_params()


def test_unknown_preset_names_close_matches(tmp_path):
    with pytest.raises(ValueError, match="Unknown preset 'no_such_bert'"):
        BertBackbone.from_preset("no_such_bert")


def test_mixed_bfloat16_computes_in_bfloat16_close_to_float32():
    full = tiny_backbone(num_layers=2)
    mixed = tiny_backbone(num_layers=2, dtype="mixed_bfloat16")
    mixed.set_weights(full.get_weights())
    block = mixed.transformer_layers[0]
    assert block.attention.compute_dtype == "bfloat16"
    # Variables stay float32 master weights under mixed precision.
    assert {v.dtype for v in mixed.weights} == {"float32"}
    inputs = random_inputs((2, 8))
    expected = full.predict(inputs, verbose=0)["sequence_output"]
    found = keras.ops.convert_to_numpy(
        keras.ops.cast(mixed(inputs)["sequence_output"], "float32")
    )
    # LayerNorm statistics and the softmax run in float32: the bfloat16 model
    # stays within bfloat16 rounding of the float32 one (outputs are ~N(0, 1)).
    assert np.isfinite(found).all()
    np.testing.assert_allclose(found, expected, atol=0.1)


def test_bfloat16_on_jaxs_cpu_warns_that_float32_is_faster(monkeypatch):
    import warnings

    # A CPU with bfloat16 instructions: only JAX's CPU backend is slower.
    monkeypatch.setattr(mixed_precision, "cpu_has_bfloat16_instructions", lambda: True)
    if keras.backend.backend() == "jax":  # the tests run on JAX's CPU backend
        with pytest.warns(UserWarning, match="XLA CPU computes bfloat16"):
            tiny_backbone(dtype="mixed_bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tiny_backbone()  # float32: no warning
        if keras.backend.backend() != "jax":
            tiny_backbone(dtype="mixed_bfloat16")


def test_bfloat16_on_a_cpu_without_bfloat16_instructions_warns(monkeypatch):
    import warnings

    monkeypatch.setattr(mixed_precision, "cpu_has_bfloat16_instructions", lambda: False)
    with pytest.warns(UserWarning, match="slower than float32 here") as record:
        tiny_backbone(dtype="mixed_bfloat16")
    if keras.backend.backend() != "jax":
        assert "list none of avx512_bf16, amx_bf16 or bf16" in str(record[0].message)
    # Where nothing is known (no /proc/cpuinfo), TF and torch are not warned.
    monkeypatch.setattr(mixed_precision, "cpu_has_bfloat16_instructions", lambda: None)
    if keras.backend.backend() != "jax":
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            tiny_backbone(dtype="mixed_bfloat16")


def test_a_mixed_policy_survives_get_config_and_a_preset_loads_in_float32(tmp_path):
    mixed = tiny_backbone(num_layers=1, dtype="mixed_bfloat16")
    assert mixed.dtype_policy.name == "mixed_bfloat16"
    rebuilt = BertBackbone.from_config(mixed.get_config())
    assert rebuilt.transformer_layers[0].attention.compute_dtype == "bfloat16"
    # A preset holds float32 weights and computes in float32 unless asked.
    mixed.save_to_preset(tmp_path / "preset")
    loaded = BertBackbone.from_preset(str(tmp_path / "preset"))
    assert loaded.transformer_layers[0].attention.compute_dtype == "float32"
    again = BertBackbone.from_preset(str(tmp_path / "preset"), dtype="mixed_bfloat16")
    assert again.transformer_layers[0].attention.compute_dtype == "bfloat16"


def test_feature_extractor_returns_chosen_hidden_states():
    backbone = tiny_backbone(num_layers=2)
    inputs = random_inputs((2, 8))
    outputs = call(backbone, inputs)
    every = call(backbone.feature_extractor("all", combine=None), inputs)
    assert len(every) == 2 + 1  # embeddings + each block
    np.testing.assert_allclose(every[-1], outputs["sequence_output"], atol=1e-6)
    # The embedding output is state 0: the first block's input.
    first_block = backbone.transformer_layers[0]
    first_output = first_block(every[0], padding_mask=inputs["padding_mask"])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(first_output), every[1], atol=1e-5
    )
    concatenated = call(backbone.feature_extractor(layers=(-2, -1)), inputs)
    assert tuple(concatenated.shape) == (2, 8, 2 * TINY_BACKBONE_CONFIG["hidden_dim"])
    np.testing.assert_allclose(concatenated[..., 16:], every[-1], atol=1e-6)
    np.testing.assert_allclose(concatenated[..., :16], every[-2], atol=1e-6)
    summed = call(backbone.feature_extractor(layers=(0, 2), combine="sum"), inputs)
    np.testing.assert_allclose(summed, every[0] + every[2], atol=1e-5)
    # The backbone's own contract is untouched.
    assert set(backbone.output) == {"sequence_output", "pooled_output"}
    assert set(backbone.input) == {"token_ids", "segment_ids", "padding_mask"}


def test_feature_extractor_rejects_missing_layers():
    backbone = tiny_backbone(num_layers=2)
    with pytest.raises(ValueError, match="Hidden state -4 does not exist"):
        backbone.feature_extractor(layers=(-4, -1))
    with pytest.raises(ValueError, match="combine"):
        backbone.feature_extractor(layers=(-1,), combine="mean")


def test_packed_position_ids_restart_for_every_instance():
    from keras_bert_impl.models.bert_backbone import packed_position_ids

    padding_mask = np.array([[1, 1, 1, 2, 2, 3, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1]])
    found = keras.ops.convert_to_numpy(
        packed_position_ids(keras.ops.convert_to_tensor(padding_mask, "int32"))
    )
    assert found.tolist() == [[0, 1, 2, 0, 1, 0, 6, 7], list(range(8))]


def test_packed_backbone_has_the_same_weights_and_config_round_trip(tmp_path):
    backbone = tiny_backbone(num_layers=2)
    backbone.save_to_preset(tmp_path / "tiny")
    packed = BertBackbone.from_preset(str(tmp_path / "tiny"), packed_sequences=True)
    assert packed.packed_sequences and not backbone.packed_sequences
    assert [w.path for w in packed.weights] == [w.path for w in backbone.weights]
    config = packed.get_config()
    assert config["packed_sequences"] is True
    assert BertBackbone.from_config(config).get_config() == config
    # A row holding one instance (instance number 1 everywhere) is an unpacked row.
    inputs = random_inputs((2, 8))
    np.testing.assert_allclose(
        call(packed, inputs)["sequence_output"],
        call(backbone, inputs)["sequence_output"],
        atol=1e-5,
    )


def _with_id(inputs, name, value):
    changed = {key: np.array(array) for key, array in inputs.items()}
    changed[name][1, 3] = value
    return changed


@pytest.mark.parametrize(
    "name, value, limit",
    [("token_ids", -1, 30), ("token_ids", 30, 30), ("segment_ids", 2, 2)],
)
def test_ids_outside_the_embeddings_are_refused(name, value, limit):
    # On JAX such an id gives NaN and a negative one reads the table's last
    # row on both backends; nothing inside the compiled model can raise.
    backbone = tiny_backbone()
    assert backbone.vocabulary_size == limit or name == "segment_ids"
    bad = _with_id(random_inputs((2, 8)), name, value)
    message = rf"{name}\[1, 3\] is {value}, outside \[0, {limit}\)"
    with pytest.raises(ValueError, match=message):
        backbone(bad)
    with pytest.raises(ValueError, match=message):
        backbone.predict(bad, verbose=0)


def test_ids_of_a_dataset_are_checked_as_it_is_read():
    import tensorflow as tf

    backbone = tiny_backbone()
    good = random_inputs((2, 8))
    dataset = tf.data.Dataset.from_tensor_slices(good).batch(2)
    expected = backbone.predict(good, verbose=0)["pooled_output"]
    found = backbone.predict(dataset, verbose=0)["pooled_output"]
    np.testing.assert_allclose(found, expected, atol=1e-6)
    bad = tf.data.Dataset.from_tensor_slices(_with_id(good, "token_ids", -1))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"token_ids must lie"):
        backbone.predict(bad.batch(2), verbose=0)
