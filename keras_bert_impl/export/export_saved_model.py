"""SavedModel export: raw strings in, what the task means out, TensorFlow to serve.

The exported SavedModel is built with `keras.export.ExportArchive` (traced on
TensorFlow, converted with `jax2tf` on JAX: `saved_model_archive`). Around that
core, the string signature runs the preprocessor (tokenizer and packer are
TensorFlow / tensorflow-text ops) and the task's post-processing as TensorFlow
ops: one serving head per kind of model. Serving needs `tensorflow` and
`tensorflow_text` (`import tensorflow_text` registers the tokenizer's ops),
nothing else: not Keras, not JAX, not this package.
"""

import pathlib

import keras

from keras_bert_impl.export.backbone_serving_head import BackboneServingHead
from keras_bert_impl.export.classifier_serving_head import ClassifierServingHead
from keras_bert_impl.export.question_answerer_serving_head import (
    QuestionAnswererServingHead,
)
from keras_bert_impl.export.saved_model_archive import write_saved_model
from keras_bert_impl.export.serving_head import find_preprocessor
from keras_bert_impl.export.serving_head import make_head
from keras_bert_impl.export.token_classifier_serving_head import (
    TokenClassifierServingHead,
)

SERVING_HEADS = (
    ClassifierServingHead,
    TokenClassifierServingHead,
    QuestionAnswererServingHead,
    BackboneServingHead,
)
"""The serving head of each exportable model class, the first that matches."""


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
      answerer's contexts, which are split into windows, and the texts of a
      classifier or token classifier whose preprocessor has a `stride`, read
      in windows and combined as its `predict` does).
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
    CPU, GPU and TPU); on torch it is an error (Keras exports from neither).
    Float outputs are float32. The SavedModel is written to a temporary
    folder and renamed into place: an interrupted export leaves nothing
    behind.

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
    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise RuntimeError(
            f"export_saved_model: KERAS_BACKEND={keras.backend.backend()} cannot "
            "write a SavedModel (Keras exports from tensorflow and jax only); "
            "save the model with save_to_preset and export it in a process with "
            "KERAS_BACKEND=tensorflow."
        )
    head = make_head(
        model,
        SERVING_HEADS,
        text_pair=text_pair,
        label_names=label_names,
        default_tag=default_tag,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
        max_answer_length=max_answer_length,
        null_score_diff_threshold=null_score_diff_threshold,
    )
    if head is None:
        raise ValueError(
            f"Cannot export a {type(model).__name__}: supported models are "
            + ", ".join(head_class.model_class.__name__ for head_class in SERVING_HEADS)
            + "."
        )
    preprocessor = find_preprocessor(head, preprocessor)
    head.preprocessor = preprocessor
    path = pathlib.Path(path)
    write_saved_model(head, path)
    return path


def __getattr__(name):
    # The archive's constants moved to saved_model_archive; old imports warn.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
