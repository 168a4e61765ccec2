"""The tf.data reader: original-layout TFRecords -> BertPretrainer's (x, y, sw)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data import create_pretraining_data
from keras_bert_impl.data import pretraining_dataset


def int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def original_record(tokens, segment_ids, positions, labels, is_random, seq, pred):
    """A record as google-research/bert's write_instance_to_example_files writes it."""
    n = len(tokens)
    features = {
        "input_ids": int_feature(list(tokens) + [0] * (seq - n)),
        "input_mask": int_feature([1] * n + [0] * (seq - n)),
        "segment_ids": int_feature(list(segment_ids) + [0] * (seq - n)),
        "masked_lm_positions": int_feature(
            list(positions) + [0] * (pred - len(positions))
        ),
        "masked_lm_ids": int_feature(list(labels) + [0] * (pred - len(labels))),
        "masked_lm_weights": float_feature(
            [1.0] * len(labels) + [0.0] * (pred - len(labels))
        ),
        "next_sentence_labels": int_feature([int(is_random)]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString()


def write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


@pytest.fixture(scope="module")
def vocab_file(shared_data):
    return shared_data / "vocab" / "uncased" / "vocab.txt"


@pytest.fixture(scope="module")
def generated(shared_data, vocab_file, tmp_path_factory):
    """Our generator on the sample corpus: 2 files, seq 64, 10 predictions."""
    out = tmp_path_factory.mktemp("generated")
    paths = [out / "part-0.tfrecord", out / "part-1.tfrecord"]
    create_pretraining_data(
        str(shared_data / "bert_sample_text" / "sample_text.txt"),
        paths,
        str(vocab_file),
        max_seq_length=64,
        max_predictions_per_seq=10,
        dupe_factor=4,
        num_workers=1,
        progress=False,
    )
    return paths


def all_rows(dataset):
    rows = []
    for x, y, sw in dataset:
        batch = {k: v.numpy() for k, v in x.items()}
        batch["labels"] = y["mlm_logits"].numpy()
        batch["nsp"] = y["nsp_logits"].numpy()
        batch["weights"] = sw["mlm_logits"].numpy()
        for i in range(len(batch["token_ids"])):
            row = {k: v[i] for k, v in batch.items()}
            row["nsp"] = int(row["nsp"])
            rows.append(row)
    return rows


def key(row):
    return tuple(row["token_ids"].tolist()) + (row["nsp"],)


def test_a_record_in_the_original_layout_loads(tmp_path):
    seq, pred = 12, 4
    records = [
        original_record(
            [101, 7, 103, 9, 102, 11, 12, 102],
            [0] * 5 + [1] * 3,
            [2, 6],
            [8, 12],
            True,
            seq,
            pred,
        ),
        original_record(
            [101, 5, 102, 6, 102], [0, 0, 0, 1, 1], [3], [6], False, seq, pred
        ),
    ]
    path = write(tmp_path / "original.tfrecord", records)
    dataset = pretraining_dataset(str(path), batch_size=2, shuffle=False)
    x, y, sw = next(iter(dataset))
    assert set(x) == {"token_ids", "segment_ids", "padding_mask", "mask_positions"}
    assert set(y) == {"mlm_logits", "nsp_logits"} and set(sw) == {"mlm_logits"}
    for tensor in (*x.values(), *y.values()):
        assert tensor.dtype == tf.int32
    assert sw["mlm_logits"].dtype == tf.float32
    assert x["token_ids"].shape == (2, seq) and x["mask_positions"].shape == (2, pred)
    assert y["nsp_logits"].shape == (2,)
    np.testing.assert_array_equal(
        x["token_ids"][0], [101, 7, 103, 9, 102, 11, 12, 102, 0, 0, 0, 0]
    )
    np.testing.assert_array_equal(x["segment_ids"][1], [0, 0, 0, 1, 1] + [0] * 7)
    np.testing.assert_array_equal(x["padding_mask"][1], [1] * 5 + [0] * 7)
    np.testing.assert_array_equal(x["mask_positions"], [[2, 6, 0, 0], [3, 0, 0, 0]])
    np.testing.assert_array_equal(y["mlm_logits"], [[8, 12, 0, 0], [6, 0, 0, 0]])
    np.testing.assert_array_equal(y["nsp_logits"], [1, 0])
    np.testing.assert_array_equal(sw["mlm_logits"], [[1, 1, 0, 0], [1, 0, 0, 0]])


def test_generated_files_one_epoch_in_order_and_shuffled(generated):
    plain = all_rows(
        pretraining_dataset(generated, 4, shuffle=False, drop_remainder=False)
    )
    assert plain[0]["token_ids"].shape == (64,) and plain[0]["labels"].shape == (10,)
    total = sum(1 for p in generated for _ in tf.data.TFRecordDataset(str(p)))
    assert len(plain) == total
    shuffled = pretraining_dataset(
        ",".join(map(str, generated)), 4, seed=3, drop_remainder=False
    )
    first, second = all_rows(shuffled), all_rows(shuffled)
    assert sorted(map(key, first)) == sorted(map(key, plain))
    assert [key(r) for r in first] != [key(r) for r in plain]
    assert [key(r) for r in first] != [key(r) for r in second]  # reshuffled per epoch
    again = all_rows(pretraining_dataset(generated, 4, seed=3, drop_remainder=False))
    assert [key(r) for r in again] == [key(r) for r in first]  # seeded


def test_batches_and_repeat(generated):
    dataset = pretraining_dataset(generated, 8, repeat=True, seed=1)
    total = sum(1 for p in generated for _ in tf.data.TFRecordDataset(str(p)))
    batches = list(dataset.take(total // 8 + 3))
    assert all(b[0]["token_ids"].shape == (8, 64) for b in batches)
    spec = dataset.element_spec[0]["token_ids"]
    assert spec.shape == (8, 64)  # static shapes for TPU


@pytest.mark.parametrize("files", [1, 2])
def test_sharding_splits_the_data(generated, files):
    paths = generated[:files]
    everything = sorted(
        map(
            key,
            all_rows(
                pretraining_dataset(paths, 1, shuffle=False, drop_remainder=False)
            ),
        )
    )
    shards = [
        sorted(
            map(
                key,
                all_rows(
                    pretraining_dataset(
                        paths,
                        1,
                        shuffle=False,
                        drop_remainder=False,
                        num_input_pipelines=2,
                        input_pipeline_id=i,
                    )
                ),
            )
        )
        for i in range(2)
    ]
    assert sorted(shards[0] + shards[1]) == everything
    assert shards[0] and shards[1]
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    from_context = pretraining_dataset(
        paths, 1, shuffle=False, drop_remainder=False, input_context=context
    )
    assert sorted(map(key, all_rows(from_context))) == shards[1]
    policy = from_context.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.OFF


def originals(row):
    ids = row["token_ids"].copy()
    real = row["weights"] > 0
    ids[row["mask_positions"][real]] = row["labels"][real]
    return ids


def test_dynamic_masking_follows_the_recipe(generated, vocab_file):
    vocab = vocab_file.read_text(encoding="utf-8").split("\n")[:-1]
    mask_id, cls_id, sep_id = (vocab.index(t) for t in ("[MASK]", "[CLS]", "[SEP]"))
    static = all_rows(
        pretraining_dataset(generated, 4, shuffle=False, drop_remainder=False)
    )
    total = len(static)

    def dynamic(**kwargs):
        return pretraining_dataset(
            generated,
            total,
            shuffle=False,
            drop_remainder=False,
            dynamic_masking=True,
            vocabulary=str(vocab_file),
            seed=5,
            **kwargs,
        )

    # One batch = one epoch (no shuffling); 12 epochs through one iterator.
    rows = all_rows(dynamic(repeat=True).take(12))
    epochs = [rows[i : i + total] for i in range(0, len(rows), total)]
    shown, labels = [], []
    for rows in epochs:
        assert len(rows) == len(static)
        for row, base in zip(rows, static):
            # Same text, same segments and next-sentence label; new masks.
            np.testing.assert_array_equal(originals(row), originals(base))
            assert row["nsp"] == base["nsp"]
            length = int(row["padding_mask"].sum())
            real = row["weights"] > 0
            assert real.sum() == min(10, max(1, int(round(length * 0.15))))
            positions = row["mask_positions"][real]
            assert (np.diff(positions) > 0).all()
            assert (row["mask_positions"][~real] == 0).all()
            original = originals(row)
            assert not np.isin(original[positions], [cls_id, sep_id, 0]).any()
            assert (positions < length).all()
            shown.extend(row["token_ids"][positions])
            labels.extend(row["labels"][real])
    shown, labels = np.array(shown), np.array(labels)
    assert len(shown) > 5000
    assert abs((shown == mask_id).mean() - 0.8) < 0.025
    assert abs((shown == labels).mean() - 0.1) < 0.02
    assert abs(((shown != mask_id) & (shown != labels)).mean() - 0.1) < 0.02
    # New masks each epoch, also when the dataset is iterated again (Keras epochs),
    # and reproducible with the seed.
    one_epoch = dynamic()
    first = [tuple(r["mask_positions"]) for r in all_rows(one_epoch)]
    second = [tuple(r["mask_positions"]) for r in all_rows(one_epoch)]
    assert first != second
    assert [tuple(r["mask_positions"]) for r in epochs[0]] != [
        tuple(r["mask_positions"]) for r in epochs[1]
    ]
    assert [tuple(r["mask_positions"]) for r in all_rows(dynamic())] == first


def test_dynamic_whole_word_masking(generated, vocab_file):
    vocab = vocab_file.read_text(encoding="utf-8").split("\n")[:-1]
    dataset = pretraining_dataset(
        generated,
        64,
        shuffle=False,
        repeat=True,
        dynamic_masking=True,
        vocabulary=str(vocab_file),
        do_whole_word_mask=True,
        seed=2,
    )
    multi_piece = 0
    for row in all_rows(dataset.take(4)):
        length = int(row["padding_mask"].sum())
        original = originals(row)
        masked = np.zeros(len(original), bool)
        masked[row["mask_positions"][row["weights"] > 0]] = True
        need = min(10, max(1, int(round(length * 0.15))))
        assert masked.sum() <= need
        tokens = [vocab[i] for i in original[:length]]
        word = []
        for i in range(1, length):
            if tokens[i].startswith("##") and word:
                word.append(i)
                continue
            if word:
                assert len({bool(masked[j]) for j in word}) == 1
                multi_piece += len(word) > 1 and bool(masked[word[0]])
            word = [] if tokens[i] in ("[SEP]", "[CLS]") else [i]
    assert multi_piece > 5


def test_errors(tmp_path, generated):
    with pytest.raises(FileNotFoundError):
        pretraining_dataset(str(tmp_path / "none-*.tfrecord"), 2)
    with pytest.raises(ValueError, match="vocabulary"):
        pretraining_dataset(generated, 2, dynamic_masking=True)
    with pytest.raises(ValueError, match="input_pipeline_id"):
        pretraining_dataset(generated, 2, num_input_pipelines=2, input_pipeline_id=2)
    other = write(tmp_path / "other.tfrecord", [tf.train.Example().SerializeToString()])
    with pytest.raises(ValueError, match="not a pretraining file"):
        pretraining_dataset(str(other), 2)


def test_packed_files_give_the_packed_pretrainer_inputs(
    shared_data, vocab_file, tmp_path
):
    path = tmp_path / "packed.tfrecord"
    summary = create_pretraining_data(
        str(shared_data / "bert_sample_text" / "sample_text.txt"),
        [path],
        str(vocab_file),
        max_seq_length=64,
        max_predictions_per_seq=10,
        short_seq_prob=0.5,
        dupe_factor=4,
        num_workers=1,
        progress=False,
        pack_sequences=True,
        max_instances_per_row=4,
    )
    rows = []
    for x, y, sample_weight in pretraining_dataset(
        str(path), batch_size=8, shuffle=False, drop_remainder=False
    ):
        assert set(x) == {
            "token_ids",
            "segment_ids",
            "padding_mask",
            "mask_positions",
            "next_sentence_positions",
        }
        assert x["next_sentence_positions"].shape[1:] == (4,)
        assert y["nsp_logits"].shape[1:] == (4,)
        assert sample_weight["nsp_logits"].shape[1:] == (4,)
        rows.append(
            (x["padding_mask"].numpy().max(axis=1), sample_weight["nsp_logits"].numpy())
        )
    instances_per_row = np.concatenate([numbers for numbers, _ in rows])
    weights = np.concatenate([w for _, w in rows])
    # Every instance of the row has its NSP slot, and only those slots weigh.
    assert (weights.sum(axis=1) == instances_per_row).all()
    assert len(instances_per_row) == summary["rows"]
    assert instances_per_row.sum() == summary["instances"]


def test_records_of_other_lengths_than_the_flags_are_named(generated):
    with pytest.raises(
        ValueError,
        match=r"part-0.tfrecord: its records' input_ids hold 64 values, but "
        r"--max_seq_length=128; pass --max_seq_length=64",
    ):
        pretraining_dataset(generated, 2, max_seq_length=128)
    with pytest.raises(
        ValueError,
        match=r"masked_lm_positions hold 10 values, but --max_predictions_per_seq=20",
    ):
        pretraining_dataset(generated, 2, max_predictions_per_seq=20)


def test_a_text_file_is_not_a_tfrecord(tmp_path):
    text = tmp_path / "notes.tfrecord"
    text.write_text("This is a text file, not TFRecords.\n" * 20)
    with pytest.raises(ValueError, match=r"notes.tfrecord: not a readable TFRecord"):
        pretraining_dataset(str(text), 2)


def test_a_truncated_file_met_while_reading_names_file_and_record(generated, tmp_path):
    from keras_bert_impl.data.pretraining.pretraining_dataset import record_errors_named

    whole = generated[0].read_bytes()
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(whole[: len(whole) // 2])
    files = [str(generated[1]), str(cut)]
    count = sum(1 for _ in tf.data.TFRecordDataset(str(cut)).ignore_errors())
    with pytest.raises(ValueError, match=rf"cut.tfrecord: record {count} \(from 0\)"):
        with record_errors_named(files, 64, 10):
            for _ in pretraining_dataset(files, 4, shuffle=False):
                pass
    # Errors that are not about records pass unchanged.
    with pytest.raises(tf.errors.InvalidArgumentError, match="not records"):
        with record_errors_named(files[:1], 64, 10):
            raise tf.errors.InvalidArgumentError(None, None, "not records")
