import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from tests.tokenizers import reference
from tests.tokenizers.reference import MIXED_CHINESE_LINES

KEYS = ("token_ids", "segment_ids", "padding_mask")


def _np(outputs):
    return {k: np.asarray(keras.ops.convert_to_numpy(outputs[k])) for k in KEYS}


def _hf(hf, first, second, sequence_length):
    encoded = hf(
        first,
        second,
        truncation=True,
        max_length=sequence_length,
        padding="max_length",
        return_token_type_ids=True,
    )
    return {
        "token_ids": np.array(encoded["input_ids"]),
        "segment_ids": np.array(encoded["token_type_ids"]),
        "padding_mask": np.array(encoded["attention_mask"]),
    }


def _assert_equal(ours, expected):
    for key in KEYS:
        np.testing.assert_array_equal(ours[key], expected[key], err_msg=key)


@pytest.fixture(scope="module")
def setup(shared_data):
    path = reference.vocab_path(shared_data, "uncased")
    pairs = reference.sentence_pairs(shared_data)[:200]
    pairs += list(zip(MIXED_CHINESE_LINES, MIXED_CHINESE_LINES[::-1]))
    return path, reference.hf_legacy(path), pairs


def test_eager_strings_and_pairs_match_hf(setup):
    path, hf, pairs = setup
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    preprocessor = BertPreprocessor(BertTokenizer(path), sequence_length=32)
    outputs = preprocessor((first, second))
    for key in KEYS:
        assert keras.ops.is_tensor(outputs[key])
        assert keras.backend.standardize_dtype(outputs[key].dtype) == "int32"
        assert tuple(outputs[key].shape) == (len(pairs), 32)
    _assert_equal(_np(outputs), _hf(hf, first, second, 32))
    # A list of two batches is a pair too; a list of strings is a batch.
    _assert_equal(_np(preprocessor([first, second])), _hf(hf, first, second, 32))
    _assert_equal(_np(preprocessor(first)), _hf(hf, first, None, 32))
    single = _np(preprocessor(first[0]))
    assert single["token_ids"].shape == (32,)
    _assert_equal(single, {k: v[0] for k, v in _hf(hf, first, None, 32).items()})


def test_tf_data_map(setup):
    path, hf, pairs = setup
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    labels = np.arange(len(pairs)) % 2
    preprocessor = BertPreprocessor(BertTokenizer(path), sequence_length=16)
    expected = _hf(hf, first, second, 16)

    ds = tf.data.Dataset.from_tensor_slices(((first, second), labels)).batch(64)
    ds = ds.map(preprocessor)
    xs, ys = [], []
    for x, y in ds:
        assert isinstance(x["token_ids"], tf.Tensor)
        assert x["token_ids"].dtype == tf.int32
        assert x["token_ids"].shape.as_list()[1:] == [16]
        xs.append({k: x[k].numpy() for k in KEYS})
        ys.append(y.numpy())
    _assert_equal({k: np.concatenate([x[k] for x in xs]) for k in KEYS}, expected)
    np.testing.assert_array_equal(np.concatenate(ys), labels)

    # Unbatched elements, single segments.
    singles = tf.data.Dataset.from_tensor_slices(first[:5]).map(preprocessor)
    rows = [x["token_ids"].numpy() for x in singles]
    np.testing.assert_array_equal(rows, _hf(hf, first[:5], None, 16)["token_ids"])


def test_keras_file_round_trip(setup, tmp_path):
    path, _, pairs = setup
    preprocessor = BertPreprocessor(
        BertTokenizer(path), sequence_length=24, truncate="waterfall"
    )
    config = preprocessor.get_config()
    assert config["tokenizer"]["config"]["vocabulary"][:3] == [
        "[PAD]",
        "[unused0]",
        "[unused1]",
    ]
    assert config["sequence_length"] == 24 and config["truncate"] == "waterfall"
    file = str(tmp_path / "preprocessor.keras")
    keras.saving.save_model(preprocessor, file)
    restored = keras.saving.load_model(file)
    assert isinstance(restored, BertPreprocessor)
    batch = ([a for a, _ in pairs[:20]], [b for _, b in pairs[:20]])
    _assert_equal(_np(restored(batch)), _np(preprocessor(batch)))


