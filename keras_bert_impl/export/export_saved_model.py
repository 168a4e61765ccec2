"""SavedModel export: raw strings in, what the task means out, TensorFlow to serve.

The exported SavedModel is built with `keras.export.ExportArchive`, which
works on every backend that can export: on TensorFlow the Keras model is
traced into a `tf.function`; on JAX its forward pass is converted with
`jax2tf` (native serialization: a StableHLO module run by TensorFlow's
`XlaCallModule` op, lowered for CPU, GPU and TPU). Around that core, the
string signature runs the preprocessor (tokenizer and packer are TensorFlow /
tensorflow-text ops) and the task's post-processing as TensorFlow ops. Serving
needs `tensorflow` and `tensorflow_text` (`import tensorflow_text` registers
the tokenizer's ops), nothing else: not Keras, not JAX, not this package.
"""

import pathlib

import keras
import tensorflow as tf

from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.bert_classifier import BertClassifier
from keras_bert_impl.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_impl.models.bert_token_classifier import BertTokenClassifier
from keras_bert_impl.utils.file_io import staged_directory

SERVING_SIGNATURE = "serving_default"
"""The raw-strings signature."""
TOKEN_IDS_SIGNATURE = "serve_token_ids"
"""The signature on `token_ids`, `segment_ids`, `padding_mask`."""
JAX_PLATFORMS = ("cpu", "cuda", "tpu")
"""Platforms a JAX-backend model is lowered for (`jax2tf` native serialization)."""

_INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")
_LABEL_ATTRIBUTES = ("label_names", "labels", "label_list", "class_names")


