"""tf.data input for `BertPretrainer`: pretraining TFRecords -> (x, y, sample_weight).

Reads files written by `create_pretraining_data` (ours or google-research/bert's: the
same feature names and layout) and yields what `BertPretrainer.fit` takes:

    x = {"token_ids", "segment_ids", "padding_mask", "mask_positions"}   int32
    y = {"mlm_logits": masked_lm_ids, "nsp_logits": next_sentence_labels} int32
    sample_weight = {"mlm_logits": masked_lm_weights}                     float32

Shapes: (batch, seq) for the first three inputs, (batch, P) for the masked-LM fields,
(batch,) for the next-sentence labels.

Packed files (`create_pretraining_data(pack_sequences=True)`: several instances per
row, see `keras_bert_impl.data.sequence_packing`) are recognized by their
`next_sentence_positions` feature and read for `BertBackbone(packed_sequences=True)`:
`padding_mask` holds instance numbers, x gains `next_sentence_positions` (batch, K),
`y["nsp_logits"]` is (batch, K) and `sample_weight["nsp_logits"]` weighs the empty
slots 0.

Dynamic masking (`dynamic_masking=True`) puts the masked tokens of every record back
(`input_ids` at `masked_lm_positions` <- `masked_lm_ids`) and draws new masks for each
batch, in the graph, every epoch anew (RoBERTa's "dynamic masking"), with the original
rule: `min(P, max(1, round(len * masked_lm_prob)))` positions among the real tokens that
are not `[CLS]`, `[SEP]` or `[PAD]` (whole words with `do_whole_word_mask`, with the
original's greedy rule), then 80% `[MASK]`, 10% unchanged, 10% a token drawn uniformly
from the vocabulary. Any pretraining file works as input (its static masks are undone);
files made with `dupe_factor=1` avoid reading the same text several times per epoch.
On packed rows the count is drawn for the row (its real tokens) rather than for each
instance.
"""

import os

import numpy as np
import tensorflow as tf

from keras_bert_impl.data.pretraining_data import FEATURE_NAMES
from keras_bert_impl.data.sequence_packing import PACKED_FEATURE_NAMES