def test_saved_model_with_string_signature(setup, tmp_path):
    path, hf, pairs = setup
    preprocessor = BertPreprocessor(BertTokenizer(path), sequence_length=16)
    module = tf.Module()
    module.preprocessor = preprocessor

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string)] * 2,
    )
    def serve(first, second):
        return preprocessor((first, second))

    module.serve = serve
    tf.saved_model.save(module, str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    first, second = [a for a, _ in pairs[-10:]], [b for _, b in pairs[-10:]]
    outputs = loaded.serve(tf.constant(first), tf.constant(second))
    _assert_equal({k: outputs[k].numpy() for k in KEYS}, _hf(hf, first, second, 16))


@pytest.mark.slow
def test_strings_to_minilm_outputs_match_transformers():
    """Strings → our preprocessor → our backbone with the real MiniLM weights
    equal transformers' tokenizer + BertModel."""
    try:
        from keras_bert_impl.convert import from_huggingface
    except ImportError as error:
        pytest.skip(f"checkpoint conversion unavailable: {error}")
    import torch
    import transformers

    folder = reference.minilm_vocab_path().rsplit("/", 1)[0]
    texts = (
        ["The quick brown fox jumps over the lazy dog.", "Crème brûlée, naïve café!"],
        ["Is it a question?", "北京欢迎你（Beijing）：你好，世界！"],
    )
    hf = reference.hf_legacy(folder + "/vocab.txt")
    expected_inputs = _hf(hf, texts[0], texts[1], 24)
    preprocessor = BertPreprocessor(BertTokenizer(folder + "/vocab.txt"), 24)
    inputs = _np(preprocessor(texts))
    _assert_equal(inputs, expected_inputs)

    model = transformers.BertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        expected = model(
            input_ids=torch.tensor(expected_inputs["token_ids"]),
            token_type_ids=torch.tensor(expected_inputs["segment_ids"]),
            attention_mask=torch.tensor(expected_inputs["padding_mask"]),
        ).last_hidden_state.numpy()
    outputs = from_huggingface(folder).predict(inputs, verbose=0)
    mask = inputs["padding_mask"].astype(bool)
    np.testing.assert_allclose(
        outputs["sequence_output"][mask], expected[mask], atol=1e-4, rtol=0
    )


def test_windows_match_transformers_overflowing_tokens(setup):
    """transformers' `return_overflowing_tokens` windows, whose `stride` is the
    overlap: ours is the step between window starts (run_squad.py's doc_stride)."""
    path, _, pairs = setup
    hf = reference.hf_fast(path)
    documents = [" ".join(a + " " + b for a, b in pairs[i : i + 9]) for i in range(40)]
    documents += ["", "a short one", MIXED_CHINESE_LINES[3] * 6]
    sequence_length, step = 32, 12
    preprocessor = BertPreprocessor(BertTokenizer(path), sequence_length, stride=step)
    features, windows = preprocessor.windows(documents)
    encoded = hf(
        documents,
        truncation=True,
        max_length=sequence_length,
        stride=sequence_length - 2 - step,
        return_overflowing_tokens=True,
        padding="max_length",
        return_token_type_ids=True,
    )
    expected = {
        "token_ids": np.array(encoded["input_ids"]),
        "segment_ids": np.array(encoded["token_type_ids"]),
        "padding_mask": np.array(encoded["attention_mask"]),
    }
    _assert_equal(features, expected)
    np.testing.assert_array_equal(
        windows.document_index, encoded["overflow_to_sample_mapping"]
    )
    assert windows.num_windows > 3 * len(documents)
    # The first window of each document is what calling the layer gives.
    first = np.r_[True, np.diff(windows.document_index) != 0]
    called = _np(preprocessor(documents))
    _assert_equal({k: v[first] for k, v in features.items()}, called)
    config = preprocessor.get_config()
    assert config["stride"] == step
    assert BertPreprocessor.from_config(config).stride == step