def export_saved_model(
    model,
    path,
    preprocessor=None,
    *,
    text_pair=False,
    label_names=None,
    default_tag="O",
    doc_stride=128,
    max_query_length=64,
    max_answer_length=30,
    null_score_diff_threshold=None,
):
    """Exports a BERT model as a TF SavedModel that serves raw strings.

    Two signatures:

    - `serving_default`: a batch of raw strings (`tf.string`, shape
      `(batch,)`), tokenized and packed in the graph exactly like
      `preprocessor` does (empty strings and over-long text included: text is
      truncated to the preprocessor's `sequence_length`, except a question
      answerer's contexts, which are split into windows).
    - `serve_token_ids`: `token_ids`, `segment_ids`, `padding_mask` (int32,
      `(batch, sequence)`, sequence at most the backbone's
      `max_sequence_length`), the same outputs minus the ones that need text.
      Exported from the JAX backend it needs a batch of at least one row (a
      `jax2tf` shape constraint; the string signature takes empty batches).

    Inputs and outputs by model:

    - `BertClassifier`: input `text` (or `text_a` and `text_b` with
      `text_pair=True`). Outputs `logits`, `probabilities` `(batch,
      num_classes)`, `label_id` `(batch,)` int32 and `label`: the label's name
      (`tf.string`) when `label_names` are known, else the id. A regression
      head (`num_classes=1`) outputs `score` `(batch,)` and `logits`.
    - `BertTokenClassifier` (NER): input `text`, split into words on
      whitespace (the words `NerFeaturizer` gets: pass text with the words
      separated by spaces); each word is tokenized on its own and tagged at
      its first sub-token, as `NerFeaturizer.predictions_to_tags`. Outputs,
      padded to the longest sentence: `words` (`""` padding), `tags` (names
      when known, else ids; words without a prediction, i.e. cut off by the
      sequence length or made of no token, get `default_tag`, resp. -1),
      `tag_ids` (-1 there and on padding), `num_words` `(batch,)` and the
      token-level `logits`. `serve_token_ids` gives `logits` and per-token
      `tag_ids`.
    - `BertQuestionAnswerer`: inputs `question` and `context`, answered as
      SQuAD fine-tuning evaluates (`SquadFeaturizer`, run_squad.py): the
      question cut to `max_query_length` pieces, the context split into
      windows that fill the rest of the sequence, each starting `doc_stride`
      pieces after the previous one, the last one reaching the end; the model
      reads every window of every question as one batch. The answer is the
      span of context pieces, at most `max_answer_length` long, with the
      highest `start_logit + end_logit` over all windows, each span read in
      the window where its first piece has the most context
      (`_check_is_max_context`). The search covers every span, so it is
      `SquadFeaturizer.postprocess`'s best answer whenever that one's n-best
      lists hold the span (always with `n_best_size >= sequence_length`);
      among exactly equal scores it takes the lowest start, then end, of the
      first window, where `postprocess` orders by logit rank. Outputs
      `answer` (the context's text between the span's character offsets),
      `start`, `end` (character offsets into `context`, Python `str`
      indices; -1 and `""` when there is no answer), `score`, `start_token`,
      `end_token` (indices of the span's first and last piece in the
      tokenized context), `num_windows` and `start_logits`, `end_logits`
      `(batch, windows, sequence)` (zero past a question's `num_windows`).
      With `null_score_diff_threshold` (SQuAD v2.0) there is no answer when
      the null score, the lowest `start_logits[0] + end_logits[0]` of the
      question's windows, beats the best span's score by more than the
      threshold. `serve_token_ids` answers each row on its own as one
      window; it also outputs, per start token, the end token of its best
      span and that span's score (`span_end_tokens`, -1, and `span_scores`,
      -inf, where no span starts), from which a client that makes its own
      windows picks the best span across them.
    - `BertBackbone`: input `text` (or `text_a`, `text_b`). Outputs
      `pooled_output` `(batch, hidden)`, `sequence_output` `(batch,
      sequence, hidden)` and `padding_mask`.

    Works on the TensorFlow and the JAX backend (through `jax2tf`, lowered for
    CPU, GPU and TPU). Float outputs are float32. The SavedModel is written to
    a temporary folder and renamed into place: an interrupted export leaves
    nothing behind.

    Args:
        model: `BertClassifier`, `BertTokenClassifier`, `BertQuestionAnswerer`
            or `BertBackbone`.
        path: folder to write the SavedModel to (replaced if it exists).
        preprocessor: `BertPreprocessor` (a `tokenizer`, a `packer` and a
            `sequence_length`). None uses `model.preprocessor`.
        text_pair: bool. Classifier and backbone: serve sentence pairs
            (`text_a`, `text_b`) instead of single texts (`text`).
        label_names: optional sequence of str, one per class (classifier) or
            tag (token classifier). None looks for `label_names` (or
            `labels`, `label_list`, `class_names`) on the model, then on the
            preprocessor; without any, labels are served as ids.
        default_tag: str. Token classifier: tag of words that get no
            prediction.
        doc_stride: int. Question answerer: pieces between the starts of a
            context's windows (128 in the paper).
        max_query_length: int. Question answerer: longest question, in pieces.
        max_answer_length: int. Question answerer: longest answer, in pieces.
        null_score_diff_threshold: None, or a float for SQuAD v2.0 models (see
            above).

    Returns:
        The `pathlib.Path` of the SavedModel.

    Example:
    ```python
    classifier = BertClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    classifier.fit(["a great movie", "a dull movie"], [1, 0])
    export_saved_model(classifier, "serving/", label_names=["negative", "positive"])

    # In a process with only TensorFlow and tensorflow-text:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer's ops)

    serve = tf.saved_model.load("serving/").signatures["serving_default"]
    serve(text=tf.constant(["what a film"]))["label"]  # [b"positive"]
    ```
    """
    head = _make_head(
        model,
        text_pair=text_pair,
        label_names=label_names,
        default_tag=default_tag,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
        max_answer_length=max_answer_length,
        null_score_diff_threshold=null_score_diff_threshold,
    )
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise ValueError(
            f"Exporting a {type(model).__name__} needs a preprocessor for its "
            "raw-strings signature. Pass `preprocessor=BertPreprocessor(tokenizer, "
            "sequence_length)` or attach one to the model."
        )
    for attribute in ("tokenizer", "packer", "sequence_length"):
        if not hasattr(preprocessor, attribute):
            raise ValueError(
                "`preprocessor` must be a BertPreprocessor (with a tokenizer, a "
                f"packer and a sequence_length). Got {type(preprocessor).__name__}."
            )
    max_length = head.backbone.max_sequence_length
    if preprocessor.sequence_length > max_length:
        raise ValueError(
            f"The preprocessor packs {preprocessor.sequence_length} tokens but the "
            f"model has {max_length} positions (max_sequence_length)."
        )
    head.preprocessor = preprocessor

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, None], tf.int32)
    token_ids_fn = archive.add_endpoint(
        TOKEN_IDS_SIGNATURE,
        head.token_ids_outputs,
        input_signature=[spec] * len(_INPUT_NAMES),
        **_backend_export_kwargs(max_length),
    )
    head.token_ids_fn = token_ids_fn
    strings_fn = tf.function(
        head.string_outputs,
        input_signature=[
            tf.TensorSpec([None], tf.string, name=name) for name in head.text_inputs
        ],
        autograph=False,
    )
    strings_fn.get_concrete_function()  # ExportArchive takes traced functions.
    archive.add_endpoint(SERVING_SIGNATURE, strings_fn)

    path = pathlib.Path(path)
    with staged_directory(path) as staging:
        archive.write_out(str(staging), verbose=False)
    return path


