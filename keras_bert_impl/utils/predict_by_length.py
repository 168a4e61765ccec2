"""Batches for `predict` on in-memory texts: sorted by length, few padded tokens.

`PipelineModel.predict(strings)` tokenizes every text first, so all lengths
are known before the model runs. `LengthPlanner` sorts the texts by length,
cuts them into batches and trims each batch to a length chosen by
`plan_bucket_lengths`: where a new length costs nothing (TF without XLA,
whose predict function takes any sequence length after two traces) every
batch gets its own longest text; under XLA (JAX, TF `jit_compile`) a new
length is a compile, so a length is added only where the padding it saves
costs more than its compile. What a compile costs is measured, not guessed:
the first two batches (the longest texts) run at one length, the first
compiling and the second not, and the difference is kept for as long as the
model's predict function lives, with the lengths it has compiled, so a
second `predict` reuses them. A compile serves every later call too, so the
k-th call on a predict function counts it at 1/k of its cost (the rule of
ski rental: expect as many calls to come as have been): one call pads as
the compile cost demands, and repeated calls (an evaluation every epoch, a
serving loop) add lengths until each batch runs near its own longest text.

    planner = LengthPlanner(model.predict_function, features["padding_mask"], 32,
                            compiles=True)
    for rows, length, batch in planner.batches(features):
        planner.record(rows, length, batch, model.predict_on_batch)
    outputs = planner.outputs(model.outputs)      # in input order
"""

import bisect
import time
import weakref

import keras
import numpy as np

from keras_bert_impl.utils.length_bucketing import DEFAULT_SEQUENCE_KEYS
from keras_bert_impl.utils.length_bucketing import bucket_lengths_for
from keras_bert_impl.utils.length_bucketing import plan_bucket_lengths
from keras_bert_impl.utils.length_bucketing import trimmed_batch


def trace_for_every_shape(predict_function, features):
    """Traces a TF predict function once for batches of any rows and length.

    Keras' TF predict function (`tf.function(reduce_retracing=True)`) traces
    the model for the first batch's shape, then again, generalized, at the
    second: two traces of the whole model on a first `predict`. Traced here
    first with the batch and sequence axes unknown, it serves every batch
    (`tf.function` runs a call on the most specific traced signature that
    accepts it) and traces no more. `features`: a dict of arrays with the
    keys and dtypes of the batches; the last axis of a 2-D array is unknown
    too (the sequence, or the texts of a packed row).
    """
    import tensorflow as tf

    def relaxed(key, array):
        shape = [None] + list(array.shape[1:])
        if key in DEFAULT_SEQUENCE_KEYS or array.ndim == 2:
            shape[-1] = None
        return tf.TensorSpec(shape, array.dtype)

    specs = {key: relaxed(key, array) for key, array in features.items()}
    predict_function.get_concrete_function([(specs,)])


class _CompileRecord:
    """What one predict function has compiled and what a compile costs it."""

    def __init__(self):
        self.first_seconds = {}  # (rows, length): seconds of the compiling call
        self.cost_tokens = None  # one compile, in tokens of running time
        self.calls = 0  # planned predict calls, this one included


# Keyed by the predict function: a recompiled model gets a new record.
_RECORDS = weakref.WeakKeyDictionary()


