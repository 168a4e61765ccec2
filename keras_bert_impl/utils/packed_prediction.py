"""`predict` on short in-memory texts: several texts packed into one row.

A batch of short texts is mostly padding even when sorted by length, and its
matmuls are small. `PackedRows` places the tokenized texts one after another
in rows as long as the preprocessor's sequence (at most `MAX_ROW_LENGTH`
unless a text is longer): the padding all but disappears, a batch of
`batch_size` rows holds several times as many texts, and under XLA every
batch of a call has one shape (one compile instead of one per length). The
model sees each text alone: a task's packed predictor
(`BertClassifier.packed_predictor`, on `BertBackbone.packed_pooled_output`)
restarts positions at every text and lets its tokens attend only to
themselves, so the outputs are those of the texts one by one.

Rows are filled best-fit decreasing (longest text first, into the row with
the least room that still fits it), which leaves at most a few percent of a
row empty on real sentences. Packing pays when rows hold several texts
(its cost is attention over whole rows): `PackedRows.pays` asks for
`MIN_TEXTS_PER_ROW` on average, fewer under XLA, where the alternative pads
more and compiles every length. Measured on SST-2 dev texts joined by two
and by three (2.6 and 1.6 texts to a row of 128; 2-core AMX Xeon, 3 calls
each): TF BERT-Base packed 10.7-11.2 s against sorted 10.8-11.3 s at 2.6,
11.6-11.8 against 10.5-11.2 s at 1.6; JAX BERT-Base 13.1-13.3 against
14.0-15.8 s and 14.2-14.4 against 15.7-16.4 s; BERT-mini packed as fast or
faster at both on both backends. SST-2 dev itself packs 5 to a row.

    rows = PackedRows(features, batch_size=32, fixed_shapes=True)
    if rows.pays:
        for step in rows.steps(predictor.predict_on_batch):
            step()
        outputs = rows.outputs()            # (texts, ...) in input order
"""

import bisect
import functools

import keras
import numpy as np

PACKABLE_KEYS = ("token_ids", "segment_ids", "padding_mask")
MAX_ROW_LENGTH = 128
MIN_TEXTS_PER_ROW = 3
MIN_TEXTS_PER_ROW_UNDER_XLA = 1.5


def pack_rows(lengths, row_length):
    """Assigns texts to rows, best-fit decreasing.

    Args:
        lengths: int array `(texts,)`, tokens of each text (each at most
            `row_length`).
        row_length: int. Tokens a row holds.

    Returns:
        `(row, offset, slot)`, int arrays `(texts,)`: each text's row, the
        position of its first token there and its number in the row (0, 1,
        ...).
    """
    lengths = np.asarray(lengths, np.int64)
    row = np.zeros(len(lengths), np.int64)
    offset = np.zeros(len(lengths), np.int64)
    slot = np.zeros(len(lengths), np.int64)
    fill, count = [], []
    rows_by_room = {}  # room left -> rows with exactly that room
    rooms = []  # the sorted keys of rows_by_room
    for index in np.argsort(-lengths, kind="stable").tolist():
        length = int(lengths[index])
        at = bisect.bisect_left(rooms, length)
        if at < len(rooms):
            room = rooms[at]
            target = rows_by_room[room].pop()
            if not rows_by_room[room]:
                del rows_by_room[room]
                rooms.pop(at)
        else:
            target = len(fill)
            fill.append(0)
            count.append(0)
        row[index], offset[index], slot[index] = target, fill[target], count[target]
        fill[target] += length
        count[target] += 1
        room = row_length - fill[target]
        if room > 0:
            if room not in rows_by_room:
                bisect.insort(rooms, room)
            rows_by_room.setdefault(room, []).append(target)
    return row, offset, slot