def _backend_export_kwargs(max_sequence_length):
    if keras.backend.backend() != "jax":
        return {}
    # One batch size `b` and sequence length `s` shared by the three inputs,
    # `s` bounded by the position embeddings (the model checks that length);
    # no gradients (serving only: the dropout seeds have none).
    return {
        "jax2tf_kwargs": {
            "polymorphic_shapes": ["(b, s)"] * len(_INPUT_NAMES),
            "polymorphic_constraints": (f"s <= {int(max_sequence_length)}",),
            "with_gradient": False,
            "native_serialization_platforms": JAX_PLATFORMS,
        }
    }


def _make_head(model, **options):
    heads = (
        (BertClassifier, _ClassifierHead),
        (BertTokenClassifier, _TokenClassifierHead),
        (BertQuestionAnswerer, _QuestionAnswererHead),
        (BertBackbone, _BackboneHead),
    )
    for model_class, head_class in heads:
        if isinstance(model, model_class):
            return head_class(model, **options)
    raise ValueError(
        f"Cannot export a {type(model).__name__}: supported models are "
        + ", ".join(model_class.__name__ for model_class, _ in heads)
        + "."
    )


def _find_label_names(model, label_names, count, what):
    if label_names is None:
        for owner in (model, getattr(model, "preprocessor", None)):
            for attribute in _LABEL_ATTRIBUTES:
                value = getattr(owner, attribute, None)
                if isinstance(value, (list, tuple)) and value:
                    label_names = value
                    break
            if label_names is not None:
                break
    if label_names is None:
        return None
    label_names = [str(name) for name in label_names]
    if len(label_names) != count:
        raise ValueError(
            f"{len(label_names)} label names for a model with {count} {what}: "
            f"{label_names}."
        )
    return label_names


def _pad_batch(inputs):
    """At least one row (a JAX-exported model wants batch >= 1), and the count."""
    count = tf.shape(inputs["token_ids"])[0]
    extra = tf.maximum(1 - count, 0)
    padded = {
        name: tf.pad(inputs[name], tf.stack([tf.stack([0, extra]), [0, 0]]))
        for name in _INPUT_NAMES
    }
    return padded, count


def _as_float32(x):
    return keras.ops.cast(x, "float32")


class _Head:
    """The task-specific parts of an export.

    `token_ids_outputs` runs the model and the numeric post-processing with
    `keras.ops` (it becomes the `serve_token_ids` endpoint: traced by
    TensorFlow, or converted by `jax2tf`); `string_outputs` is TensorFlow code
    around the traced `token_ids_fn`: preprocessing and text outputs.
    """

    text_inputs = ("text",)

    def __init__(self, model):
        self.model = model
        self.backbone = model if isinstance(model, BertBackbone) else model.backbone
        self.preprocessor = None
        self.token_ids_fn = None

    def _call_model(self, token_ids, segment_ids, padding_mask):
        inputs = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": padding_mask,
        }
        return self.model(inputs, training=False)

    def _run_token_ids_fn(self, inputs):
        padded, count = _pad_batch(inputs)
        outputs = self.token_ids_fn(*(padded[name] for name in _INPUT_NAMES))
        return {name: value[:count] for name, value in outputs.items()}

    def _preprocess(self, *texts):
        segments = texts[0] if len(texts) == 1 else tuple(texts)
        return self.preprocessor(segments)


class _ClassifierHead(_Head):
    def __init__(self, model, text_pair=False, label_names=None, **unused):
        super().__init__(model)
        self.text_inputs = ("text_a", "text_b") if text_pair else ("text",)
        self.regression = model.num_classes == 1
        self.label_names = None
        if not self.regression:
            self.label_names = _find_label_names(
                model, label_names, model.num_classes, "classes"
            )

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        logits = _as_float32(self._call_model(token_ids, segment_ids, padding_mask))
        if self.regression:
            return {"logits": logits, "score": logits[:, 0]}
        return {
            "logits": logits,
            "probabilities": keras.ops.softmax(logits, axis=-1),
            "label_id": keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32"),
        }

    def string_outputs(self, *texts):
        outputs = self._run_token_ids_fn(self._preprocess(*texts))
        if not self.regression:
            outputs["label"] = outputs["label_id"]
            if self.label_names is not None:
                names = tf.constant(self.label_names)
                outputs["label"] = tf.gather(names, outputs["label_id"])
        return outputs


