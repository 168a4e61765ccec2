"""What every fine-tuning task spec holds; each task kind fills it in its own file."""

import glob
import os

import numpy as np

from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor


def _readable_file(path, split):
    if os.path.isdir(path):
        raise ValueError(
            f"{path}: expected the {split} file, found a folder; put the file "
            "there or pass another --data_dir."
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise ValueError(
            f"{path}: the {split} file cannot be read ({error.strerror}); make it "
            "readable."
        ) from None
    return path


def softmax(logits):
    """Probabilities of the last axis, in float64 (predict's JSON output)."""
    logits = np.asarray(logits, "float64")
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return probabilities / probabilities.sum(-1, keepdims=True)


class TaskSpec:
    """One task kind: how to read, featurize, model, score and predict it.

    A subclass per kind (GLUE, CoNLL-2003, SQuAD, SWAG) says which task names it
    handles and fills in `read`, `task_model`, `metrics` and `predict`; the
    recipes (`run_finetuning`, `run_evaluation`, `run_prediction`) only call
    these.

    Args:
        task_name: str. A task name the subclass handles (any case).
        tokenizer: `BertTokenizer`.
        max_seq_length: int. Packed sequence length.
        doc_stride: int. SQuAD: pieces between the starts of a context's
            windows.
        max_query_length: int. SQuAD: longest question, in pieces. Default:
            run_squad.py's 64, but at most half of a short window (the context
            needs the rest).
    """

    # `task_kind` in run_config.json.
    kind = None
    # Fields every `predict` input record must have, and those it may have
    # (`read_prediction_inputs`: a plain text line is `{"text_a": line}`).
    required_fields = ("text_a",)
    optional_fields = ()
    # The data folder's file patterns of each split, tried in order.
    split_files = {}
    # Sentence-level labels let training batches be cut to their longest
    # example; token-level labels (NER) keep full-length batches.
    buckets_by_length = False

    def __init__(
        self,
        task_name,
        tokenizer,
        max_seq_length,
        doc_stride=128,
        max_query_length=None,
    ):
        self.task_name = task_name.lower()
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length or min(64, max_seq_length // 2)
        self.label_list = None
        self.is_regression = False
        self.text_pair = False

    @classmethod
    def task_names(cls):
        """The task names this kind handles, lower-case."""
        raise NotImplementedError

    @classmethod
    def handles(cls, task_name):
        return task_name.lower() in cls.task_names()

    @classmethod
    def export_options(cls, run_config):
        """`export_saved_model` arguments for a run of this kind, from its config."""
        return {"sequence_length": run_config["max_seq_length"]}

    def run_config(self):
        """What a run directory's run_config.json records about the task."""
        return {
            "task_name": self.task_name,
            "task_kind": self.kind,
            "label_list": self.label_list,
            "is_regression": self.is_regression,
            "text_pair": self.text_pair,
            "max_seq_length": self.max_seq_length,
            "doc_stride": self.doc_stride,
            "max_query_length": self.max_query_length,
        }

    def preprocessor(self):
        return BertPreprocessor(self.tokenizer, sequence_length=self.max_seq_length)

    def data_file(self, data_dir, split):
        """The file of `split` in `data_dir` (`split_files`' first match).

        Raises ValueError naming `--data_dir` when no readable file matches, so
        that a run checks every file it will read before it trains.
        """
        patterns = self.split_files[split]
        for pattern in patterns:
            found = sorted(glob.glob(os.path.join(data_dir, pattern)))
            if found:
                return _readable_file(found[0], split)
        raise ValueError(
            f"--data_dir={data_dir}: no {split} file (looked for "
            f"{', '.join(patterns)}); pass the folder that holds the task's files."
        )

    def read(self, data_dir, split):
        """Returns `(x, y, examples)` for `split` in `"train"`, `"dev"`.

        `examples` is whatever `metrics` needs besides the predictions.
        """
        raise NotImplementedError

    def build_model(self, preset, feature_layers=None, dtype=None):
        """The task model on the preset's backbone (frozen with `feature_layers`),
        computing in `dtype`'s policy when given."""
        options = {"dtype": dtype} if dtype else {}
        backbone = BertBackbone.from_preset(preset, **options)
        options = {"feature_layers": feature_layers} if feature_layers else {}
        return self.task_model(backbone, **options)

    def task_model(self, backbone, **options):
        """The task's model class on `backbone`; `options` go to its constructor."""
        raise NotImplementedError

    def metrics(self, model, x, y, examples, batch_size):
        """The task's dev metrics (dict of name -> number)."""
        raise NotImplementedError

    def predict(self, model, records, batch_size):
        """One result dict per `predict` input record."""
        raise NotImplementedError
