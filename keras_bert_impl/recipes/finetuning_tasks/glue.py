"""GLUE: sentence and sentence-pair classification and regression (`BertClassifier`)."""

import keras
import numpy as np

from keras_bert_impl.data.glue import GLUE_TASKS
from keras_bert_impl.data.glue import read_glue
from keras_bert_impl.data.metrics import compute_glue_metrics
from keras_bert_impl.models.bert_classifier import BertClassifier
from keras_bert_impl.recipes.finetuning_tasks.task_spec import TaskSpec
from keras_bert_impl.recipes.finetuning_tasks.task_spec import softmax


def _to_numpy(inputs):
    return {k: keras.ops.convert_to_numpy(v) for k, v in inputs.items()}


class GlueTaskSpec(TaskSpec):
    """GLUE tasks by folder name (sst-2, mrpc, sts-b, ...).

    `predict` reads `{"text_a", "text_b"}` (`text_b` for pair tasks) and
    answers `{"label", "probabilities"}`, or `{"score"}` for regression.
    """

    kind = "glue"
    buckets_by_length = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        task = GLUE_TASKS[self.task_name]
        self.label_list = list(task.label_list) if task.label_list else None
        self.is_regression = task.is_regression

    @classmethod
    def task_names(cls):
        return tuple(GLUE_TASKS)

    @property
    def split_files(self):
        return {
            split: (file,)
            for split, file in GLUE_TASKS[self.task_name].split_files.items()
        }

    @property
    def required_fields(self):
        return ("text_a", "text_b") if self.text_pair else ("text_a",)

    @classmethod
    def handles(cls, task_name):
        # GLUE_TASKS also knows aliases (sst2, stsb, mnli-mm).
        try:
            GLUE_TASKS[task_name]
        except KeyError:
            return False
        return True

    @classmethod
    def export_options(cls, run_config):
        options = super().export_options(run_config)
        options["text_pair"] = run_config.get("text_pair", False)
        if not run_config.get("is_regression"):
            options["label_names"] = run_config["label_list"]
        return options

    def read(self, data_dir, split):
        examples = read_glue(self.task_name, data_dir, split).examples
        texts = [e.text_a for e in examples]
        if examples and examples[0].text_b is not None:
            self.text_pair = True
            texts = (texts, [e.text_b for e in examples])
        x = _to_numpy(self.preprocessor()(texts))
        if self.is_regression:
            y = np.array([float(e.label) for e in examples], "float32")
        else:
            index = {label: i for i, label in enumerate(self.label_list)}
            y = np.array([index[e.label] for e in examples], "int32")
        return x, y, examples

    def task_model(self, backbone, **options):
        num_classes = 1 if self.is_regression else len(self.label_list)
        return BertClassifier(
            backbone, num_classes, preprocessor=self.preprocessor(), **options
        )

    def metrics(self, model, x, y, examples, batch_size):
        predictions = model.predict(x, batch_size=batch_size, verbose=0)
        return compute_glue_metrics(self.task_name, predictions, y)

    def predict(self, model, records, batch_size):
        texts = [r["text_a"] for r in records]
        if self.text_pair:
            texts = (texts, [r["text_b"] for r in records])
        x = _to_numpy(self.preprocessor()(texts))
        outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
        if self.is_regression:
            return [{"score": float(row[0])} for row in outputs]
        return [
            {
                "label": self.label_list[int(np.argmax(row))],
                "probabilities": [float(p) for p in row],
            }
            for row in softmax(outputs)
        ]