class _BackboneHead(_Head):
    def __init__(self, model, text_pair=False, **unused):
        super().__init__(model)
        self.text_inputs = ("text_a", "text_b") if text_pair else ("text",)

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        outputs = self._call_model(token_ids, segment_ids, padding_mask)
        return {
            "sequence_output": _as_float32(outputs["sequence_output"]),
            "pooled_output": _as_float32(outputs["pooled_output"]),
        }

    def string_outputs(self, *texts):
        inputs = self._preprocess(*texts)
        outputs = self._run_token_ids_fn(inputs)
        outputs["padding_mask"] = inputs["padding_mask"]
        return outputs


class _TokenClassifierHead(_Head):
    def __init__(self, model, label_names=None, default_tag="O", **unused):
        super().__init__(model)
        self.label_names = _find_label_names(
            model, label_names, model.num_classes, "tags"
        )
        self.default_tag = default_tag

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        logits = _as_float32(self._call_model(token_ids, segment_ids, padding_mask))
        tag_ids = keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")
        return {"logits": logits, "tag_ids": tag_ids}

    def string_outputs(self, text):
        import tensorflow_text as tf_text

        preprocessor = self.preprocessor
        sequence_length = preprocessor.sequence_length
        # NerFeaturizer's featurization, in the graph: every word tokenized on
        # its own, the pieces packed as `[CLS] pieces [SEP]` (cut to fit), a
        # word's prediction read at its first piece.
        words = tf_text.WhitespaceTokenizer().tokenize(text)
        pieces = preprocessor.tokenizer.tokenize(words.flat_values)
        pieces = tf.RaggedTensor.from_row_splits(pieces, words.row_splits)
        counts = tf.cast(pieces.row_lengths(axis=2).flat_values, tf.int32)
        before = tf.cumsum(counts, exclusive=True)
        word_rows = tf.cast(words.value_rowids(), tf.int32)
        sentence_start = tf.gather(
            tf.concat([before, [tf.reduce_sum(counts)]], 0),
            tf.cast(words.row_starts(), tf.int32),
        )
        first_piece = before - tf.gather(sentence_start, word_rows)
        tagged = (counts > 0) & (first_piece < sequence_length - 2)
        inputs = preprocessor.packer(pieces.merge_dims(1, 2))
        outputs = self._run_token_ids_fn(inputs)

        position = tf.minimum(first_piece + 1, sequence_length - 1)
        token_tags = outputs["tag_ids"]
        word_tag_ids = tf.gather_nd(token_tags, tf.stack([word_rows, position], 1))
        word_tag_ids = tf.where(tagged, word_tag_ids, -1)
        if self.label_names is not None:
            names = tf.constant(self.label_names)
            word_tags = tf.where(
                tagged,
                tf.gather(names, tf.maximum(word_tag_ids, 0)),
                self.default_tag,
            )
            tag_padding = ""
        else:
            word_tags, tag_padding = word_tag_ids, -1
        return {
            "logits": outputs["logits"],
            "words": words.to_tensor(""),
            "tags": words.with_flat_values(word_tags).to_tensor(tag_padding),
            "tag_ids": words.with_flat_values(word_tag_ids).to_tensor(-1),
            "num_words": tf.cast(words.row_lengths(), tf.int32),
        }


class _QuestionAnswererHead(_Head):
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
        outputs = self._call_model(token_ids, segment_ids, padding_mask)
        start_logits = _as_float32(outputs["start_logits"])
        end_logits = _as_float32(outputs["end_logits"])
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
        query_length = tf.minimum(
            tf.cast(query.row_lengths(), tf.int32),
            min(self.max_query_length, sequence_length - 4),
        )
        query = _head(query, query_length)
        document_length = tf.cast(document.row_lengths(), tf.int32)
        windows = _context_windows(
            document_length, sequence_length - 3 - query_length, self.doc_stride
        )
        example = windows["example"]
        document_start = tf.cast(document.row_starts(), tf.int32)
        first_piece = tf.gather(document_start, example) + windows["start"]
        window_pieces = tf.gather(
            document.flat_values,
            tf.ragged.range(first_piece, first_piece + windows["length"]),
        )
        inputs = preprocessor.packer((tf.gather(query, example), window_pieces))
        outputs = self._run_token_ids_fn(inputs)

        # `piece`: index in the context of the piece at each packed position.
        window_offset = windows["start"] - tf.gather(query_length, example) - 2
        piece = window_offset[:, None] + tf.range(sequence_length)[None, :]
        has_max_context = _has_max_context(
            piece,
            windows,
            max_offset=(sequence_length - 4) // self.doc_stride,
        )
        # run_squad.py's candidates: spans starting where their window gives
        # the start piece its most context; the best one over the windows
        # (the first window on ties, as its stable sort). Positions that
        # start none score the lowest float: what `unsorted_segment_max`
        # gives a group of them (not -inf).
        no_span = tf.float32.min
        candidate = has_max_context & (outputs["span_end_tokens"] >= 0)
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

        offset = tf.gather(window_offset, window)
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


