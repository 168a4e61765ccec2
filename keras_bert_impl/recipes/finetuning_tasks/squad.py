"""SQuAD v1.1 and v2.0 extractive question answering (`BertQuestionAnswerer`)."""

from keras_bert_impl.data.squad import SquadExample
from keras_bert_impl.data.squad import read_squad
from keras_bert_impl.data.squad_evaluation import evaluate_squad_v1
from keras_bert_impl.data.squad_evaluation import evaluate_squad_v2
from keras_bert_impl.data.squad_featurizer import SquadFeaturizer
from keras_bert_impl.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_impl.recipes.finetuning_tasks.task_spec import TaskSpec


class SquadTaskSpec(TaskSpec):
    """SQuAD: contexts cut into overlapping windows, answers as character spans.

    `predict` reads `{"question", "context"}` and answers `{"answer", "start",
    "end"}` with `context[start:end] == answer` (`""`, -1, -1: no answer).
    """

    kind = "squad"
    split_files = {"train": ("train*.json",), "dev": ("dev*.json",)}
    required_fields = ("question", "context")

    @classmethod
    def task_names(cls):
        return ("squad", "squad_v2")

    @classmethod
    def export_options(cls, run_config):
        options = super().export_options(run_config)
        # The windows the model was trained and evaluated on.
        for key in ("doc_stride", "max_query_length"):
            if run_config.get(key):
                options[key] = run_config[key]
        return options

    def featurizer(self):
        return SquadFeaturizer(
            self.tokenizer,
            sequence_length=self.max_seq_length,
            doc_stride=self.doc_stride,
            max_query_length=self.max_query_length,
            version_2_with_negative=self.task_name == "squad_v2",
        )

    def read(self, data_dir, split):
        examples = read_squad(self.data_file(data_dir, split))
        features = self.featurizer().featurize(examples, training=split == "train")
        return features["x"], features.get("y"), (examples, features)

    def task_model(self, backbone, **options):
        # Its tokenizer and length serve the exported raw-string signature.
        return BertQuestionAnswerer(
            backbone, preprocessor=self.preprocessor(), **options
        )

    def metrics(self, model, x, y, examples, batch_size):
        squad_examples, features = examples
        predictions = model.predict(x, batch_size=batch_size, verbose=0)
        result = self.featurizer().postprocess(features, predictions)
        if self.task_name == "squad_v2":
            return evaluate_squad_v2(
                squad_examples, result["predictions"], result["null_odds"]
            )
        return evaluate_squad_v1(squad_examples, result["predictions"])

    def predict(self, model, records, batch_size):
        featurizer = self.featurizer()
        examples = [
            SquadExample(str(i), r["question"], r["context"], (), False)
            for i, r in enumerate(records)
        ]
        features = featurizer.featurize(examples)
        logits = model.predict(features["x"], batch_size=batch_size, verbose=0)
        result = featurizer.postprocess(features, logits)
        answers = []
        for example in examples:
            answer = result["predictions"][example.qas_id]
            # n-best texts are unique: the answer's entry holds its offsets.
            entry = next(
                e for e in result["nbest"][example.qas_id] if e["text"] == answer
            )
            answers.append(
                {
                    "answer": answer,
                    "start": entry["char_start"],
                    "end": entry["char_end"],
                }
            )
        return answers