def feature_spec(max_seq_length, max_predictions_per_seq, max_instances_per_row=None):
    """The original `run_pretraining.py` parsing spec (packed: K instances a row)."""
    seq, pred = int(max_seq_length), int(max_predictions_per_seq)
    spec = {
        "input_ids": tf.io.FixedLenFeature([seq], tf.int64),
        "input_mask": tf.io.FixedLenFeature([seq], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([seq], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([pred], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([pred], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([pred], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }
    if max_instances_per_row is not None:
        slots = int(max_instances_per_row)
        spec["next_sentence_positions"] = tf.io.FixedLenFeature([slots], tf.int64)
        spec["next_sentence_labels"] = tf.io.FixedLenFeature([slots], tf.int64)
        spec["next_sentence_weights"] = tf.io.FixedLenFeature([slots], tf.float32)
    return spec


def expand_files(input_files):
    """Comma-separated globs (the original `--input_file`) or a list -> sorted files."""
    if isinstance(input_files, (str, os.PathLike)):
        patterns = [p.strip() for p in os.fspath(input_files).split(",") if p.strip()]
    else:
        patterns = [os.fspath(p) for p in input_files]
    files = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise FileNotFoundError(f"no pretraining file matches {pattern!r}")
        files.extend(matched)
    if not files:
        raise FileNotFoundError("no pretraining files given")
    return files


def _first_record_features(files):
    """The features of the first record of `files`, checked to be pretraining data."""
    for path in files:
        for record in tf.data.TFRecordDataset(path).take(1):
            example = tf.train.Example.FromString(record.numpy())
            feature = example.features.feature
            missing = [name for name in FEATURE_NAMES if name not in feature]
            if missing:
                raise ValueError(
                    f"{path}: not a pretraining file (its records lack "
                    f"{', '.join(missing)})"
                )
            return feature
    raise ValueError(f"no records in {', '.join(files)}")


def infer_lengths(files):
    """(max_seq_length, max_predictions_per_seq) from the first record of `files`."""
    feature = _first_record_features(files)
    return (
        len(feature["input_ids"].int64_list.value),
        len(feature["masked_lm_positions"].int64_list.value),
    )


def packed_instances_per_row(files):
    """K (instances per row) when `files` hold packed rows, else None.

    Read from the first record: packed files have `next_sentence_positions`.
    """
    feature = _first_record_features(files)
    present = [name for name in PACKED_FEATURE_NAMES if name in feature]
    if not present:
        return None
    if len(present) < len(PACKED_FEATURE_NAMES):
        missing = sorted(set(PACKED_FEATURE_NAMES) - set(present))
        raise ValueError(
            f"{', '.join(files)}: packed pretraining records need "
            f"{' and '.join(PACKED_FEATURE_NAMES)}; they lack {', '.join(missing)}"
        )
    return len(feature["next_sentence_positions"].int64_list.value)


def _vocabulary_tokens(vocabulary):
    if hasattr(vocabulary, "get_vocabulary"):
        return list(vocabulary.get_vocabulary())
    if hasattr(vocabulary, "vocabulary"):
        return list(vocabulary.vocabulary)
    if isinstance(vocabulary, (str, os.PathLike)):
        with tf.io.gfile.GFile(os.fspath(vocabulary), "rb") as f:
            tokens = [t.strip() for t in f.read().decode("utf-8").split("\n")]
        if tokens and tokens[-1] == "":
            tokens.pop()
        return tokens
    return [str(t) for t in vocabulary]


def masking_vocabulary(vocabulary):
    """What masking needs from a vocabulary (path, token list or tokenizer).

    Returns a dict: `vocabulary_size`, `mask_token_id`, `special_token_ids`
    (`[CLS]`, `[SEP]`, `[PAD]` when present), `is_continuation` (bool per id: `##`).
    """
    tokens = _vocabulary_tokens(vocabulary)
    for needed in ("[MASK]", "[CLS]", "[SEP]"):
        if needed not in tokens:
            raise ValueError(f"the vocabulary lacks {needed}, which masking needs")
    special = [tokens.index(t) for t in ("[CLS]", "[SEP]", "[PAD]") if t in tokens]
    return {
        "vocabulary_size": len(tokens),
        "mask_token_id": tokens.index("[MASK]"),
        "special_token_ids": tuple(special),
        "is_continuation": np.array([t.startswith("##") for t in tokens], bool),
    }


def unmask(input_ids, masked_lm_positions, masked_lm_ids, masked_lm_weights):
    """Puts the original tokens back at the masked positions (batched, in graph)."""
    input_ids = tf.convert_to_tensor(input_ids)
    positions = tf.cast(masked_lm_positions, tf.int32)
    real = masked_lm_weights > 0
    rows = tf.broadcast_to(
        tf.range(tf.shape(positions)[0])[:, None], tf.shape(positions)
    )
    indices = tf.stack(
        [tf.boolean_mask(rows, real), tf.boolean_mask(positions, real)], 1
    )
    updates = tf.cast(tf.boolean_mask(masked_lm_ids, real), input_ids.dtype)
    return tf.tensor_scatter_nd_update(input_ids, indices, updates)


def _greedy_whole_words(sizes, need):
    """The original's rule over groups in random order: take a group when it fits,
    skip it when it would overflow, stop once `need` is reached. sizes: (B, G)."""

    def step(count, size):
        take = (count < need) & (size > 0) & (count + size <= need)
        return count + tf.where(take, size, 0), take

    def body(carry, size):
        count, _ = carry
        return step(count, size)

    _, taken = tf.scan(
        body,
        tf.transpose(sizes),
        initializer=(tf.zeros_like(need), tf.zeros_like(need, tf.bool)),
    )
    return tf.transpose(taken)


def dynamic_mask(
    token_ids,
    padding_mask,
    seed,
    *,
    vocabulary_size,
    mask_token_id,
    special_token_ids,
    max_predictions_per_seq,
    masked_lm_prob=0.15,
    is_continuation=None,
):
    """Masks a batch with the original recipe, in graph; stateless in `seed`.

    Args:
        token_ids: int (batch, seq) unmasked token ids.
        padding_mask: (batch, seq), nonzero for real tokens.
        seed: shape [2] int seed for `tf.random.stateless_*`.
        vocabulary_size, mask_token_id: for the 80% `[MASK]` / 10% random rule.
        special_token_ids: ids never masked (`[CLS]`, `[SEP]`, `[PAD]`).
        max_predictions_per_seq: P, the width of the outputs.
        masked_lm_prob: share of the tokens (with `[CLS]`/`[SEP]`) to mask.
        is_continuation: optional bool array over the vocabulary (`##` pieces): mask
            whole words.

    Returns:
        (masked token_ids, mask_positions, masked_lm_ids, masked_lm_weights): positions
        ascending, padded with 0 (weight 0).
    """
    token_ids = tf.convert_to_tensor(token_ids)
    ids = tf.cast(token_ids, tf.int32)
    shape = tf.shape(ids)
    batch, seq = shape[0], shape[1]
    width = int(max_predictions_per_seq)
    valid = tf.cast(padding_mask, tf.bool)
    cand = valid
    for special in special_token_ids:
        cand &= tf.not_equal(ids, int(special))
    length = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
    need = tf.cast(tf.round(tf.cast(length, tf.float64) * masked_lm_prob), tf.int32)
    need = tf.minimum(width, tf.maximum(1, need))
    need = tf.minimum(need, tf.reduce_sum(tf.cast(cand, tf.int32), axis=1))
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    keys = tf.random.stateless_uniform(shape, seeds[0])
    pos = tf.broadcast_to(tf.range(seq)[None, :], shape)
    if is_continuation is None:
        k = tf.minimum(width, seq)
        order = tf.math.top_k(tf.where(cand, -keys, -2.0), k=k).indices  # (B, k)
        take = tf.range(k)[None, :] < need[:, None]
        hit = tf.one_hot(
            tf.where(take, order, seq),
            seq + 1,
            on_value=True,
            off_value=False,
            dtype=tf.bool,
        )
        selected = tf.reduce_any(hit, axis=1)[:, :seq] & cand
    else:
        table = tf.constant(np.asarray(is_continuation, bool))
        cont = tf.gather(table, ids)
        before = tf.cumsum(tf.cast(cand, tf.int32), axis=1, exclusive=True) > 0
        start = cand & ~(cont & before)
        group = tf.cumsum(tf.cast(start, tf.int32), axis=1) - 1  # (B, S)
        group = tf.where(cand, group, seq)  # non-candidates: a dummy group
        flat_group = group + tf.range(batch)[:, None] * (seq + 1)
        segments = batch * (seq + 1)
        sizes = tf.math.unsorted_segment_sum(
            tf.reshape(tf.cast(cand, tf.int32), [-1]),
            tf.reshape(flat_group, [-1]),
            segments,
        )
        group_keys = tf.math.unsorted_segment_max(
            tf.reshape(tf.where(start, keys, -1.0), [-1]),
            tf.reshape(flat_group, [-1]),
            segments,
        )
        sizes = tf.reshape(sizes, [batch, seq + 1])[:, :seq]
        group_keys = tf.reshape(group_keys, [batch, seq + 1])[:, :seq]
        group_keys = tf.where(sizes > 0, group_keys, 2.0)
        order = tf.argsort(group_keys, axis=1, stable=True)
        taken_sorted = _greedy_whole_words(tf.gather(sizes, order, batch_dims=1), need)
        inverse = tf.argsort(order, axis=1, stable=True)
        taken = tf.gather(taken_sorted, inverse, batch_dims=1)
        taken = tf.concat([taken, tf.zeros([batch, 1], tf.bool)], axis=1)
        selected = tf.gather(taken, group, batch_dims=1) & cand
    # Selected positions, ascending, into (B, P).
    score = tf.where(selected, seq - pos, 0)
    top = tf.math.top_k(score, k=tf.minimum(width, seq)).values
    pad = width - tf.shape(top)[1]
    top = tf.pad(top, [[0, 0], [0, pad]])
    real = top > 0
    positions = tf.where(real, seq - top, 0)
    labels = tf.where(real, tf.gather(ids, positions, batch_dims=1), 0)
    u = tf.random.stateless_uniform([batch, width], seeds[1])
    random_ids = tf.random.stateless_uniform(
        [batch, width], seeds[2], minval=0, maxval=int(vocabulary_size), dtype=tf.int32
    )
    replaced = tf.where(
        u < 0.8, int(mask_token_id), tf.where(u < 0.9, labels, random_ids)
    )
    rows = tf.broadcast_to(tf.range(batch)[:, None], [batch, width])
    indices = tf.stack(
        [tf.boolean_mask(rows, real), tf.boolean_mask(positions, real)], 1
    )
    masked = tf.tensor_scatter_nd_update(ids, indices, tf.boolean_mask(replaced, real))
    return masked, positions, labels, tf.cast(real, tf.float32)


def _to_model_inputs(features):
    x = {
        "token_ids": tf.cast(features["input_ids"], tf.int32),
        "segment_ids": tf.cast(features["segment_ids"], tf.int32),
        "padding_mask": tf.cast(features["input_mask"], tf.int32),
        "mask_positions": tf.cast(features["masked_lm_positions"], tf.int32),
    }
    y = {"mlm_logits": tf.cast(features["masked_lm_ids"], tf.int32)}
    sample_weight = {"mlm_logits": tf.cast(features["masked_lm_weights"], tf.float32)}
    if "next_sentence_positions" in features:
        x["next_sentence_positions"] = tf.cast(
            features["next_sentence_positions"], tf.int32
        )
        y["nsp_logits"] = tf.cast(features["next_sentence_labels"], tf.int32)
        sample_weight["nsp_logits"] = features["next_sentence_weights"]
    else:
        y["nsp_logits"] = tf.cast(
            tf.reshape(features["next_sentence_labels"], [-1]), tf.int32
        )
    return x, y, sample_weight


def pretraining_dataset(
    input_files,
    batch_size,
    *,
    max_seq_length=None,
    max_predictions_per_seq=None,
    shuffle=True,
    repeat=False,
    seed=None,
    shuffle_buffer_size=10_000,
    drop_remainder=True,
    num_input_pipelines=1,
    input_pipeline_id=0,
    input_context=None,
    cycle_length=4,
    dynamic_masking=False,
    vocabulary=None,
    masked_lm_prob=0.15,
    do_whole_word_mask=False,
    prefetch=True,
):
    """A `tf.data.Dataset` of `(x, y, sample_weight)` batches for `BertPretrainer`.

    Args:
        input_files: comma-separated globs (the original `--input_file`) or a list.
        batch_size: examples per batch of this pipeline (per host when sharded).
        max_seq_length, max_predictions_per_seq: the files' layout; read from the
            first record when not given.
        shuffle: shuffle the file order and the records (buffer `shuffle_buffer_size`),
            anew each epoch.
        repeat: repeat forever (training by steps, as `run_pretraining.py`); when
            False the dataset is one epoch.
        seed: makes shuffling and dynamic masks reproducible (masks still differ from
            epoch to epoch).
        drop_remainder: static batch shapes (needed on TPU).
        num_input_pipelines, input_pipeline_id: this worker's shard (hosts/workers),
            by file when there are at least as many files as pipelines, else by
            record. `input_context` (a `tf.distribute.InputContext`, as given by
            `strategy.distribute_datasets_from_function`) overrides both. When set,
            tf.distribute's auto-sharding is turned off (sharding is done here).
        cycle_length: files read in parallel.
        dynamic_masking: undo the files' masks and draw new ones every epoch, in graph.
        vocabulary: for dynamic masking: a vocab file, token list or tokenizer.
        masked_lm_prob, do_whole_word_mask: the dynamic masking rule.
        prefetch: prefetch batches (AUTOTUNE).

    Returns:
        `tf.data.Dataset` of `(x, y, sample_weight)` as the module docstring says.
    """
    files = expand_files(input_files)
    if max_seq_length is None or max_predictions_per_seq is None:
        seq, pred = infer_lengths(files)
        max_seq_length = seq if max_seq_length is None else max_seq_length
        max_predictions_per_seq = (
            pred if max_predictions_per_seq is None else max_predictions_per_seq
        )
    if input_context is not None:
        num_input_pipelines = input_context.num_input_pipelines
        input_pipeline_id = input_context.input_pipeline_id
    if not 0 <= input_pipeline_id < num_input_pipelines:
        raise ValueError(
            f"input_pipeline_id {input_pipeline_id} is not in "
            f"[0, {num_input_pipelines})"
        )
    masking = None
    if dynamic_masking:
        if vocabulary is None:
            raise ValueError("dynamic_masking needs the vocabulary (vocabulary=...)")
        masking = masking_vocabulary(vocabulary)
        if not do_whole_word_mask:
            masking["is_continuation"] = None

    shard_files = num_input_pipelines > 1 and len(files) >= num_input_pipelines
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shard_files:
        dataset = dataset.shard(num_input_pipelines, input_pipeline_id)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=max(1, min(cycle_length, len(files))),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if num_input_pipelines > 1 and not shard_files:
        dataset = dataset.shard(num_input_pipelines, input_pipeline_id)
    if shuffle:
        dataset = dataset.shuffle(
            shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    spec = feature_spec(
        max_seq_length, max_predictions_per_seq, packed_instances_per_row(files)
    )
    dataset = dataset.map(
        lambda records: tf.io.parse_example(records, spec),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if masking is not None:
        # One stateless seed per batch, different every epoch, reproducible with `seed`.
        seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        ).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds))

        def remask(features, batch_seed):
            original = unmask(
                features["input_ids"],
                features["masked_lm_positions"],
                features["masked_lm_ids"],
                features["masked_lm_weights"],
            )
            masked, positions, labels, weights = dynamic_mask(
                original,
                features["input_mask"],
                batch_seed,
                vocabulary_size=masking["vocabulary_size"],
                mask_token_id=masking["mask_token_id"],
                special_token_ids=masking["special_token_ids"],
                max_predictions_per_seq=max_predictions_per_seq,
                masked_lm_prob=masked_lm_prob,
                is_continuation=masking["is_continuation"],
            )
            return dict(
                features,
                input_ids=masked,
                masked_lm_positions=positions,
                masked_lm_ids=labels,
                masked_lm_weights=weights,
            )

        dataset = dataset.map(remask, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    if num_input_pipelines > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF
        )
        dataset = dataset.with_options(options)
    if prefetch:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset
