import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.utils.length_bucketing import bucket_by_length
from keras_bert_impl.utils.length_bucketing import bucket_lengths_for
from keras_bert_impl.utils.length_bucketing import num_bucketed_batches
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import tiny_backbone


def _padded_examples(lengths, sequence_length=16, seed=0):
    rng = np.random.default_rng(seed)
    count = len(lengths)
    token_ids = np.zeros((count, sequence_length), "int32")
    segment_ids = np.zeros((count, sequence_length), "int32")
    padding_mask = np.zeros((count, sequence_length), "int32")
    for row, length in enumerate(lengths):
        token_ids[row, :length] = rng.integers(5, len(TINY_VOCABULARY), size=length)
        segment_ids[row, length // 2 : length] = 1
        padding_mask[row, :length] = 1
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": padding_mask,
        "index": np.arange(count, dtype="int32"),
    }


LENGTHS = [3, 16, 5, 9, 4, 12, 7, 2, 8, 15, 6, 1]


def test_batches_take_only_bucket_lengths_and_keep_every_token():
    examples = _padded_examples(LENGTHS)
    dataset = tf.data.Dataset.from_tensor_slices(examples)
    batches = list(
        bucket_by_length(
            dataset, batch_size=3, bucket_lengths=(4, 8, 16)
        ).as_numpy_iterator()
    )
    seen = []
    for batch in batches:
        width = batch["token_ids"].shape[1]
        assert width in (4, 8, 16)
        for row, index in enumerate(batch["index"]):
            length = LENGTHS[index]
            # The smallest bucket that holds the example.
            assert width == min(b for b in (4, 8, 16) if b >= length)
            for key in ("token_ids", "segment_ids", "padding_mask"):
                np.testing.assert_array_equal(
                    batch[key][row, :length], examples[key][index, :length]
                )
                assert not batch[key][row, length:].any()
            seen.append(int(index))
    assert sorted(seen) == list(range(len(LENGTHS)))


def test_tuples_pass_labels_through_and_drop_remainder():
    examples = _padded_examples(LENGTHS)
    labels = np.arange(len(LENGTHS), dtype="int32") * 10
    dataset = tf.data.Dataset.from_tensor_slices((examples, labels))
    batches = list(
        bucket_by_length(
            dataset, batch_size=2, bucket_lengths=(8, 16), drop_remainder=True
        ).as_numpy_iterator()
    )
    for x, y in batches:
        assert x["token_ids"].shape[0] == 2
        np.testing.assert_array_equal(y, x["index"] * 10)


def test_whole_batches_state_their_size_for_distribution():
    # Keras on JAX and tf.distribute split global batches between processes by
    # the batch size the dataset's graph states ("unknown" stops a job).
    from tensorflow.python.data.experimental.ops.distribute import compute_batch_size

    examples = _padded_examples(LENGTHS * 4)
    dataset = tf.data.Dataset.from_tensor_slices(examples)
    whole = bucket_by_length(dataset, 4, (4, 8, 16), drop_remainder=True)
    assert int(compute_batch_size(whole)) == 4
    for batch in whole.as_numpy_iterator():
        width = batch["token_ids"].shape[1]
        assert all(
            width == min(b for b in (4, 8, 16) if b >= (LENGTHS * 4)[i])
            for i in batch["index"]
        )
    partial = bucket_by_length(dataset, 4, (4, 8, 16))
    assert int(compute_batch_size(partial)) == -1