class PackedRows:
    """In-memory features packed several texts to a row, and their outputs.

    Args:
        features: dict of NumPy arrays `token_ids`, `segment_ids`,
            `padding_mask` `(texts, sequence_length)`, texts left-aligned.
        batch_size: int. Rows per batch.
        fixed_shapes: bool. Whether every new batch shape is a compile (XLA):
            then all batches of the call share one shape (the rows spread
            evenly over the batches, the last batch filled with empty rows,
            the instance axis rounded up to a power of two); else each batch
            is cut to its own fullest row and most texts in a row.
    """

    def __init__(self, features, batch_size, fixed_shapes):
        mask = features["padding_mask"]
        self.lengths = np.count_nonzero(mask, axis=1)
        self.features = features
        self.fixed_shapes = fixed_shapes
        longest = int(self.lengths.max()) if len(self.lengths) else 0
        self.row_length = max(min(mask.shape[1], MAX_ROW_LENGTH), longest)
        self.row, self.offset, self.slot = pack_rows(self.lengths, self.row_length)
        num_rows = int(self.row.max()) + 1 if len(self.row) else 0
        # The texts of rows a..b-1: texts_by_row[row_starts[a]:row_starts[b]].
        self.texts_by_row = np.argsort(self.row, kind="stable")
        self.row_starts = np.searchsorted(
            self.row[self.texts_by_row], np.arange(num_rows + 1)
        )
        # Under XLA, texts per row rounded up to a power of two: few shapes
        # across calls.
        self.fixed_slots = 1 << int(self.slot.max()).bit_length() if num_rows else 1
        num_batches = -(-num_rows // batch_size)
        self.rows_per_batch = -(-num_rows // num_batches) if num_batches else 0
        self.num_rows = num_rows
        self.num_batches = num_batches
        self.results = []  # (texts, flat outputs) per batch
        self.structure = None

    @property
    def pays(self):
        """Whether rows hold enough texts on average to be worth packing."""
        least = MIN_TEXTS_PER_ROW_UNDER_XLA if self.fixed_shapes else MIN_TEXTS_PER_ROW
        return len(self.lengths) >= least * max(self.num_rows, 1)

    def _packed(self, first_row, last_row):
        """The batch of rows `first_row..last_row - 1` and the texts it holds."""
        texts = self.texts_by_row[
            self.row_starts[first_row] : self.row_starts[last_row]
        ]
        rows = self.row[texts] - first_row
        if self.fixed_shapes:
            num_rows, length = self.rows_per_batch, self.row_length
            slots = self.fixed_slots
        else:
            num_rows = last_row - first_row
            length = int((self.offset[texts] + self.lengths[texts]).max())
            slots = int(self.slot[texts].max()) + 1
        # Every token of every text, as (text, position in the text).
        text_of_token = np.repeat(texts, self.lengths[texts])
        starts = np.cumsum(self.lengths[texts]) - self.lengths[texts]
        position = np.arange(len(text_of_token)) - np.repeat(
            starts, self.lengths[texts]
        )
        row_of_token = self.row[text_of_token] - first_row
        column = self.offset[text_of_token] + position
        batch = {}
        for key in ("token_ids", "segment_ids"):
            packed = np.zeros((num_rows, length), self.features[key].dtype)
            packed[row_of_token, column] = self.features[key][text_of_token, position]
            batch[key] = packed
        padding_mask = np.zeros((num_rows, length), self.features["padding_mask"].dtype)
        padding_mask[row_of_token, column] = self.slot[text_of_token] + 1
        batch["padding_mask"] = padding_mask
        first_tokens = np.zeros((num_rows, slots), "int32")
        first_tokens[rows, self.slot[texts]] = self.offset[texts]
        batch["first_token_positions"] = first_tokens
        return texts, batch

    def example_batch(self):
        """A batch of one row, as the batches `steps` feeds (keys and dtypes)."""
        return self._packed(0, 1)[1]

    def steps(self, predict_on_batch):
        """One callable per batch: runs `predict_on_batch` and keeps its outputs."""
        for index in range(self.num_batches):
            first = index * self.rows_per_batch
            last = min(first + self.rows_per_batch, self.num_rows)
            yield functools.partial(self._run, first, last, predict_on_batch)

    def _run(self, first_row, last_row, predict_on_batch):
        texts, batch = self._packed(first_row, last_row)
        outputs = predict_on_batch(batch)
        self.structure = outputs
        rows, slots = self.row[texts] - first_row, self.slot[texts]
        flat = [
            np.asarray(output)[rows, slots] for output in keras.tree.flatten(outputs)
        ]
        self.results.append((texts, flat))
        return outputs

    def outputs(self):
        """Every text's outputs `(texts, ...)`, in input order."""
        results = None
        for texts, flat in self.results:
            if results is None:
                results = [
                    np.zeros((len(self.lengths),) + output.shape[1:], output.dtype)
                    for output in flat
                ]
            for result, output in zip(results, flat):
                result[texts] = output
        return keras.tree.pack_sequence_as(self.structure, results)