def _context_windows(document_length, room, doc_stride):
    """`SquadFeaturizer`'s windows over each context, all in one flat batch.

    Args:
        document_length: `(batch,)` int32, pieces of each context.
        room: `(batch,)` int32, places for context pieces in a window (the
            sequence length minus the question and `[CLS] [SEP] [SEP]`).
        doc_stride: int, pieces between window starts.

    Returns:
        dict of int32 tensors. Per window, `(windows,)`: `example` (the row of
        its context), `index` (its number in that context), `start` and
        `length` (its first piece in the context, and its pieces). Per
        context, `(batch,)`: `count` (windows: at least one, empty for an
        empty context), `step` (pieces between window starts), `room` and
        `document_length` (the arguments).
    """
    # Windows start every `step` pieces until one reaches the end.
    step = tf.minimum(doc_stride, room)
    count = 1 + (tf.maximum(document_length - room, 0) + step - 1) // step
    example = tf.repeat(tf.range(tf.size(count)), count)
    index = tf.cast(tf.ragged.range(count).flat_values, tf.int32)
    start = index * tf.gather(step, example)
    length = tf.minimum(
        tf.gather(document_length, example) - start, tf.gather(room, example)
    )
    return {
        "example": example,
        "index": index,
        "start": start,
        "length": length,
        "count": count,
        "step": step,
        "room": room,
        "document_length": document_length,
    }


def _has_max_context(piece, windows, max_offset):
    """Whether each window is the one that gives the piece its most context.

    `_check_is_max_context` of run_squad.py (and `SquadFeaturizer`): among
    the windows holding a piece, the best scores `min(pieces left of it,
    pieces right of it) + 0.01 * window length`, the first one on ties. A
    piece lies in at most `max_offset` windows before and after any window
    holding it, so only those neighbours are compared.

    Args:
        piece: `(windows, sequence)` int32, the context piece at each
            position of each window (any value where the window has none).
        windows: the dict of `_context_windows`.
        max_offset: int, `(sequence_length - 4) // doc_stride`.

    Returns:
        `(windows, sequence)` bool, False where the window holds no piece.
    """
    example = windows["example"]
    offsets = tf.range(-max_offset, max_offset + 1)
    # The neighbouring windows `k` of each window, `(windows, offsets)`.
    k = windows["index"][:, None] + offsets[None, :]
    k_start = k * tf.gather(windows["step"], example)[:, None]
    k_length = tf.minimum(
        tf.gather(windows["document_length"], example)[:, None] - k_start,
        tf.gather(windows["room"], example)[:, None],
    )
    k_exists = (k >= 0) & (k < tf.gather(windows["count"], example)[:, None])
    left = piece[:, :, None] - k_start[:, None, :]
    right = (k_start + k_length - 1)[:, None, :] - piece[:, :, None]
    holds = k_exists[:, None, :] & (left >= 0) & (right >= 0)
    # float64 as run_squad.py's Python floats, so ties are the same ties.
    context_score = (
        tf.cast(tf.minimum(left, right), tf.float64)
        + 0.01 * tf.cast(k_length, tf.float64)[:, None, :]
    )
    own_score = context_score[:, :, max_offset : max_offset + 1]
    beaten = holds & (
        ((offsets < 0) & (context_score >= own_score))
        | ((offsets > 0) & (context_score > own_score))
    )
    return holds[:, :, max_offset] & ~tf.reduce_any(beaten, axis=2)


def _head(ragged, lengths):
    """The first `lengths[i]` values of each row of a ragged `[batch, (n)]`."""
    lengths = tf.cast(lengths, ragged.row_splits.dtype)
    local = tf.ragged.range(ragged.row_lengths())
    mask = local < tf.expand_dims(lengths, 1)
    return tf.ragged.boolean_mask(ragged, mask)
