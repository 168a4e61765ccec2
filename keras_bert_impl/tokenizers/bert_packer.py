import keras
import tensorflow as tf

from keras_bert_impl.tokenizers import _preprocessing_utils as utils
from keras_bert_impl.tokenizers._preprocessing_utils import (
    no_autograph as _no_autograph,
)

TRUNCATION_STRATEGIES = ("longest_first", "waterfall")


def truncation_lengths(length_a, length_b, budget, truncate):
    """How many tokens of each segment to keep (int tensors, elementwise).

    "longest_first" removes tokens from the end of the longer segment, one at
    a time, the second segment when both are equally long (Google's
    `_truncate_seq_pair`; Hugging Face's `truncation="longest_first"`, whose
    closed form this is). "waterfall" fills the budget left to right: the
    first segment keeps as much as fits, the second gets the rest.
    """
    if truncate == "waterfall":
        keep_a = tf.minimum(length_a, budget)
        return keep_a, tf.minimum(length_b, budget - keep_a)
    remove = tf.maximum(length_a + length_b - budget, 0)
    first = tf.minimum(tf.abs(length_b - length_a), remove)
    second = remove - first
    a_longer = length_a > length_b
    remove_a = tf.where(a_longer, first + second // 2, second // 2)
    remove_b = remove - remove_a
    return length_a - remove_a, length_b - remove_b


def _head(ragged, lengths):
    """The first `lengths[i]` values of each row of a ragged `[batch, (n)]`."""
    values = ragged.values
    rows = ragged.value_rowids()
    local = tf.range(tf.shape(values, out_type=rows.dtype)[0]) - tf.gather(
        ragged.row_splits, rows
    )
    keep = local < tf.gather(tf.cast(lengths, rows.dtype), rows)
    return tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(values, keep), tf.cast(lengths, rows.dtype), validate=False
    )


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPacker(keras.layers.Layer):
    """Packs token ids into BERT's fixed-length inputs, truncating as BERT does.

    One segment becomes `[CLS] A [SEP]`, two become `[CLS] A [SEP] B [SEP]`,
    padded with `pad_token_id` to `sequence_length`. Segment ids are 0 up to
    and including the first `[SEP]` and 1 after it (0 on padding); the
    padding mask is 1 on real tokens. Too-long inputs are truncated from the
    end, with `truncate="longest_first"` (the original BERT and Hugging
    Face's `tokenizer(a, b, truncation=True, max_length=sequence_length)`:
    tokens removed from the longer segment one at a time, from the second
    when both are equally long) or `truncate="waterfall"` (the first segment
    keeps as many tokens as fit, the second gets what is left).

    Pure ragged tf ops: works eagerly (lists of ids in, backend tensors out),
    in `tf.data` and in an exported SavedModel.

    Args:
        sequence_length: the fixed output length.
        cls_token_id: id of `[CLS]`.
        sep_token_id: id of `[SEP]`.
        pad_token_id: id of `[PAD]`.
        truncate: "longest_first" or "waterfall".

    Example:
    >>> packer = BertPacker(8, cls_token_id=101, sep_token_id=102)
    >>> out = packer(([[1, 2, 3, 4, 5]], [[6, 7, 8]]))
    >>> keras.ops.convert_to_numpy(out["token_ids"]).tolist()
    [[101, 1, 2, 3, 102, 6, 7, 102]]
    >>> keras.ops.convert_to_numpy(out["segment_ids"]).tolist()
    [[0, 0, 0, 0, 0, 1, 1, 1]]
    """

    def __init__(
        self,
        sequence_length,
        cls_token_id,
        sep_token_id,
        pad_token_id=0,
        truncate="longest_first",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True
        if truncate not in TRUNCATION_STRATEGIES:
            raise ValueError(
                f"`truncate` must be one of {TRUNCATION_STRATEGIES}. "
                f"Received: {truncate!r}"
            )
        if int(sequence_length) < 3:
            raise ValueError(
                "`sequence_length` must be at least 3 ([CLS] and two [SEP]). "
                f"Received: {sequence_length}"
            )
        self.sequence_length = int(sequence_length)
        self.cls_token_id = int(cls_token_id)
        self.sep_token_id = int(sep_token_id)
        self.pad_token_id = int(pad_token_id)
        self.truncate = truncate

    @_no_autograph
    def _pack_tf(self, segments):
        """`segments`: 1 or 2 int `tf.RaggedTensor`s `[batch, (tokens)]`."""
        first = tf.cast(segments[0], tf.int32)
        batch = first.nrows()
        length_a = first.row_lengths()
        cls = tf.RaggedTensor.from_tensor(
            tf.fill(tf.stack([batch, 1]), self.cls_token_id)
        )
        sep = tf.RaggedTensor.from_tensor(
            tf.fill(tf.stack([batch, 1]), self.sep_token_id)
        )
        if len(segments) == 1:
            first = _head(first, tf.minimum(length_a, self.sequence_length - 2))
            token_ids = tf.concat([cls, first, sep], axis=1)
            segment_ids = tf.zeros_like(token_ids)
        else:
            second = tf.cast(segments[1], tf.int32)
            keep_a, keep_b = truncation_lengths(
                length_a,
                second.row_lengths(),
                self.sequence_length - 3,
                self.truncate,
            )
            first = _head(first, keep_a)
            second = _head(second, keep_b)
            part_a = tf.concat([cls, first, sep], axis=1)
            part_b = tf.concat([second, sep], axis=1)
            token_ids = tf.concat([part_a, part_b], axis=1)
            segment_ids = tf.concat(
                [tf.zeros_like(part_a), tf.ones_like(part_b)], axis=1
            )
        shape = tf.stack([batch, self.sequence_length])
        return {
            "token_ids": token_ids.to_tensor(
                default_value=self.pad_token_id, shape=shape
            ),
            "segment_ids": segment_ids.to_tensor(default_value=0, shape=shape),
            "padding_mask": tf.ones_like(token_ids).to_tensor(
                default_value=0, shape=shape
            ),
        }

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(utils.convert_call_inputs(inputs), *args, **kwargs)

    @_no_autograph
    def call(self, inputs):
        """Packs `inputs`: a batch of token ids, or a tuple of two batches.

        A batch is a `tf.RaggedTensor`/dense tensor `[batch, (tokens)]`, a
        list of lists, or one example (a 1-D tensor / list of ids). As in
        keras-hub, a tuple enumerates segments and a list enumerates examples.
        """
        if isinstance(inputs, tuple):
            segments = list(inputs)
        else:
            segments = [inputs]
        if len(segments) > 2:
            raise ValueError(
                f"BertPacker packs one or two segments. Received {len(segments)}."
            )
        converted = []
        unbatched = None
        for segment in segments:
            if not utils.in_tf_graph():
                segment = utils.to_tf(segment)
            if not isinstance(segment, tf.RaggedTensor):
                segment = tf.convert_to_tensor(segment)
                rank = segment.shape.rank
                if rank == 1:
                    segment = segment[tf.newaxis]
                segment = tf.RaggedTensor.from_tensor(segment)
                is_unbatched = rank == 1
            else:
                is_unbatched = False
            unbatched = is_unbatched if unbatched is None else unbatched
            converted.append(segment)
        with tf.device("cpu"):
            outputs = self._pack_tf(converted)
            if unbatched:
                outputs = {k: v[0] for k, v in outputs.items()}
        if utils.converting():
            outputs = utils.to_output(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "cls_token_id": self.cls_token_id,
                "sep_token_id": self.sep_token_id,
                "pad_token_id": self.pad_token_id,
                "truncate": self.truncate,
            }
        )
        return config
