"""Length bucketing for `tf.data`: dynamic padding over a bounded set of shapes.

Text batches padded to a fixed `sequence_length` spend most of their compute on
padding (SST-2 sentences average 25 WordPiece tokens; a length-128 batch is 80%
padding). Padding each batch only to its longest member instead gives one
compiled program per distinct length, which XLA (JAX, TF `jit_compile`) must
compile one by one. `bucket_by_length` takes the middle road: each batch is
padded or trimmed to the smallest of a few `bucket_lengths` that holds all its
members, and sequences of similar length are batched together, so the model
sees at most `len(bucket_lengths)` shapes and little padding.

    features = dataset.map(preprocessor)            # padded to 128, unbatched
    batches = bucket_by_length(features, batch_size=32, bucket_lengths=(32, 64, 128))
    model.fit(batches)

For inference on examples already in memory (a list of strings run through the
preprocessor at once), `bucketed_batches` sorts them by length, batches them in
that order and trims each batch to a bucket length, saying which examples each
batch holds so that outputs go back in input order:

    features = preprocessor(sentences)              # (n, 128) each
    for rows, batch in bucketed_batches(features, 32):
        outputs[rows] = model.predict_on_batch(batch)["pooled_output"][: len(rows)]

Elements are what a preprocessor yields for one example: a dict of features
(`token_ids`, `segment_ids`, `padding_mask`, each of shape `(sequence,)`, padded or
already ragged), or a tuple `(x, y)` / `(x, y, sample_weight)` whose first item is
that dict. The length of an example is the number of ones in its `padding_mask`;
everything after it is padding and is dropped before re-padding with zeros (BERT's
`[PAD]` id, segment 0, mask 0). Other features (labels, `mask_positions`, an
example index) pass through unchanged. Buckets reorder examples: to restore
input order after `predict`, add an index feature before bucketing and sort by it.
"""

import numpy as np
import tensorflow as tf

DEFAULT_BUCKET_LENGTHS = (32, 64, 128)
DEFAULT_SEQUENCE_KEYS = ("token_ids", "segment_ids", "padding_mask")