def test_already_ragged_examples_are_padded_to_their_bucket():
    sequences = tf.ragged.constant([[1, 2, 3], [4, 5, 6, 7, 8, 9]], dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensor_slices(
        {"token_ids": sequences, "padding_mask": tf.ones_like(sequences)}
    )
    batches = list(bucket_by_length(dataset, 4, (4, 8)).as_numpy_iterator())
    widths = sorted(batch["token_ids"].shape[1] for batch in batches)
    assert widths == [4, 8]


def test_backbone_outputs_do_not_change_with_the_bucket_padding():
    backbone = tiny_backbone(num_layers=2)
    examples = _padded_examples(LENGTHS)
    reference = backbone.predict_on_batch(
        {k: examples[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    )
    dataset = tf.data.Dataset.from_tensor_slices(examples)
    for batch in bucket_by_length(dataset, 4, (4, 8, 16)).as_numpy_iterator():
        index = batch.pop("index")
        outputs = backbone.predict_on_batch(batch)
        np.testing.assert_allclose(
            outputs["pooled_output"], reference["pooled_output"][index], atol=1e-5
        )
        for row, example in enumerate(index):
            length = LENGTHS[example]
            np.testing.assert_allclose(
                outputs["sequence_output"][row, :length],
                reference["sequence_output"][example, :length],
                atol=1e-5,
            )


def test_too_long_examples_fail():
    dataset = tf.data.Dataset.from_tensor_slices(_padded_examples(LENGTHS))
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(bucket_by_length(dataset, 4, (4, 8)).as_numpy_iterator())


def test_arguments_are_checked():
    dataset = tf.data.Dataset.from_tensor_slices(_padded_examples([2, 3]))
    with pytest.raises(ValueError, match="increasing"):
        bucket_by_length(dataset, 2, (8, 4))
    with pytest.raises(ValueError, match="one size per bucket"):
        bucket_by_length(dataset, 2, (4, 8), bucket_batch_sizes=[2])
    with pytest.raises(ValueError, match="unbatched"):
        bucket_by_length(dataset.batch(2), 2, (4, 8))
    with pytest.raises(ValueError, match="padding_mask"):
        bucket_by_length(tf.data.Dataset.range(3), 2, (4, 8))


def test_bucket_lengths_for():
    assert bucket_lengths_for(128) == (16, 24, 32, 40, 56, 72, 96, 128)
    assert bucket_lengths_for(128, num_buckets=3, shortest=32) == (32, 64, 128)
    assert bucket_lengths_for(128, num_buckets=4) == (16, 32, 64, 128)
    assert bucket_lengths_for(100, num_buckets=3) == (16, 40, 100)
    assert bucket_lengths_for(8) == (8,)


def test_compiled_bucket_lengths_grow_with_the_data():
    from keras_bert_impl.utils.length_bucketing import compiled_bucket_lengths

    short = [5, 9, 14, 30, 51] * 200  # 1,000 examples: 32 batches of 32
    assert compiled_bucket_lengths(short, 32, 128) == (16, 56)
    assert compiled_bucket_lengths(short[:400], 32, 128) == (56,)
    assert compiled_bucket_lengths(short * 60, 32, 128) == bucket_lengths_for(56)
    assert compiled_bucket_lengths([3, 7], 32, 128) == (8,)
    assert compiled_bucket_lengths([300], 32, 128) == (128,)


def test_pad_to_batch_size_fills_partial_batches_with_empty_rows():
    examples = _padded_examples(LENGTHS)
    labels = np.arange(len(LENGTHS), dtype="int32") + 1
    dataset = tf.data.Dataset.from_tensor_slices((examples, labels))
    batches = list(
        bucket_by_length(
            dataset, 5, (4, 8, 16), pad_to_batch_size=True
        ).as_numpy_iterator()
    )
    real = []
    for x, y, weights in batches:
        assert x["token_ids"].shape[0] == 5 and y.shape == (5,)
        keep = x["padding_mask"].any(axis=1)
        assert not y[~keep].any() and not x["token_ids"][~keep].any()
        # Padding rows weigh nothing; real rows 5 / (real rows) each.
        np.testing.assert_allclose(weights, np.where(keep, 5 / keep.sum(), 0))
        real.extend(x["index"][keep].tolist())
    assert sorted(real) == list(range(len(LENGTHS)))


def _partial_batch(pad, sample_weight=None):
    """The last (partial: 2 of 4) batch of 6 examples in one bucket."""
    examples = _padded_examples([3, 5, 2, 7, 4, 6])
    del examples["index"]
    labels = np.array([0, 1, 1, 0, 1, 0], "int32")
    data = (examples, labels)
    if sample_weight is not None:
        data += (sample_weight,)
    dataset = tf.data.Dataset.from_tensor_slices(data)
    batches = bucket_by_length(dataset, 4, (8, 16), pad_to_batch_size=pad)
    return list(batches.as_numpy_iterator())[-1]


@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "mean_with_sample_weight"]
)
@pytest.mark.parametrize("user_weights", [False, True])
def test_zero_weight_padding_rows_leave_loss_and_gradients_unchanged(
    reduction, user_weights
):
    import keras

    from keras_bert_impl.models import BertClassifier

    weights = np.array([1.0, 0.5, 2.0, 1.0, 3.0, 0.25], "float32")
    padded = _partial_batch(True, weights if user_weights else None)
    unpadded = _partial_batch(False, weights if user_weights else None)
    assert padded[0]["token_ids"].shape[0] == 4
    assert unpadded[0]["token_ids"].shape[0] == 2

    models = []
    for _ in range(2):
        model = BertClassifier(tiny_backbone(), 3, dropout=0.0)
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=reduction
        )
        # Plain SGD: equal weights after one step means equal gradients. The
        # task's default (weighted) accuracy must not count the padding rows.
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss)
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    padded_logs = models[0].train_on_batch(*padded, return_dict=True)
    unpadded_logs = models[1].train_on_batch(*unpadded, return_dict=True)
    assert padded_logs.keys() == unpadded_logs.keys() == {"loss", "accuracy"}
    for name, value in unpadded_logs.items():
        np.testing.assert_allclose(padded_logs[name], value, rtol=1e-5)
    for found, expected in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-6)


