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
from keras_bert_impl.models.preset_mixin import staged_directory

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
    max_query_length=64,
    max_answer_length=30,
    null_score_diff_threshold=None,
):
    """Exports a BERT model as a TF SavedModel that serves raw strings.

    Two signatures:

    - `serving_default`: a batch of raw strings (`tf.string`, shape
      `(batch,)`), tokenized and packed in the graph exactly like
      `preprocessor` does (empty strings and over-long text included: text is
      truncated to the preprocessor's `sequence_length`).
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
    - `BertQuestionAnswerer`: inputs `question` and `context`. One window per
      question: the question cut to `max_query_length` pieces, the context to
      what fits in the rest of the sequence (the first window of
      `SquadFeaturizer`). The answer is the span of context pieces, at most
      `max_answer_length` long, with the highest `start_logit + end_logit`
      (searched over all spans, so it is `SquadFeaturizer.postprocess`'s best
      answer whenever its n-best lists hold that span). Outputs `answer` (the
      context's text between the span's character offsets), `start`, `end`
      (character offsets into `context`, Python `str` indices; -1 and `""`
      when there is no answer), `score`, `start_token`, `end_token`
      (positions in the packed sequence) and `start_logits`, `end_logits`.
      With `null_score_diff_threshold` (SQuAD v2.0) there is no answer when
      `start_logits[0] + end_logits[0]` beats the best span's score by more
      than the threshold. Contexts longer than one window are cut: the answer
      is searched in the first window only.
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
        max_query_length=64,
        max_answer_length=30,
        null_score_diff_threshold=None,
        **unused,
    ):
        super().__init__(model)
        if int(max_answer_length) < 1:
            raise ValueError(f"`max_answer_length` must be >= 1: {max_answer_length}")
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
        flat = ops.reshape(scores, (-1, length * length))
        best = ops.cast(ops.argmax(flat, axis=-1), "int32")
        score = ops.max(flat, axis=-1)
        has_answer = ops.any(ops.reshape(valid, (-1, length * length)), axis=-1)
        if self.null_score_diff_threshold is not None:
            null_score = start_logits[:, 0] + end_logits[:, 0]
            has_answer = has_answer & ops.logical_not(
                ops.greater(null_score - score, float(self.null_score_diff_threshold))
            )
        none = ops.full_like(best, -1)
        return {
            "start_logits": start_logits,
            "end_logits": end_logits,
            "start_token": ops.where(has_answer, best // length, none),
            "end_token": ops.where(has_answer, best % length, none),
            "score": ops.where(has_answer, score, ops.zeros_like(score)),
        }

    def string_outputs(self, question, context):
        preprocessor = self.preprocessor
        tokenizer = preprocessor.tokenizer
        query = tokenizer.tokenize(question)
        document, starts, ends = tokenizer.tokenize_with_offsets(context, unit="char")
        # SquadFeaturizer's first window: the question cut to
        # `max_query_length`, the context to what fits after it.
        query_length = tf.minimum(
            tf.cast(query.row_lengths(), tf.int32),
            min(self.max_query_length, preprocessor.sequence_length - 4),
        )
        query = _head(query, query_length)
        document_length = tf.minimum(
            tf.cast(document.row_lengths(), tf.int32),
            preprocessor.sequence_length - 3 - query_length,
        )
        document = _head(document, document_length)
        starts = _head(starts, document_length)
        ends = _head(ends, document_length)
        inputs = preprocessor.packer((query, document))
        outputs = self._run_token_ids_fn(inputs)

        has_answer = outputs["start_token"] >= 0
        first = tf.cast(starts.row_starts(), tf.int32) - query_length - 2
        start_index = tf.maximum(first + outputs["start_token"], 0)
        end_index = tf.maximum(first + outputs["end_token"], 0)
        # Gathers from a zero-length tensor fail even when masked: pad by one.
        start = tf.gather(tf.concat([starts.flat_values, [0]], 0), start_index)
        end = tf.gather(tf.concat([ends.flat_values, [0]], 0), end_index)
        start = tf.where(has_answer, start, -1)
        end = tf.where(has_answer, end, -1)
        answer = tf.strings.substr(
            context, tf.maximum(start, 0), tf.maximum(end - start, 0), unit="UTF8_CHAR"
        )
        outputs.update(
            answer=tf.where(has_answer, answer, ""),
            start=start,
            end=end,
        )
        return outputs


def _head(ragged, lengths):
    """The first `lengths[i]` values of each row of a ragged `[batch, (n)]`."""
    lengths = tf.cast(lengths, ragged.row_splits.dtype)
    local = tf.ragged.range(ragged.row_lengths())
    mask = local < tf.expand_dims(lengths, 1)
    return tf.ragged.boolean_mask(ragged, mask)
