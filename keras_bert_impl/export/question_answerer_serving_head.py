"""Serving a `BertQuestionAnswerer`: SQuAD's answer over every window of a context."""

import keras
import numpy as np
import tensorflow as tf
from tensorflow.experimental import numpy as tnp

from keras_bert_impl.export.serving_head import ServingHead
from keras_bert_impl.export.serving_head import as_float32
from keras_bert_impl.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_impl.utils.document_windows import PAIR_SPECIAL_TOKENS
from keras_bert_impl.utils.document_windows import context_score
from keras_bert_impl.utils.document_windows import first_best
from keras_bert_impl.utils.document_windows import max_window_overlap
from keras_bert_impl.utils.document_windows import pair_window_offset
from keras_bert_impl.utils.document_windows import pair_window_size
from keras_bert_impl.utils.document_windows import window_count
from keras_bert_impl.utils.document_windows import window_span


class QuestionAnswererServingHead(ServingHead):
    """Questions and contexts in; the best answer span over the context's windows out.

    The windows, and the window in which each piece counts, are
    `SquadFeaturizer`'s: both follow `keras_bert_impl.utils.document_windows`.
    `export_saved_model` documents the outputs.

    Args:
        model: `BertQuestionAnswerer`.
        doc_stride: int, pieces between the starts of a context's windows.
        max_query_length: int, longest question, in pieces.
        max_answer_length: int, longest answer, in pieces.
        null_score_diff_threshold: None, or a float for SQuAD v2.0 models.
    """

    model_class = BertQuestionAnswerer
    text_inputs = ("question", "context")

    def __init__(
        self,
        model,
        doc_stride=128,
        max_query_length=64,
        max_answer_length=30,
        null_score_diff_threshold=None,
        **unused,
    ):
        super().__init__(model)
        if int(doc_stride) < 1:
            raise ValueError(f"`doc_stride` must be >= 1: {doc_stride}")
        if int(max_answer_length) < 1:
            raise ValueError(f"`max_answer_length` must be >= 1: {max_answer_length}")
        self.doc_stride = int(doc_stride)
        self.max_query_length = int(max_query_length)
        self.max_answer_length = int(max_answer_length)
        self.null_score_diff_threshold = null_score_diff_threshold

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        ops = keras.ops
        outputs = self.call_model(token_ids, segment_ids, padding_mask)
        start_logits = as_float32(outputs["start_logits"])
        end_logits = as_float32(outputs["end_logits"])
        # The context: segment 1 without its closing [SEP] (the last token).
        length = ops.shape(token_ids)[1]
        positions = ops.arange(length, dtype="int32")
        last = ops.sum(ops.cast(padding_mask, "int32"), axis=1, keepdims=True) - 1
        context = (
            ops.equal(segment_ids, 1)
            & ops.equal(padding_mask, 1)
            & ops.not_equal(positions[None, :], last)
        )
        span_ok = ops.greater_equal(positions[None, :], positions[:, None]) & ops.less(
            positions[None, :] - positions[:, None], self.max_answer_length
        )
        valid = span_ok[None] & context[:, :, None] & context[:, None, :]
        scores = start_logits[:, :, None] + end_logits[:, None, :]
        scores = ops.where(valid, scores, float("-inf"))
        # Per start token its best span, then the best start: the string
        # signature re-runs the second step over the windows of a context.
        has_span = ops.any(valid, axis=2)
        span_scores = ops.max(scores, axis=2)
        span_end_tokens = ops.where(
            has_span, ops.cast(ops.argmax(scores, axis=2), "int32"), -1
        )
        start_token = ops.cast(ops.argmax(span_scores, axis=1), "int32")
        end_token = ops.take_along_axis(span_end_tokens, start_token[:, None], axis=1)
        score = ops.max(span_scores, axis=1)
        has_answer = ops.any(has_span, axis=1)
        if self.null_score_diff_threshold is not None:
            null_score = start_logits[:, 0] + end_logits[:, 0]
            has_answer = has_answer & ops.logical_not(
                ops.greater(null_score - score, float(self.null_score_diff_threshold))
            )
        none = ops.full_like(start_token, -1)
        return {
            "start_logits": start_logits,
            "end_logits": end_logits,
            "start_token": ops.where(has_answer, start_token, none),
            "end_token": ops.where(has_answer, end_token[:, 0], none),
            "score": ops.where(has_answer, score, ops.zeros_like(score)),
            "span_end_tokens": span_end_tokens,
            "span_scores": span_scores,
        }

    def string_outputs(self, question, context):
        preprocessor = self.preprocessor
        sequence_length = preprocessor.sequence_length
        tokenizer = preprocessor.tokenizer
        batch_size = tf.shape(question)[0]
        query = tokenizer.tokenize(question)
        document, starts, ends = tokenizer.tokenize_with_offsets(context, unit="char")
        # Questions leave at least one place for a context piece.
        longest_query = sequence_length - PAIR_SPECIAL_TOKENS - 1
        query_length = tf.minimum(
            tf.cast(query.row_lengths(), tf.int32),
            min(self.max_query_length, longest_query),
        )
        query = _first_values(query, query_length)
        windows = question_context_windows(
            query_length,
            tf.cast(document.row_lengths(), tf.int32),
            sequence_length,
            self.doc_stride,
        )
        example = windows["example"]
        document_start = tf.cast(document.row_starts(), tf.int32)
        first_piece = tf.gather(document_start, example) + windows["start"]
        window_pieces = tf.gather(
            document.flat_values,
            tf.ragged.range(first_piece, first_piece + windows["length"]),
        )
        inputs = preprocessor.packer((tf.gather(query, example), window_pieces))
        outputs = self.run_token_ids_fn(inputs)

        # run_squad.py's candidates: spans starting where their window gives
        # the start piece its most context; the best one over the windows
        # (the first window on ties, as its stable sort). Positions that
        # start none score the lowest float: what `unsorted_segment_max`
        # gives a group of them (not -inf).
        no_span = tf.float32.min
        candidate = windows["has_max_context"] & (outputs["span_end_tokens"] >= 0)
        span_scores = tf.where(candidate, outputs["span_scores"], no_span)
        window_score = tf.reduce_max(span_scores, axis=1)
        score = tf.math.unsorted_segment_max(window_score, example, batch_size)
        is_best = tf.equal(window_score, tf.gather(score, example))
        window_ids = tf.range(tf.shape(example)[0])
        window = tf.math.unsorted_segment_min(
            tf.where(is_best, window_ids, tf.shape(example)[0]), example, batch_size
        )
        start_token = tf.gather(
            tf.argmax(span_scores, axis=1, output_type=tf.int32), window
        )
        end_token = tf.gather_nd(
            outputs["span_end_tokens"], tf.stack([window, start_token], axis=1)
        )
        has_answer = score > no_span
        if self.null_score_diff_threshold is not None:
            # SQuAD v2.0: the null score is the lowest over the windows.
            null_scores = outputs["start_logits"][:, 0] + outputs["end_logits"][:, 0]
            null_score = tf.math.unsorted_segment_min(null_scores, example, batch_size)
            has_answer &= ~(null_score - score > float(self.null_score_diff_threshold))

        offset = tf.gather(windows["piece_offset"], window)
        start_piece = tf.where(has_answer, offset + start_token, -1)
        end_piece = tf.where(has_answer, offset + end_token, -1)
        # Gathers from a zero-length tensor fail even when masked: pad by one.
        start = tf.gather(
            tf.concat([starts.flat_values, [0]], 0),
            tf.maximum(document_start + start_piece, 0),
        )
        end = tf.gather(
            tf.concat([ends.flat_values, [0]], 0),
            tf.maximum(document_start + end_piece, 0),
        )
        start = tf.where(has_answer, start, -1)
        end = tf.where(has_answer, end, -1)
        answer = tf.strings.substr(
            context, tf.maximum(start, 0), tf.maximum(end - start, 0), unit="UTF8_CHAR"
        )
        count = windows["count"]
        return {
            "answer": tf.where(has_answer, answer, ""),
            "start": start,
            "end": end,
            "score": tf.where(has_answer, score, 0.0),
            "start_token": start_piece,
            "end_token": end_piece,
            "num_windows": count,
            "start_logits": tf.RaggedTensor.from_row_lengths(
                outputs["start_logits"], count
            ).to_tensor(0.0),
            "end_logits": tf.RaggedTensor.from_row_lengths(
                outputs["end_logits"], count
            ).to_tensor(0.0),
        }


