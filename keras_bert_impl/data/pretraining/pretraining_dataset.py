"""tf.data input for `BertPretrainer`: pretraining TFRecords -> (x, y, sample_weight).

Reads files written by `create_pretraining_data` (ours or google-research/bert's: the
same feature names and layout) and yields what `BertPretrainer.fit` takes:

    x = {"token_ids", "segment_ids", "padding_mask", "mask_positions"}   int32
    y = {"mlm_logits": masked_lm_ids, "nsp_logits": next_sentence_labels} int32
    sample_weight = {"mlm_logits": masked_lm_weights}                     float32

Shapes: (batch, seq) for the first three inputs, (batch, P) for the masked-LM fields,
(batch,) for the next-sentence labels.

Packed files (`create_pretraining_data(pack_sequences=True)`: several instances per
row, see `keras_bert_impl.data.pretraining.sequence_packing`) are recognized by their
`next_sentence_positions` feature and read for `BertBackbone(packed_sequences=True)`:
`padding_mask` holds instance numbers, x gains `next_sentence_positions` (batch, K),
`y["nsp_logits"]` is (batch, K) and `sample_weight["nsp_logits"]` weighs the empty
slots 0.

Dynamic masking (`dynamic_masking=True`, the rule in `dynamic_masking`) undoes the
masks of every record and draws new ones for each batch, in the graph, every epoch
anew. Any pretraining file works as input (its static masks are undone); files made
with `dupe_factor=1` avoid reading the same text several times per epoch.
On packed rows the count is drawn for the row (its real tokens) rather than for each
instance.
"""

import contextlib
import re

import tensorflow as tf

from keras_bert_impl.data.pretraining.dynamic_masking import dynamic_mask
from keras_bert_impl.data.pretraining.dynamic_masking import masking_vocabulary
from keras_bert_impl.data.pretraining.dynamic_masking import unmask
from keras_bert_impl.data.pretraining.example_encoding import FEATURE_NAMES
from keras_bert_impl.data.pretraining.input_files import expand_input_files
from keras_bert_impl.data.pretraining.instances import WORD_CONTINUATION
from keras_bert_impl.data.pretraining.sequence_packing import PACKED_FEATURE_NAMES


def feature_spec(
    max_seq_length,
    max_predictions_per_seq,
    max_instances_per_row=None,
    word_continuation=False,
):
    """The original `run_pretraining.py` parsing spec (packed: K instances a row;
    `word_continuation`: the records' Chinese whole-word marks)."""
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
    if word_continuation:
        spec[WORD_CONTINUATION] = tf.io.FixedLenFeature([seq], tf.int64)
    return spec


def expand_files(input_files):
    """Comma-separated globs (the original `--input_file`) or a list -> files."""
    files = expand_input_files(input_files, kind="pretraining")
    if not files:
        raise FileNotFoundError("no pretraining files given")
    return files


def _first_line(error):
    """TensorFlow's own words, without the op names it wraps them in."""
    line = str(getattr(error, "message", error)).strip().splitlines()[0]
    line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line)
    return re.sub(r"\s*\[Op:\w+\].*$", "", line)


def _first_record_features(files):
    """The features of the first record of `files`, checked to be pretraining data."""
    for path in files:
        try:
            records = list(tf.data.TFRecordDataset(path).take(1))
        except tf.errors.OpError as error:
            raise ValueError(
                f"{path}: not a readable TFRecord file ({_first_line(error)}); "
                "give files written by create-pretraining-data, or write them again."
            ) from None
        for record in records:
            example = tf.train.Example.FromString(record.numpy())
            feature = example.features.feature
            missing = [name for name in FEATURE_NAMES if name not in feature]
            if missing:
                raise ValueError(
                    f"{path}: not a pretraining file (its records lack "
                    f"{', '.join(missing)})"
                )
            return path, feature
    raise ValueError(f"no records in {', '.join(files)}")


def check_record_layout(files, max_seq_length, max_predictions_per_seq):
    """Refuses files whose records were written for other lengths than the run's.

    The first record's `input_ids` must hold `max_seq_length` ids and its
    `masked_lm_positions` `max_predictions_per_seq` positions: a mismatch is an
    error naming the file, the feature and the flag, before anything trains.
    """
    path, feature = _first_record_features(files)
    for name, flag, expected in (
        ("input_ids", "--max_seq_length", max_seq_length),
        ("masked_lm_positions", "--max_predictions_per_seq", max_predictions_per_seq),
    ):
        found = len(feature[name].int64_list.value)
        if found != int(expected):
            raise ValueError(
                f"{path}: its records' {name} hold {found} values, but "
                f"{flag}={expected}; pass {flag}={found}, or write the records "
                f"again with create-pretraining-data {flag}={expected}."
            )


def _first_bad_record(files, spec):
    """`FILE: record N: why` of the first record of `files` that fails, or None."""
    for path in files:
        readable = 0
        try:
            parsed = tf.data.TFRecordDataset(path).map(
                lambda record: tf.io.parse_single_example(record, spec)
            )
            for _ in parsed:
                readable += 1
        except tf.errors.OpError as error:
            return (
                f"{path}: record {readable} (from 0) cannot be read as pretraining "
                f"data ({_first_line(error)}); write the file again with "
                "create-pretraining-data, or leave it out of the inputs."
            )
    return None


@contextlib.contextmanager
def record_errors_named(input_files, max_seq_length, max_predictions_per_seq):
    """Turns a bad record met while training into one line naming file and record.

    TensorFlow reports a truncated or corrupt record, or one of another
    layout, without the file's name; on such an error the files are read again
    to find the record, and the error names it. Other errors pass unchanged.
    """
    try:
        yield
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        files = expand_files(input_files)
        spec = feature_spec(
            max_seq_length, max_predictions_per_seq, packed_instances_per_row(files)
        )
        bad_record = _first_bad_record(files, spec)
        if bad_record is None:
            raise
        raise ValueError(bad_record) from error


def infer_lengths(files):
    """(max_seq_length, max_predictions_per_seq) from the first record of `files`."""
    _, feature = _first_record_features(files)
    return (
        len(feature["input_ids"].int64_list.value),
        len(feature["masked_lm_positions"].int64_list.value),
    )


def packed_instances_per_row(files):
    """K (instances per row) when `files` hold packed rows, else None.

    Read from the first record: packed files have `next_sentence_positions`.
    """
    _, feature = _first_record_features(files)
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


def has_word_continuation(files):
    """Whether `files` were made with a Chinese word segmenter (their first record
    has `word_continuation`)."""
    _, feature = _first_record_features(files)
    return WORD_CONTINUATION in feature


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
            first record when not given, else checked against it
            (`check_record_layout`).
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
        masked_lm_prob, do_whole_word_mask: the dynamic masking rule (whole words
            by the records' `word_continuation` marks when they have them: files
            made with a Chinese word segmenter).
        prefetch: prefetch batches (AUTOTUNE).

    Returns:
        `tf.data.Dataset` of `(x, y, sample_weight)` as the module docstring says.
    """
    files = expand_files(input_files)
    seq, pred = infer_lengths(files)
    max_seq_length = seq if max_seq_length is None else max_seq_length
    max_predictions_per_seq = (
        pred if max_predictions_per_seq is None else max_predictions_per_seq
    )
    check_record_layout(files, max_seq_length, max_predictions_per_seq)
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
    word_marks = do_whole_word_mask and has_word_continuation(files)
    spec = feature_spec(
        max_seq_length,
        max_predictions_per_seq,
        packed_instances_per_row(files),
        word_continuation=word_marks,
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
                word_continuation=features.get(WORD_CONTINUATION),
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