class LengthPlanner:
    """Length-sorted batches of in-memory features and their outputs in input order.

    Args:
        predict_function: the model's `predict_function` (the key its
            compiled lengths and compile cost are remembered under).
        padding_mask: array `(examples, sequence_length)`, ones on real tokens.
        batch_size: int. Rows per batch.
        compiles: whether every new batch shape is a compile (XLA).
    """

    def __init__(self, predict_function, padding_mask, batch_size, compiles):
        self.lengths = np.count_nonzero(padding_mask, axis=1)
        self.sequence_length = padding_mask.shape[1]
        self.batch_size = batch_size
        self.compiles = compiles
        order = np.argsort(self.lengths, kind="stable")[::-1]
        # Longest first: its length holds every batch while a compile is
        # measured. The partial batch comes first too: TF's predict function
        # then generalizes both axes at its second trace, and no third follows.
        cuts = range(len(order) % batch_size or batch_size, len(order), batch_size)
        self.rows = np.split(order, cuts) if len(order) else []
        self.record_of_function = _RECORDS.setdefault(
            predict_function, _CompileRecord()
        )
        self.record_of_function.calls += 1
        self.plan = None
        self.results = []  # (rows, length, flat outputs) per batch
        self.structure = None

    @property
    def num_batches(self):
        return len(self.rows)

    def _longest(self, index):
        return int(self.lengths[self.rows[index]].max())

    def _length_of(self, index):
        record = self.record_of_function
        cost = record.cost_tokens if self.compiles else 0.0
        if self.plan is None and cost is not None:
            cost /= record.calls
            compiled = {length for rows, length in record.first_seconds}
            self.plan = plan_bucket_lengths(
                [self._longest(i) for i in range(index, self.num_batches)],
                self.batch_size,
                cost,
                compiled if self.compiles else (),
            )
        if self.plan is None:
            return self._longest(0)
        return self.plan[bisect.bisect_left(self.plan, self._longest(index))]

    def batches(self, features):
        """Yields `(rows, length, batch)`, longest texts first.

        `rows` are the indices of the batch's real examples (its first
        `len(rows)` rows), `length` its sequence length, `batch` a dict of
        NumPy arrays. Under XLA every batch has `batch_size` rows (the last
        filled with all-zero rows), so the batch axis adds no shapes.
        """
        keys = [key for key in DEFAULT_SEQUENCE_KEYS if key in features]
        for index, rows in enumerate(self.rows):
            length = self._length_of(index)
            num_rows = self.batch_size if self.compiles else len(rows)
            yield rows, length, trimmed_batch(features, rows, length, keys, num_rows)

    def record(self, rows, length, batch, predict_on_batch):
        """Runs `predict_on_batch` on a batch `batches` yielded; keeps its outputs.

        Under XLA the call is timed: the second call at a compiled shape
        gives the compile's cost, which plans the lengths of the rest.
        """
        start = time.perf_counter()
        outputs = predict_on_batch(batch)
        seconds = time.perf_counter() - start
        if self.compiles:
            record = self.record_of_function
            shape = (len(batch["padding_mask"]), length)
            if shape not in record.first_seconds:
                record.first_seconds[shape] = seconds
            elif record.cost_tokens is None:
                compile_seconds = max(record.first_seconds[shape] - seconds, 0.0)
                record.cost_tokens = compile_seconds * shape[0] * shape[1] / seconds
        self._keep(rows, length, outputs, 0)
        return outputs

    def predict_per_length(self, features, predict):
        """For distributed models: one `predict` call per `bucket_lengths_for` length.

        A strategy or distribution splits each call's batches between
        devices; outputs are kept as `record` keeps them.
        """
        bucket_lengths = bucket_lengths_for(self.sequence_length)
        by_length = {}
        for index, rows in enumerate(self.rows):
            position = bisect.bisect_left(bucket_lengths, self._longest(index))
            by_length.setdefault(bucket_lengths[position], []).append(rows)
        keys = [key for key in DEFAULT_SEQUENCE_KEYS if key in features]
        for length, groups in by_length.items():
            batches = [
                trimmed_batch(features, rows, length, keys, self.batch_size)
                for rows in groups
            ]
            outputs = predict(
                {key: np.concatenate([b[key] for b in batches]) for key in features}
            )
            for index, rows in enumerate(groups):
                self._keep(rows, length, outputs, index * self.batch_size)

    def _keep(self, rows, length, outputs, start):
        self.structure = outputs
        flat = [
            np.asarray(output)[start : start + len(rows)]
            for output in keras.tree.flatten(outputs)
        ]
        self.results.append((rows, length, flat))

    def outputs(self, model_outputs):
        """Every example's outputs in input order, like `keras.Model.predict`.

        An output whose second axis is unknown in the model (`model_outputs`,
        its symbolic outputs) follows the text: it is padded back to the
        preprocessor's `sequence_length` with zeros past each text's end.
        """
        follows_text = [
            len(output.shape) > 1 and output.shape[1] is None
            for output in keras.tree.flatten(model_outputs)
        ]
        results = None
        for rows, length, flat in self.results:
            if results is None:
                results = [
                    np.zeros(
                        (len(self.lengths),)
                        + ((self.sequence_length,) if text_axis else ())
                        + output.shape[1 + text_axis :],
                        output.dtype,
                    )
                    for output, text_axis in zip(flat, follows_text)
                ]
            for result, output, text_axis in zip(results, flat, follows_text):
                if text_axis:
                    result[rows, :length] = output
                else:
                    result[rows] = output
        past_end = np.arange(self.sequence_length) >= self.lengths[:, None]
        for result, text_axis in zip(results, follows_text):
            if text_axis:
                result[past_end] = 0
        return keras.tree.pack_sequence_as(self.structure, results)