def bucket_lengths_for(sequence_length, num_buckets=8, multiple=8, shortest=16):
    """`num_buckets` lengths spaced geometrically from `shortest` to `sequence_length`.

    Each is rounded up to a `multiple` (8 suits vector units and accelerators),
    so padding costs at most about `(ratio - 1)` of the real tokens, where
    `ratio = (sequence_length / shortest) ** (1 / (num_buckets - 1))`.
    `bucket_lengths_for(128)` is `(16, 24, 32, 40, 56, 72, 96, 128)`;
    `bucket_lengths_for(128, num_buckets=3, shortest=32)` is `(32, 64, 128)`.
    """
    shortest = min(shortest, sequence_length)
    if num_buckets < 2 or shortest == sequence_length:
        return (int(sequence_length),)
    ratio = (sequence_length / shortest) ** (1 / (num_buckets - 1))
    lengths = set()
    for index in range(num_buckets):
        length = shortest * ratio**index
        rounded = -(-round(length, 6) // multiple) * multiple
        lengths.add(int(min(max(rounded, multiple), sequence_length)))
    lengths.add(int(sequence_length))
    return tuple(sorted(lengths))


def compiled_bucket_lengths(
    lengths, batch_size, sequence_length, batches_per_length=16
):
    """Bucket lengths for data that XLA compiles one program per length for.

    A compiled BERT train step costs seconds (measured on JAX on 2 CPU cores:
    BERT-mini 1 to 4 s per length) while a step on short text costs a fraction,
    so a length pays for its compile only when enough batches use it: one
    bucket per `batches_per_length` batches of the data (at least 1, at most
    8), spaced geometrically from 16 to the longest example rounded up to 8.
    1,024 sentences in batches of 32 get 2 lengths; 60,000 get 8.

    Args:
        lengths: ints, the number of real tokens of each example.
        batch_size: int. Examples per batch.
        sequence_length: int. The longest length allowed (the preprocessor's).
        batches_per_length: int. Batches that justify one more length.
    """
    lengths = np.asarray(lengths)
    if not lengths.size:
        return (int(sequence_length),)
    batches = -(-lengths.size // batch_size)
    num_buckets = int(np.clip(batches // batches_per_length, 1, 8))
    longest = min(-(-int(lengths.max()) // 8) * 8, int(sequence_length))
    return bucket_lengths_for(longest, num_buckets=num_buckets)


def bucket_by_length(
    dataset,
    batch_size,
    bucket_lengths=DEFAULT_BUCKET_LENGTHS,
    sequence_keys=DEFAULT_SEQUENCE_KEYS,
    length_key="padding_mask",
    bucket_batch_sizes=None,
    drop_remainder=False,
    pad_to_batch_size=False,
):
    """Batches `dataset` by sequence length, padding to a few fixed lengths.

    Args:
        dataset: `tf.data.Dataset` of unbatched examples: a feature dict or a
            tuple whose first item is one (see the module docstring).
        batch_size: int. Examples per batch (per bucket unless
            `bucket_batch_sizes` is given).
        bucket_lengths: increasing ints, the only sequence lengths batches
            get. The last must be at least the longest example; longer examples
            raise `tf.errors.InvalidArgumentError` when iterated.
        sequence_keys: the features of shape `(sequence, ...)` to trim and pad.
            Keys missing from the dict are ignored.
        length_key: the feature whose count of non-zero entries is the length.
        bucket_batch_sizes: optional ints, one per bucket (e.g. larger batches
            for shorter buckets at a constant number of tokens per batch).
        drop_remainder: drop each bucket's last partial batch (for fixed-size
            batches, as on TPU).
        pad_to_batch_size: fill each bucket's last partial batch with padding
            rows (every feature zero, so an all-zero `padding_mask`), so that
            XLA compiles exactly one program per bucket. For inference, drop
            those rows from the outputs (`padding_mask.any(axis=1)` is False
            for them). For training examples (`(x, y)` or `(x, y,
            sample_weight)`), padding rows get sample weight 0 and the real
            rows of a batch of `n` real out of `B` rows get `B / n` times their
            weight: a loss averaged over the batch (Keras'
            `sum_over_batch_size`) or normalised by the weight sum is then the
            unpadded batch's, gradients included. Weighted metrics should undo
            the factor (`PipelineModel.compute_metrics` does).

    Returns:
        A `tf.data.Dataset` of batches of the same structure, sequence features
        of shape `(batch, L)` with `L` one of `bucket_lengths`.
    """
    bucket_lengths = tuple(int(length) for length in bucket_lengths)
    if not bucket_lengths or any(length < 1 for length in bucket_lengths):
        raise ValueError(f"bucket_lengths must be positive ints; got {bucket_lengths}.")
    if list(bucket_lengths) != sorted(set(bucket_lengths)):
        raise ValueError(
            f"bucket_lengths must be strictly increasing; got {bucket_lengths}."
        )
    if bucket_batch_sizes is None:
        bucket_batch_sizes = [batch_size] * len(bucket_lengths)
    bucket_batch_sizes = [int(size) for size in bucket_batch_sizes]
    if len(bucket_batch_sizes) != len(bucket_lengths):
        raise ValueError(
            "bucket_batch_sizes needs one size per bucket length: "
            f"{len(bucket_batch_sizes)} sizes for {len(bucket_lengths)} lengths."
        )

    spec = dataset.element_spec
    is_tuple = isinstance(spec, tuple)
    features_spec = spec[0] if is_tuple else spec
    if not isinstance(features_spec, dict) or length_key not in features_spec:
        raise ValueError(
            "bucket_by_length expects unbatched feature dicts (or tuples whose "
            f"first item is one) with a {length_key!r} feature; got {spec}."
        )
    keys = [key for key in sequence_keys if key in features_spec]
    mask_shape = features_spec[length_key].shape
    if mask_shape.rank != 1 or any(features_spec[k].shape.rank < 1 for k in keys):
        raise ValueError(
            f"bucket_by_length expects unbatched examples: {length_key!r} of shape "
            f"(sequence,), got {mask_shape}. Call it before batching."
        )

    # `map` passes a tuple element as separate arguments and a dict as one.
    def trim(*element):
        features = dict(element[0])
        length = tf.math.count_nonzero(features[length_key], dtype=tf.int32)
        check = tf.debugging.assert_less_equal(
            length,
            bucket_lengths[-1],
            message=f"An example is longer than the last bucket length "
            f"{bucket_lengths[-1]}: truncate it in the preprocessor.",
        )
        with tf.control_dependencies([check]):
            length = tf.identity(length)
        for key in keys:
            features[key] = features[key][:length]
        if is_tuple:
            return (features,) + tuple(element[1:])
        return features

    def element_length(*element):
        return tf.shape(element[0][keys[0]])[0]

    # tf.data puts lengths in [b[i-1], b[i]) into bucket i and, with
    # pad_to_bucket_boundary, pads them to b[i] - 1.
    boundaries = [length + 1 for length in bucket_lengths]
    sizes = bucket_batch_sizes + [bucket_batch_sizes[-1]]
    batches = dataset.map(
        trim, num_parallel_calls=tf.data.AUTOTUNE
    ).bucket_by_sequence_length(
        element_length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=sizes,
        pad_to_bucket_boundary=True,
        drop_remainder=drop_remainder,
    )
    if drop_remainder and len(set(bucket_batch_sizes)) == 1:
        # Splitting global batches between processes (Keras on JAX,
        # tf.distribute) reads the batch size from the dataset's graph, which
        # `group_by_window` hides. Every batch holds exactly this many
        # examples, so batching the unbatched stream again makes the same
        # batches, now of a stated size.
        return batches.unbatch().batch(bucket_batch_sizes[0], drop_remainder=True)
    if not pad_to_batch_size or drop_remainder:
        return batches

    lengths_tensor = tf.constant(bucket_lengths, tf.int32)
    sizes_tensor = tf.constant(bucket_batch_sizes, tf.int32)

    def fill(*element):
        mask = element[0][length_key]
        bucket = tf.argmax(
            tf.cast(tf.equal(lengths_tensor, tf.shape(mask)[1]), tf.int32)
        )
        rows = tf.shape(mask)[0]
        missing = tf.gather(sizes_tensor, bucket) - rows

        def pad(tensor):
            paddings = [[0, missing]] + [[0, 0]] * (tensor.shape.rank - 1)
            return tf.pad(tensor, paddings)

        padded = tf.nest.map_structure(pad, element)
        if not is_tuple:
            return padded[0]
        if len(padded) == 1:  # `(x,)`: inputs only
            return padded
        # B / n for the n real rows, 0 for the padding rows (see the docstring).
        scale = tf.cast(rows + missing, tf.float32) / tf.cast(rows, tf.float32)
        row_weights = tf.pad(tf.fill([rows], scale), [[0, missing]])

        def weigh(weights):
            factor = tf.cast(row_weights, weights.dtype)
            return weights * tf.reshape(factor, [-1] + [1] * (weights.shape.rank - 1))

        if len(padded) == 3:
            return padded[:2] + (tf.nest.map_structure(weigh, padded[2]),)
        return padded[:2] + (row_weights,)

    return batches.map(fill, num_parallel_calls=tf.data.AUTOTUNE)


def num_bucketed_batches(lengths, batch_size, bucket_lengths, drop_remainder=False):
    """How many batches `bucket_by_length` makes of examples of these lengths.

    Its count does not depend on the order of the examples, so a shuffled
    dataset can declare it (`tf.data.experimental.assert_cardinality`) and
    Keras shows epoch progress and plans schedules as for any sized dataset.

    Args:
        lengths: ints, the number of real tokens of each example.
        batch_size: int. Examples per batch.
        bucket_lengths: increasing ints, as given to `bucket_by_length`.
        drop_remainder: as given to `bucket_by_length`.
    """
    buckets = np.searchsorted(np.asarray(bucket_lengths), np.asarray(lengths))
    counts = np.bincount(buckets, minlength=len(bucket_lengths))
    if drop_remainder:
        return int(np.sum(counts // batch_size))
    return int(np.sum(-(-counts // batch_size)))


def bucketed_batches(
    features,
    batch_size,
    bucket_lengths=None,
    sequence_keys=DEFAULT_SEQUENCE_KEYS,
    length_key="padding_mask",
    pad_to_batch_size=True,
):
    """Length-sorted batches of in-memory features in a few shapes, for inference.

    Examples are sorted by length and cut into batches of `batch_size` in that
    order (so each batch holds examples of similar length); each batch is
    trimmed to the smallest of `bucket_lengths` that holds its longest member.
    With `pad_to_batch_size`, the last batch is filled with all-zero rows, so
    the model sees at most `len(bucket_lengths)` shapes in all, however many
    examples come.

    Args:
        features: dict of arrays (NumPy, tf or backend tensors) of shape
            `(n, sequence, ...)` for `sequence_keys`, `(n, ...)` for the rest.
        batch_size: int. Rows per batch.
        bucket_lengths: increasing ints; the last must hold the longest example.
            Default: `bucket_lengths_for(sequence)` (8 geometric steps from 16).
        sequence_keys: the features to trim along axis 1.
        length_key: the feature whose count of non-zero entries is the length.
        pad_to_batch_size: fill the last batch with zero rows.

    Yields:
        `(rows, batch)`: `rows` the indices into `features` of the batch's real
        examples (its first `len(rows)` rows), `batch` a dict of NumPy arrays.
    """
    features = {key: np.asarray(value) for key, value in features.items()}
    mask = features[length_key]
    if bucket_lengths is None:
        bucket_lengths = bucket_lengths_for(mask.shape[1])
    bucket_lengths = tuple(int(length) for length in bucket_lengths)
    if list(bucket_lengths) != sorted(set(bucket_lengths)) or bucket_lengths[0] < 1:
        raise ValueError(
            f"bucket_lengths must be strictly increasing; got {bucket_lengths}."
        )
    lengths = np.count_nonzero(mask, axis=1)
    if lengths.size and lengths.max() > bucket_lengths[-1]:
        raise ValueError(
            f"An example has {lengths.max()} tokens, more than the last bucket "
            f"length {bucket_lengths[-1]}."
        )
    keys = [key for key in sequence_keys if key in features]
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = bucket_lengths[np.searchsorted(bucket_lengths, lengths[rows].max())]
        rows_to = batch_size if pad_to_batch_size else len(rows)
        yield rows, trimmed_batch(features, rows, width, keys, rows_to)


def trimmed_batch(features, rows, width, sequence_keys, num_rows):
    """The examples `rows` of `features` as one batch of `num_rows` rows.

    The `sequence_keys` features are cut (or zero-padded) to `width` along
    axis 1, every feature is filled with all-zero rows up to `num_rows`.
    """
    batch = {}
    for key, value in features.items():
        part = value[rows]
        if key in sequence_keys:
            part = part[:, :width]
            if part.shape[1] < width:
                pad = [(0, 0), (0, width - part.shape[1])]
                part = np.pad(part, pad + [(0, 0)] * (part.ndim - 2))
        if len(rows) < num_rows:
            pad = [(0, num_rows - len(rows))] + [(0, 0)] * (part.ndim - 1)
            part = np.pad(part, pad)
        batch[key] = part
    return batch


def plan_bucket_lengths(longest, rows_per_batch, compile_cost_tokens, compiled=()):
    """The bucket lengths under which batches of these texts run fastest.

    Under XLA each new batch length is a compile, which costs as much as
    running some number of tokens (`compile_cost_tokens`: about 1,000 for
    BERT-Base on 2 CPU cores, 10,000 for BERT-mini, 0 where shapes are not
    compiled); a batch of length `w` costs `rows_per_batch * w` tokens. The
    plan minimises the sum of both over the batches, a length in `compiled`
    costing nothing, by dynamic programming over the candidate lengths
    (each batch's longest text, and the compiled lengths), so each batch is
    trimmed to the smallest planned length that holds it.

    Args:
        longest: ints, the longest text of each batch.
        rows_per_batch: int. Rows in each batch.
        compile_cost_tokens: float, one compile in tokens of running time.
        compiled: lengths compiled already.

    Returns:
        A sorted tuple of lengths, the last holding `max(longest)`.
    """
    if not len(longest):
        return ()
    longest = np.sort(np.asarray(longest))
    compiled = {int(width) for width in compiled if width >= longest[0]}
    candidates = sorted({int(width) for width in longest} | compiled)
    # covered[k]: the batches whose longest text fits candidates[k].
    covered = np.searchsorted(longest, candidates, side="right")
    best = []  # best[k]: (cost of covering covered[k] batches ending at k, previous k)
    for k, width in enumerate(candidates):
        cost = 0.0 if width in compiled else float(compile_cost_tokens)
        options = [(rows_per_batch * width * covered[k], None)]
        for previous in range(k):
            batches = covered[k] - covered[previous]
            options.append(
                (best[previous][0] + rows_per_batch * width * batches, previous)
            )
        total, previous = min(options, key=lambda option: option[0])
        best.append((total + cost, previous))
    fits = [k for k, width in enumerate(candidates) if width >= longest[-1]]
    k = min(fits, key=lambda k: best[k][0])
    plan = []
    while k is not None:
        plan.append(candidates[k])
        k = best[k][1]
    return tuple(sorted(plan))
