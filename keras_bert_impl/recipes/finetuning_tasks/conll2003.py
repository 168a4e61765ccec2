"""CoNLL-2003 named-entity recognition (`BertTokenClassifier`)."""

from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
from keras_bert_impl.data.conll import read_conll2003
from keras_bert_impl.data.metrics import compute_ner_metrics
from keras_bert_impl.data.ner_featurizer import NerFeaturizer
from keras_bert_impl.models.bert_token_classifier import BertTokenClassifier
from keras_bert_impl.recipes.finetuning_tasks.task_spec import TaskSpec


class Conll2003TaskSpec(TaskSpec):
    """CoNLL-2003 NER, IOB2 tags of the first word piece of each word.

    `predict` reads `{"text_a"}`, words separated by spaces, and answers
    `{"tags"}`, one tag per word.
    """

    kind = "ner"
    split_files = {"train": ("train.txt",), "dev": ("valid.txt", "dev.txt")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.label_list = list(CONLL2003_NER_LABELS)

    @classmethod
    def task_names(cls):
        return ("conll2003",)

    def featurizer(self):
        return NerFeaturizer(self.tokenizer, self.label_list, self.max_seq_length)

    def read(self, data_dir, split):
        path = self.data_file(data_dir, split)
        sentences = read_conll2003(path)
        features = self.featurizer().featurize(sentences)
        return features["x"], features["labels"], (sentences, features)

    def task_model(self, backbone, **options):
        return BertTokenClassifier(
            backbone, len(self.label_list), preprocessor=self.preprocessor(), **options
        )

    def metrics(self, model, x, y, examples, batch_size):
        sentences, features = examples
        predictions = model.predict(x, batch_size=batch_size, verbose=0)
        tags = self.featurizer().predictions_to_tags(predictions, features)
        return compute_ner_metrics(tags, [s.ner_tags for s in sentences])

    def predict(self, model, records, batch_size):
        featurizer = self.featurizer()
        sentences = [r["text_a"].split() for r in records]
        features = featurizer.featurize(sentences)
        logits = model.predict(features["x"], batch_size=batch_size, verbose=0)
        return [{"tags": t} for t in featurizer.predictions_to_tags(logits, features)]