def test_bucketed_batches_cover_every_example_once_in_few_shapes():
    from keras_bert_impl.utils.length_bucketing import bucketed_batches

    examples = _padded_examples(LENGTHS)
    seen, shapes = [], set()
    for rows, batch in bucketed_batches(examples, 3, (4, 8, 16)):
        shapes.add(batch["token_ids"].shape)
        width = batch["token_ids"].shape[1]
        longest = max(LENGTHS[index] for index in rows)
        assert width == min(b for b in (4, 8, 16) if b >= longest)
        for position, index in enumerate(rows):
            length = LENGTHS[index]
            np.testing.assert_array_equal(
                batch["token_ids"][position, :length],
                examples["token_ids"][index, :length],
            )
            assert not batch["token_ids"][position, length:].any()
            assert batch["index"][position] == index
        assert not batch["padding_mask"][len(rows) :].any()
        seen.extend(rows.tolist())
    assert sorted(seen) == list(range(len(LENGTHS)))
    assert shapes <= {(3, 4), (3, 8), (3, 16)}
    # Sorted by length: batches hold neighbours, the first the shortest three.
    first_rows, _ = next(bucketed_batches(examples, 3, (4, 8, 16)))
    assert sorted(LENGTHS[i] for i in first_rows) == sorted(LENGTHS)[:3]


def test_bucketed_batches_reject_too_long_examples():
    from keras_bert_impl.utils.length_bucketing import bucketed_batches

    with pytest.raises(ValueError, match="more than the last bucket"):
        list(bucketed_batches(_padded_examples(LENGTHS), 3, (4, 8)))


def test_num_bucketed_batches_counts_what_bucket_by_length_makes():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 65, size=203)
    masks = (np.arange(64)[None, :] < lengths[:, None]).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices({"padding_mask": masks})
    for drop_remainder in (False, True):
        batches = bucket_by_length(
            dataset, 8, (16, 32, 64), drop_remainder=drop_remainder
        )
        expected = sum(1 for _ in batches)
        assert num_bucketed_batches(lengths, 8, (16, 32, 64), drop_remainder) == (
            expected
        )


def _brute_force_plan_cost(longest, rows, compile_cost, compiled):
    """The cheapest plan's cost, trying every subset of the candidate lengths."""
    import itertools

    candidates = sorted(set(longest) | set(compiled))
    best = None
    for size in range(1, len(candidates) + 1):
        for plan in itertools.combinations(candidates, size):
            if plan[-1] < max(longest):
                continue
            cost = sum(compile_cost for width in plan if width not in compiled)
            cost += sum(rows * min(w for w in plan if w >= n) for n in longest)
            best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("compile_cost", [0, 40, 300, 10_000])
def test_plan_bucket_lengths_is_the_cheapest_plan(compile_cost):
    from keras_bert_impl.utils.length_bucketing import plan_bucket_lengths

    rng = np.random.default_rng(compile_cost)
    for _ in range(20):
        longest = rng.integers(1, 40, size=int(rng.integers(1, 8))).tolist()
        compiled = rng.integers(1, 48, size=int(rng.integers(0, 3))).tolist()
        plan = plan_bucket_lengths(longest, 4, compile_cost, compiled)
        assert plan[-1] >= max(longest)
        cost = sum(compile_cost for width in plan if width not in compiled)
        cost += sum(4 * min(w for w in plan if w >= n) for n in longest)
        assert cost == _brute_force_plan_cost(longest, 4, compile_cost, compiled)
    # Free shapes: each batch its own longest text; dear ones: one length.
    assert plan_bucket_lengths([9, 5, 30, 9], 32, 0) == (5, 9, 30)
    assert plan_bucket_lengths([9, 5, 30, 9], 32, 1e9) == (30,)
    assert plan_bucket_lengths([9, 5, 30, 9], 32, 1e9, compiled=[10, 64]) == (10, 64)
    assert plan_bucket_lengths([], 32, 0) == ()
