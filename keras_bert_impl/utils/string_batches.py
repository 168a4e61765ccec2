"""Raw strings as the batched dataset `fit` and `evaluate` hand to Keras.

`PipelineModel` turns in-memory strings (or a dataset of them) into batches of
the model's features: tokenized once, eagerly, before `tf.data` starts when
they fit in memory padded (`EAGER_TOKEN_SLOTS`), else inside `tf.data`; and
batched by length (`length_bucketing`), each batch padded only to the smallest
of a few lengths that holds its longest member.
"""

from contextlib import nullcontext

import keras
import numpy as np
import tensorflow as tf

from keras_bert_impl.utils.in_memory_preprocessing import featurized_eagerly
from keras_bert_impl.utils.length_bucketing import bucket_by_length
from keras_bert_impl.utils.length_bucketing import bucket_lengths_for
from keras_bert_impl.utils.length_bucketing import compiled_bucket_lengths
from keras_bert_impl.utils.length_bucketing import num_bucketed_batches
from keras_bert_impl.utils.printable_ascii import printable_ascii_tracing
from keras_bert_impl.utils.raw_inputs import bucketable_length
from keras_bert_impl.utils.raw_inputs import is_dataset
from keras_bert_impl.utils.raw_inputs import num_raw_examples
from keras_bert_impl.utils.raw_inputs import spec_of

# In-memory data of up to this many token slots (examples x sequence_length)
# is tokenized before `tf.data` starts: its padded int32 features (three of
# them) then take at most 200 MB. SST-2's 67,349 texts at 128 fit.
EAGER_TOKEN_SLOTS = 2**24


def preprocessed_batches(
    model, x, y, sample_weight, batch_size, shuffle, by_length, pad_partial_batches
):
    """A dataset of `model`'s preprocessed `(x, y, sample_weight)` batches.

    In-memory strings are tokenized and, with `by_length`, batched by length
    (`bucket_by_length`, which reorders them): each batch is padded only to
    the smallest of a few lengths that holds its longest member, not to the
    preprocessor's `sequence_length`, so short texts cost little and the
    model still sees a bounded number of shapes. With `pad_partial_batches`,
    each bucket's last batch is filled with zero-weight rows
    (`bucket_by_length(..., pad_to_batch_size=True)`). Up to
    `EAGER_TOKEN_SLOTS` they are tokenized once, eagerly, before `tf.data`
    starts (`featurized_eagerly`); larger data streams through the
    preprocessor in `tf.data`. A dataset the caller batched keeps its batches.
    """
    if is_dataset(x):
        if y is not None or sample_weight is not None:
            raise ValueError("With a dataset `x`, put labels and weights in it.")
        x = x.map(model._preprocess_element, num_parallel_calls=tf.data.AUTOTUNE)
        return x.prefetch(tf.data.AUTOTUNE)
    data = keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
    features = featurized(model, data)
    if features is None:
        return _streamed(
            model, data, batch_size, shuffle, by_length, pad_partial_batches
        )
    examples = tf.data.Dataset.from_tensor_slices(features)
    if shuffle:
        examples = examples.shuffle(len(examples), reshuffle_each_iteration=True)
    sequence_length = bucketable_length(keras.tree.map_structure(spec_of, features))
    if by_length and sequence_length:
        lengths = np.count_nonzero(features[0]["padding_mask"], axis=1)
        batches = _bucketed(
            model, examples, lengths, batch_size, sequence_length, pad_partial_batches
        )
    else:
        batches = examples.batch(batch_size)
    # The features are computed already: tf.data's autotuning has nothing
    # to tune, and its thread held up the iterator's deletion at the end
    # of an epoch (BERT-mini, 1,024 texts, JAX: 4 of 5 `fit` calls 21.7 s
    # instead of 12.4 s, 8-9 s after the last step; TF up to 1.2 s).
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.with_options(options).prefetch(2)


def _streamed(model, data, batch_size, shuffle, by_length, pad_partial_batches):
    """`preprocessed_batches` with the preprocessor inside `tf.data`."""
    examples = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        examples = examples.shuffle(len(examples), reshuffle_each_iteration=True)
    # tf.data traces the preprocessor here, once.
    with printable_ascii_tracing(model.preprocessor, data[0]) or nullcontext():
        batches = examples.batch(batch_size).map(
            model._preprocess_element, num_parallel_calls=tf.data.AUTOTUNE
        )
    sequence_length = bucketable_length(batches.element_spec)
    if by_length and sequence_length:
        # One tokenizing pass for the lengths.
        masks = batches.map(lambda *element: element[0]["padding_mask"])
        lengths = np.concatenate([np.count_nonzero(m, axis=1) for m in masks])
        batches = _bucketed(
            model,
            batches.unbatch(),
            lengths,
            batch_size,
            sequence_length,
            pad_partial_batches,
        )
    return batches.prefetch(tf.data.AUTOTUNE)


def featurized(model, data):
    """In-memory `(x, y, sample_weight)` featurized as NumPy, or None.

    None when the data is too large to hold padded in memory (more than
    `EAGER_TOKEN_SLOTS` sequences times `sequence_length`), the preprocessor
    has no `sequence_length`, or its features are ragged.
    """
    sequence_length = getattr(model.preprocessor, "sequence_length", None)
    if not sequence_length:
        return None
    # A multiple-choice example is `num_choices` sequences.
    rows = num_raw_examples(data[0]) * getattr(model, "num_choices", 1)
    if rows * sequence_length > EAGER_TOKEN_SLOTS:
        return None
    return featurized_eagerly(model._preprocess_element, data, model.preprocessor)


def _bucketed(model, examples, lengths, batch_size, sequence_length, pad):
    """Unbatched preprocessed `examples` batched by length; `lengths` theirs.

    The number of batches does not depend on the order: the dataset declares
    it, so Keras shows progress and plans schedules as usual.
    """
    if model.jit_compile:  # one XLA compile per length: few for little data
        bucket_lengths = compiled_bucket_lengths(lengths, batch_size, sequence_length)
    else:
        bucket_lengths = bucket_lengths_for(sequence_length)
    num_batches = num_bucketed_batches(lengths, batch_size, bucket_lengths)
    batches = bucket_by_length(
        examples, batch_size, bucket_lengths, pad_to_batch_size=pad
    )
    return batches.apply(tf.data.experimental.assert_cardinality(num_batches))