def question_context_windows(
    query_length, document_length, sequence_length, doc_stride
):
    """`SquadFeaturizer`'s windows of each context after its question, in one batch.

    Args:
        query_length: `(batch,)` int32, pieces of each (cut) question.
        document_length: `(batch,)` int32, pieces of each context.
        sequence_length: int, the packed length.
        doc_stride: int, pieces between window starts.

    Returns:
        The dict of `_context_windows`, plus per window `piece_offset` (the
        context piece at packed position `p` is `piece_offset + p`) and
        `has_max_context` (`(windows, sequence_length)` bool: the packed
        positions whose piece has its most context in this window).
    """
    windows = _context_windows(
        document_length, pair_window_size(sequence_length, query_length), doc_stride
    )
    windows["piece_offset"] = windows["start"] - pair_window_offset(
        tf.gather(query_length, windows["example"])
    )
    piece = windows["piece_offset"][:, None] + tf.range(sequence_length)[None, :]
    # The largest window, that of an empty question, overlaps the most others.
    max_overlap = max_window_overlap(pair_window_size(sequence_length, 0), doc_stride)
    windows["has_max_context"] = _windows_with_max_context(
        piece, windows, doc_stride, max_overlap
    )
    return windows


def _context_windows(document_length, window_size, doc_stride):
    """The windows of each context (`document_windows`), all in one flat batch.

    Args:
        document_length: `(batch,)` int32, pieces of each context.
        window_size: `(batch,)` int32, places for context pieces in a window
            (`pair_window_size` after the question).
        doc_stride: int, pieces between window starts.

    Returns:
        dict of int32 tensors. Per context, `(batch,)`: `count` (its windows:
        at least one, empty for an empty context). Per window, `(windows,)`:
        `example` (the row of its context), `index` (its number in that
        context), `start` and `length` (its first piece in the context, and
        its pieces), and its context's `window_count`, `document_length` and
        `window_size`.
    """
    count = window_count(document_length, window_size, doc_stride, tnp)
    example = tf.repeat(tf.range(tf.size(count)), count)
    document_length = tf.gather(document_length, example)
    window_size = tf.gather(window_size, example)
    index = tf.cast(tf.ragged.range(count).flat_values, tf.int32)
    start, length = window_span(index, document_length, window_size, doc_stride, tnp)
    return {
        "count": count,
        "example": example,
        "index": index,
        "start": start,
        "length": length,
        "window_count": tf.gather(count, example),
        "document_length": document_length,
        "window_size": window_size,
    }


