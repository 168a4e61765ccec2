"""SQuAD features: question + context windows, answer spans, n-best decoding."""

import collections
import math

import numpy as np

from keras_bert_impl.data import _featurization
from keras_bert_impl.utils.document_windows import document_windows
from keras_bert_impl.utils.document_windows import max_context_windows
from keras_bert_impl.utils.document_windows import pair_window_offset
from keras_bert_impl.utils.document_windows import pair_window_size


class SquadFeaturizer:
    """Turns SQuAD examples into `BertQuestionAnswerer` windows, and back.

    The recipe of the original `run_squad.py`, with the answer mapped through
    the tokenizer's character offsets instead of whitespace tokens:

    - The question is tokenized and cut to `max_query_length` pieces.
    - The context is tokenized with character offsets and cut into windows of
      at most `sequence_length - len(question) - 3` pieces, each starting
      `doc_stride` pieces after the previous one (the last one reaching the
      end), packed as `[CLS] question [SEP] window [SEP]`.
    - Training labels: the answer's characters `[answer_start,
      answer_start + len(text))` map to the first piece that ends after the
      start and the last piece that begins before the end; a window that does
      not hold the whole answer, and an unanswerable (v2.0) question, point
      at `[CLS]` (position 0).
    - `postprocess` searches, per question, the `n_best_size` best start and
      end positions of every window for spans inside the context, at most
      `max_answer_length` pieces long, starting in the window where that piece
      has the most context; the span's text is the original context between
      the first piece's start and the last piece's end offsets. For v2.0 the
      null score (`start_logit[0] + end_logit[0]`, lowest over the windows)
      competes: "no answer" is predicted when `null - best non-null score`
      exceeds `null_score_diff_threshold`.

    Args:
        tokenizer: `BertTokenizer` (`tokenize`, `tokenize_with_offsets`, and
            the `cls`/`sep`/`pad` token ids).
        sequence_length: int. Window length (384 in the paper).
        doc_stride: int. Pieces between window starts (128).
        max_query_length: int. Longest question, in pieces (64).
        n_best_size: int. Start/end candidates and answers kept (20).
        max_answer_length: int. Longest answer, in pieces (30).
        version_2_with_negative: bool. SQuAD v2.0: questions may have no
            answer.
        null_score_diff_threshold: float. v2.0: predict "no answer" when the
            null score beats the best span by more than this (tune it on dev
            data with `find_best_threshold` of `squad_evaluation`).

    Example:
    ```python
    featurizer = SquadFeaturizer(tokenizer, version_2_with_negative=True)
    train = featurizer.featurize(read_squad("train-v2.0.json"), training=True)
    model.fit(train["x"], train["y"], batch_size=32, epochs=2)
    dev_examples = read_squad("dev-v2.0.json")
    dev = featurizer.featurize(dev_examples)
    result = featurizer.postprocess(dev, model.predict(dev["x"]))
    evaluate_squad_v2(dev_examples, result["predictions"], result["null_odds"])
    ```
    """

    def __init__(
        self,
        tokenizer,
        sequence_length=384,
        doc_stride=128,
        max_query_length=64,
        n_best_size=20,
        max_answer_length=30,
        version_2_with_negative=False,
        null_score_diff_threshold=0.0,
    ):
        if sequence_length - max_query_length - 3 <= 0:
            raise ValueError(
                f"sequence_length={sequence_length} leaves no room for the context "
                f"after a question of max_query_length={max_query_length} pieces."
            )
        if doc_stride <= 0:
            raise ValueError(f"doc_stride must be positive, got {doc_stride}")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.doc_stride = int(doc_stride)
        self.max_query_length = int(max_query_length)
        self.n_best_size = int(n_best_size)
        self.max_answer_length = int(max_answer_length)
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_score_diff_threshold = float(null_score_diff_threshold)

    # === Featurization ===
    def featurize(self, examples, training=False):
        """Windows of a list of `SquadExample`s (from `read_squad`).

        Args:
            examples: list of `SquadExample`.
            training: bool. Also compute the start/end labels (from each
                example's first answer).

        Returns:
            dict with, per window: `x` (the backbone's input dict,
            `(windows, sequence_length)` int32), `y` (training only:
            `{"start_logits": starts, "end_logits": ends}`, `(windows,)`
            int32 token positions), `example_index` (`(windows,)`),
            `token_start_chars` / `token_end_chars` (`(windows, length)`
            int32 character offsets into the context of each context piece,
            -1 elsewhere), `token_is_max_context` (`(windows, length)` bool);
            and `examples` (the list given).
        """
        examples = list(examples)
        questions = _featurization.tokenize_batch(
            self.tokenizer, [example.question for example in examples]
        )
        contexts = sorted({example.context for example in examples})
        context_index = {context: index for index, context in enumerate(contexts)}
        context_ids, context_starts, context_ends = (
            _featurization.tokenize_batch_with_offsets(self.tokenizer, contexts)
        )

        rows, starts, ends, example_indices = [], [], [], []
        start_chars, end_chars, max_context = [], [], []
        for example_index, example in enumerate(examples):
            query = questions[example_index][: self.max_query_length]
            position = context_index[example.context]
            doc_ids = context_ids[position]
            doc_starts = context_starts[position]
            doc_ends = context_ends[position]
            answer_span = None
            if training:
                answer_span = self._answer_token_span(example, doc_starts, doc_ends)
            window_size = pair_window_size(self.sequence_length, len(query))
            spans = zip(*document_windows(len(doc_ids), window_size, self.doc_stride))
            max_context_window = max_context_windows(
                len(doc_ids), window_size, self.doc_stride
            )
            offset = pair_window_offset(len(query))
            for span_index, (span_start, span_length) in enumerate(spans):
                span_end = span_start + span_length
                rows.append(
                    _featurization.pack(
                        self.tokenizer,
                        query,
                        doc_ids[span_start:span_end],
                        self.sequence_length,
                    )
                )
                window_starts = np.full(self.sequence_length, -1, np.int32)
                window_ends = np.full(self.sequence_length, -1, np.int32)
                window_starts[offset : offset + span_length] = doc_starts[
                    span_start:span_end
                ]
                window_ends[offset : offset + span_length] = doc_ends[
                    span_start:span_end
                ]
                is_max = np.zeros(self.sequence_length, bool)
                is_max[offset : offset + span_length] = (
                    max_context_window[span_start:span_end] == span_index
                )
                start_chars.append(window_starts)
                end_chars.append(window_ends)
                max_context.append(is_max)
                example_indices.append(example_index)
                start = end = 0
                if answer_span is not None:
                    first, last = answer_span
                    if span_start <= first and last < span_end:
                        start = first - span_start + offset
                        end = last - span_start + offset
                starts.append(start)
                ends.append(end)

        features = {
            "x": _featurization.stack_inputs(rows),
            "example_index": np.array(example_indices, np.int32),
            "token_start_chars": np.stack(start_chars),
            "token_end_chars": np.stack(end_chars),
            "token_is_max_context": np.stack(max_context),
            "examples": examples,
        }
        if training:
            features["y"] = {
                "start_logits": np.array(starts, np.int32),
                "end_logits": np.array(ends, np.int32),
            }
        return features

    @staticmethod
    def _answer_token_span(example, doc_starts, doc_ends):
        """Piece indices `(first, last)` covering the first answer, or None."""
        if example.is_impossible or not example.answers:
            return None
        answer = example.answers[0]
        char_start = answer.char_start
        char_end = char_start + len(answer.text)
        covering = [
            index
            for index, (start, end) in enumerate(zip(doc_starts, doc_ends))
            if end > char_start and start < char_end
        ]
        if not covering:
            return None  # e.g. an answer made only of whitespace
        return covering[0], covering[-1]

    # === Decoding ===
    def postprocess(self, features, predictions, null_score_diff_threshold=None):
        """Answer texts from the model's logits: n-best span search per question.

        Args:
            features: the dict `featurize` returned.
            predictions: dict with `start_logits` and `end_logits`,
                `(windows, sequence_length)` (`BertQuestionAnswerer.predict`).
            null_score_diff_threshold: float or None (the featurizer's).

        Returns:
            dict with `predictions` (question id -> answer text, "" for no
            answer), `nbest` (question id -> list of dicts `text`,
            `char_start`, `char_end` (the text's offsets in the context, -1
            for no answer), `probability`, `start_logit`, `end_logit`, best
            first) and, for v2.0, `null_odds` (question id -> null score minus
            the best non-null score; larger means more likely unanswerable:
            the `no_answer_probabilities` of `evaluate_squad_v2`).
        """
        if null_score_diff_threshold is None:
            null_score_diff_threshold = self.null_score_diff_threshold
        start_logits = np.asarray(predictions["start_logits"], np.float32)
        end_logits = np.asarray(predictions["end_logits"], np.float32)
        windows_of = collections.defaultdict(list)
        for window, example_index in enumerate(features["example_index"]):
            windows_of[int(example_index)].append(window)

        answers, nbest_of, null_odds = {}, {}, {}
        for example_index, example in enumerate(features["examples"]):
            nbest, null_score, best_non_null = self._nbest(
                features, example, windows_of[example_index], start_logits, end_logits
            )
            nbest_of[example.qas_id] = nbest
            if not self.version_2_with_negative:
                answers[example.qas_id] = nbest[0]["text"]
                continue
            if best_non_null is None:
                score_difference = math.inf
            else:
                score_difference = null_score - (
                    best_non_null["start_logit"] + best_non_null["end_logit"]
                )
            null_odds[example.qas_id] = float(score_difference)
            if score_difference > null_score_diff_threshold:
                answers[example.qas_id] = ""
            else:
                answers[example.qas_id] = best_non_null["text"]
        result = {"predictions": answers, "nbest": nbest_of}
        if self.version_2_with_negative:
            result["null_odds"] = null_odds
        return result

    def _nbest(self, features, example, windows, start_logits, end_logits):
        candidates = []  # (score, start_logit, end_logit, window, start, end)
        null_score = math.inf
        null_logits = (0.0, 0.0)
        for window in windows:
            starts = start_logits[window]
            ends = end_logits[window]
            if self.version_2_with_negative:
                score = float(starts[0] + ends[0])
                if score < null_score:
                    null_score = score
                    null_logits = (float(starts[0]), float(ends[0]))
            token_starts = features["token_start_chars"][window]
            is_max_context = features["token_is_max_context"][window]
            best_starts = _top_indices(starts, self.n_best_size)
            best_ends = _top_indices(ends, self.n_best_size)
            for start in best_starts:
                if token_starts[start] < 0 or not is_max_context[start]:
                    continue
                for end in best_ends:
                    if token_starts[end] < 0 or end < start:
                        continue
                    if end - start + 1 > self.max_answer_length:
                        continue
                    candidates.append(
                        (
                            float(starts[start] + ends[end]),
                            float(starts[start]),
                            float(ends[end]),
                            window,
                            int(start),
                            int(end),
                        )
                    )
        if self.version_2_with_negative:
            candidates.append((null_score, *null_logits, None, 0, 0))
        candidates.sort(key=lambda candidate: candidate[0], reverse=True)

        nbest, seen = [], set()
        for _, start_logit, end_logit, window, start, end in candidates:
            if len(nbest) >= self.n_best_size:
                break
            text, char_start, char_end = "", -1, -1
            if window is not None:
                char_start = int(features["token_start_chars"][window][start])
                char_end = int(features["token_end_chars"][window][end])
                text = example.context[char_start:char_end]
            if text in seen:
                continue
            seen.add(text)
            nbest.append(_entry(text, char_start, char_end, start_logit, end_logit))
        if self.version_2_with_negative and "" not in seen:
            nbest.append(_entry("", -1, -1, *null_logits))
        if not nbest:
            nbest.append(_entry("", -1, -1, 0.0, 0.0))
        scores = np.array([e["start_logit"] + e["end_logit"] for e in nbest])
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        for entry, probability in zip(nbest, probabilities):
            entry["probability"] = float(probability)
        best_non_null = next((entry for entry in nbest if entry["text"]), None)
        return nbest, null_score, best_non_null


def _entry(text, char_start, char_end, start_logit, end_logit):
    """One n-best answer; `char_start`/`char_end` are -1 for "no answer"."""
    return {
        "text": text,
        "char_start": char_start,
        "char_end": char_end,
        "start_logit": start_logit,
        "end_logit": end_logit,
    }


def _top_indices(logits, count):
    """Indices of the `count` largest logits, largest first (stable on ties)."""
    return np.argsort(-logits, kind="stable")[:count]
