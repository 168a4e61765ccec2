"""SWAG: choosing the ending of a sentence among four (`BertMultipleChoice`)."""

import numpy as np

from keras_bert_impl.data.metrics import accuracy
from keras_bert_impl.data.swag import SWAG_ENDING_COLUMNS
from keras_bert_impl.data.swag import SWAG_NUM_CHOICES
from keras_bert_impl.data.swag import SwagExample
from keras_bert_impl.data.swag import read_swag
from keras_bert_impl.data.swag_featurizer import SwagFeaturizer
from keras_bert_impl.models.bert_multiple_choice import BertMultipleChoice
from keras_bert_impl.recipes.finetuning_tasks.task_spec import TaskSpec
from keras_bert_impl.recipes.finetuning_tasks.task_spec import softmax


class SwagTaskSpec(TaskSpec):
    """SWAG, from its CSV files (rowanz/swagaf `data/`).

    `predict` reads SWAG's CSV columns `{"sent1", "sent2", "ending0", ...,
    "ending3"}` (`sent2`, the shared start of the endings, may be left out) and
    answers `{"label", "probabilities"}`: the likeliest ending's index and the
    probability of each ending.
    """

    kind = "swag"
    split_files = {"train": ("train.csv",), "dev": ("val.csv", "dev.csv")}
    required_fields = ("sent1", *SWAG_ENDING_COLUMNS)
    optional_fields = ("sent2",)

    @classmethod
    def task_names(cls):
        return ("swag",)

    def featurizer(self):
        return SwagFeaturizer(self.tokenizer, self.max_seq_length)

    def read(self, data_dir, split):
        examples = read_swag(self.data_file(data_dir, split))
        features = self.featurizer().featurize(examples)
        return features["x"], features["labels"], examples

    def task_model(self, backbone, **options):
        return BertMultipleChoice(backbone, num_choices=SWAG_NUM_CHOICES, **options)

    def metrics(self, model, x, y, examples, batch_size):
        predictions = model.predict(x, batch_size=batch_size, verbose=0)
        return {"accuracy": accuracy(np.argmax(predictions, axis=-1), y)}

    def predict(self, model, records, batch_size):
        examples = [
            SwagExample(
                video_id="",
                fold_index=str(i),
                context=r["sent1"],
                start_ending=r.get("sent2", ""),
                endings=tuple(r[name] for name in SWAG_ENDING_COLUMNS),
                label=None,
            )
            for i, r in enumerate(records)
        ]
        features = self.featurizer().featurize(examples)
        logits = model.predict(features["x"], batch_size=batch_size, verbose=0)
        return [
            {"label": int(np.argmax(row)), "probabilities": [float(p) for p in row]}
            for row in softmax(logits)
        ]