def _windows_with_max_context(piece, windows, doc_stride, max_overlap):
    """Whether each window is the one that gives the piece its most context.

    `max_context_windows` for every piece of every window at once: a piece
    lies in at most `max_overlap` windows before and after any window holding
    it, so only those neighbours are scored.

    Args:
        piece: `(windows, sequence)` int32, the context piece at each
            position of each window (any value where the window has none).
        windows: the dict of `_context_windows`.
        doc_stride: int, pieces between window starts.
        max_overlap: int, `max_window_overlap` of the largest window.

    Returns:
        `(windows, sequence)` bool, False where the window holds no piece.
    """
    offsets = tf.range(-max_overlap, max_overlap + 1)
    # The neighbouring windows of each window, `(windows, 1, offsets)`.
    neighbour = (windows["index"][:, None] + offsets[None, :])[:, None, :]
    start, length = window_span(
        neighbour,
        windows["document_length"][:, None, None],
        windows["window_size"][:, None, None],
        doc_stride,
        tnp,
    )
    exists = (neighbour >= 0) & (neighbour < windows["window_count"][:, None, None])
    scores = tnp.where(
        exists, context_score(piece[:, :, None], start, length, tnp), -np.inf
    )
    holds = scores[:, :, max_overlap] > -np.inf
    return holds & tf.equal(first_best(scores, tnp), max_overlap)


def _first_values(ragged, lengths):
    """The first `lengths[i]` values of each row of a ragged `[batch, (n)]`."""
    lengths = tf.cast(lengths, ragged.row_splits.dtype)
    local = tf.ragged.range(ragged.row_lengths())
    mask = local < tf.expand_dims(lengths, 1)
    return tf.ragged.boolean_mask(ragged, mask)
