"""Fine-tuning, evaluation and prediction runs behind `keras-bert finetune`,
`evaluate` and `predict`: the paper's tasks with the paper's recipe.

A run directory holds everything `predict` and `export` need: `model/` (the
fine-tuned task model as a preset folder, preprocessor included),
`run_config.json` (task, labels, sequence length), checkpoints to resume
from, TensorBoard logs, `training_curves.png` and `eval_results.json`.
"""

import glob
import json
import math
import os
import pathlib

import numpy as np

from keras_bert_impl.utils.preset_files import RUN_CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_io import load_preset_model

NER_TASKS = ("conll2003",)
SQUAD_TASKS = ("squad", "squad_v2")
CHOICE_TASKS = ("swag",)


def task_kind(task_name):
    """`"glue"`, `"ner"`, `"squad"` or `"swag"` for a task name (any case)."""
    from keras_bert_impl.data.glue import GLUE_TASKS

    name = task_name.lower()
    if name in NER_TASKS:
        return "ner"
    if name in SQUAD_TASKS:
        return "squad"
    if name in CHOICE_TASKS:
        return "swag"
    try:
        GLUE_TASKS[name]
    except KeyError:
        known = sorted(set(GLUE_TASKS) | set(NER_TASKS + SQUAD_TASKS + CHOICE_TASKS))
        raise ValueError(
            f"Unknown --task_name {task_name!r}; known tasks: {', '.join(known)}."
        ) from None
    return "glue"


def _one_file(data_dir, patterns, what):
    for pattern in patterns:
        found = sorted(glob.glob(os.path.join(data_dir, pattern)))
        if found:
            return found[0]
    raise FileNotFoundError(
        f"No {what} file in {data_dir} (looked for {', '.join(patterns)})."
    )


class TaskData:
    """Reads one task's split and turns it into model inputs and back.

    Args:
        task_name: str. A GLUE folder name, conll2003, squad, squad_v2 or swag.
        tokenizer: `BertTokenizer`.
        max_seq_length: int. Packed sequence length.
        doc_stride: int. SQuAD: pieces between the starts of a context's
            windows.
        max_query_length: int. SQuAD: longest question, in pieces. Default:
            run_squad.py's 64, but at most half of a short window (the context
            needs the rest).
    """

    def __init__(
        self,
        task_name,
        tokenizer,
        max_seq_length,
        doc_stride=128,
        max_query_length=None,
    ):
        from keras_bert_impl.data.conll import CONLL2003_NER_LABELS

        self.task_name = task_name.lower()
        self.kind = task_kind(task_name)
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length or min(64, max_seq_length // 2)
        self.label_list = None
        self.is_regression = False
        self.text_pair = False
        if self.kind == "glue":
            from keras_bert_impl.data.glue import GLUE_TASKS

            task = GLUE_TASKS[self.task_name]
            self.label_list = list(task.label_list) if task.label_list else None
            self.is_regression = task.is_regression
        elif self.kind == "ner":
            self.label_list = list(CONLL2003_NER_LABELS)

    def preprocessor(self):
        from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor

        return BertPreprocessor(self.tokenizer, sequence_length=self.max_seq_length)

    def read(self, data_dir, split):
        """Returns `(x, y, examples)` for `split` in `"train"`, `"dev"`."""
        if self.kind == "glue":
            from keras_bert_impl.data.glue import read_glue

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
        if self.kind == "ner":
            from keras_bert_impl.data.conll import read_conll2003

            name = {"train": ("train.txt",), "dev": ("valid.txt", "dev.txt")}[split]
            sentences = read_conll2003(_one_file(data_dir, name, split))
            features = self.featurizer().featurize(sentences)
            return features["x"], features["labels"], (sentences, features)
        if self.kind == "squad":
            from keras_bert_impl.data.squad import read_squad

            examples = read_squad(_one_file(data_dir, (f"{split}*.json",), split))
            features = self.featurizer().featurize(examples, training=split == "train")
            return features["x"], features.get("y"), (examples, features)
        from keras_bert_impl.data.swag import read_swag

        name = {"train": ("train.csv",), "dev": ("val.csv", "dev.csv")}[split]
        examples = read_swag(_one_file(data_dir, name, split))
        features = self.featurizer().featurize(examples)
        return features["x"], features["labels"], examples

    def featurizer(self):
        """The NER, SQuAD or SWAG featurizer of the task (GLUE: `preprocessor`)."""
        if self.kind == "ner":
            from keras_bert_impl.data.ner_featurizer import NerFeaturizer

            return NerFeaturizer(self.tokenizer, self.label_list, self.max_seq_length)
        if self.kind == "swag":
            from keras_bert_impl.data.swag_featurizer import SwagFeaturizer

            return SwagFeaturizer(self.tokenizer, self.max_seq_length)
        from keras_bert_impl.data.squad_featurizer import SquadFeaturizer

        return SquadFeaturizer(
            self.tokenizer,
            sequence_length=self.max_seq_length,
            doc_stride=self.doc_stride,
            max_query_length=self.max_query_length,
            version_2_with_negative=self.task_name == "squad_v2",
        )

    def build_model(self, preset, feature_layers=None):
        from keras_bert_impl.models.bert_backbone import BertBackbone

        backbone = BertBackbone.from_preset(preset)
        extra = {"feature_layers": feature_layers} if feature_layers else {}
        if self.kind == "glue":
            from keras_bert_impl.models import BertClassifier

            num_classes = 1 if self.is_regression else len(self.label_list)
            return BertClassifier(
                backbone, num_classes, preprocessor=self.preprocessor(), **extra
            )
        if self.kind == "ner":
            from keras_bert_impl.models import BertTokenClassifier

            return BertTokenClassifier(
                backbone,
                len(self.label_list),
                preprocessor=self.preprocessor(),
                **extra,
            )
        if self.kind == "squad":
            from keras_bert_impl.models import BertQuestionAnswerer

            # Its tokenizer and length serve the exported raw-string signature.
            return BertQuestionAnswerer(
                backbone, preprocessor=self.preprocessor(), **extra
            )
        from keras_bert_impl.data.swag import SWAG_NUM_CHOICES
        from keras_bert_impl.models import BertMultipleChoice

        return BertMultipleChoice(backbone, num_choices=SWAG_NUM_CHOICES, **extra)

    def metrics(self, model, x, y, examples, batch_size):
        """The task's dev metrics (GLUE's, seqeval's, SQuAD's official ones)."""
        predictions = model.predict(x, batch_size=batch_size, verbose=0)
        if self.kind == "glue":
            from keras_bert_impl.data.metrics import compute_glue_metrics

            return compute_glue_metrics(self.task_name, predictions, y)
        if self.kind == "ner":
            from keras_bert_impl.data.metrics import compute_ner_metrics

            sentences, features = examples
            tags = self.featurizer().predictions_to_tags(predictions, features)
            return compute_ner_metrics(tags, [s.ner_tags for s in sentences])
        if self.kind == "squad":
            from keras_bert_impl.data.squad_evaluation import evaluate_squad_v1
            from keras_bert_impl.data.squad_evaluation import evaluate_squad_v2

            squad_examples, features = examples
            result = self.featurizer().postprocess(features, predictions)
            if self.task_name == "squad_v2":
                return evaluate_squad_v2(
                    squad_examples, result["predictions"], result["null_odds"]
                )
            return evaluate_squad_v1(squad_examples, result["predictions"])
        from keras_bert_impl.data.metrics import accuracy

        return {"accuracy": accuracy(np.argmax(predictions, axis=-1), y)}


def _to_numpy(inputs):
    import keras

    return {k: keras.ops.convert_to_numpy(v) for k, v in inputs.items()}


def _training_dataset(x, y, batch_size, seed, by_length):
    """Shuffled, repeated training batches; deterministic for a seed, so that a
    resumed run skips exactly the batches it already took.

    With `by_length` (sentence-level labels), batches group examples of similar
    length and are padded to the smallest of a few lengths that holds them
    (`bucket_by_length`), not to `max_seq_length`.
    """
    import tensorflow as tf

    from keras_bert_impl.utils.length_bucketing import bucket_by_length
    from keras_bert_impl.utils.length_bucketing import bucket_lengths_for

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    num_examples = int(dataset.cardinality())
    dataset = dataset.shuffle(num_examples, seed=seed, reshuffle_each_iteration=True)
    if not by_length:
        return dataset.repeat().batch(batch_size, drop_remainder=True)
    sequence_length = x["padding_mask"].shape[1]
    return bucket_by_length(
        dataset.repeat(),
        batch_size,
        bucket_lengths_for(sequence_length),
        drop_remainder=True,
    )


def run_finetuning(
    task_name,
    data_dir,
    output_dir,
    preset,
    max_seq_length=128,
    train_batch_size=32,
    eval_batch_size=32,
    learning_rate=5e-5,
    num_train_epochs=3.0,
    warmup_proportion=0.1,
    save_checkpoints_steps=1000,
    vocab_file=None,
    feature_layers=None,
    random_seed=12345,
    doc_stride=128,
    max_query_length=None,
    verbose="auto",
):
    """Fine-tunes a preset on a task and evaluates it on the dev split.

    Running it again with the same arguments resumes from the newest
    checkpoint and stops at the planned step.

    Returns:
        dict: `task`, `global_step` and the task's dev metrics.
    """
    import keras

    from keras_bert_impl.optimizers.create_optimizer import create_optimizer
    from keras_bert_impl.presets import tokenizer_from_preset
    from keras_bert_impl.training.callbacks import default_callbacks

    keras.utils.set_random_seed(random_seed)
    os.makedirs(output_dir, exist_ok=True)
    tokenizer = tokenizer_from_preset(preset, vocabulary=vocab_file)
    task = TaskData(task_name, tokenizer, max_seq_length, doc_stride, max_query_length)
    x, y, _ = task.read(data_dir, "train")
    num_examples = len(y) if not isinstance(y, dict) else len(next(iter(y.values())))
    if num_examples < train_batch_size:
        raise ValueError(
            f"{data_dir} has {num_examples} training examples, fewer than "
            f"--train_batch_size={train_batch_size}."
        )
    steps_per_epoch = num_examples // train_batch_size
    num_train_steps = max(1, int(steps_per_epoch * num_train_epochs))

    model = task.build_model(preset, feature_layers)
    model.compile(
        optimizer=create_optimizer(
            "adamw",
            learning_rate=learning_rate,
            num_train_steps=num_train_steps,
            num_warmup_steps=int(num_train_steps * warmup_proportion),
        )
    )
    callbacks = default_callbacks(
        output_dir,
        save_checkpoints_steps=min(save_checkpoints_steps, num_train_steps),
        num_train_steps=num_train_steps,
        log_every_steps=max(1, min(100, steps_per_epoch)),
    )
    checkpoint = callbacks[0]
    # Token-level labels (NER) keep full-length batches: only the inputs'
    # sequence axis is trimmed by length bucketing.
    dataset = _training_dataset(
        x, y, train_batch_size, random_seed, by_length=task.kind == "glue"
    ).skip(checkpoint.initial_step)
    if checkpoint.initial_step < num_train_steps:
        model.fit(
            dataset,
            epochs=math.ceil(num_train_steps / steps_per_epoch),
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
    model.save_to_preset(pathlib.Path(output_dir) / RUN_MODEL_DIR)
    run_config = {
        "task_name": task.task_name,
        "task_kind": task.kind,
        "label_list": task.label_list,
        "is_regression": task.is_regression,
        "text_pair": task.text_pair,
        "max_seq_length": max_seq_length,
        "doc_stride": task.doc_stride,
        "max_query_length": task.max_query_length,
        "preset": str(preset),
        "lowercase": tokenizer.lowercase,
    }
    _write_json(pathlib.Path(output_dir) / RUN_CONFIG_FILE, run_config)
    # Save the vocabulary beside the model: predict and export need no preset.
    vocabulary_path = pathlib.Path(output_dir) / VOCABULARY_FILE
    vocabulary_path.write_text("\n".join(tokenizer.get_vocabulary()) + "\n")
    results = run_evaluation(output_dir, data_dir, eval_batch_size, (model, task))
    global_step = max(checkpoint.step, checkpoint.initial_step)
    results["global_step"] = int(global_step)
    _write_json(pathlib.Path(output_dir) / "eval_results.json", results)
    return results


def _write_json(path, content):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=2, default=float)


def load_run(run_dir):
    """The fine-tuned model, its `TaskData` and run config of a run directory."""
    from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer

    run_dir = pathlib.Path(run_dir)
    config_file = run_dir / RUN_CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a fine-tuning run directory: no {RUN_CONFIG_FILE}."
        )
    config = json.loads(config_file.read_text())
    # Whichever task class the run trained, as its task.json names it.
    model = load_preset_model(run_dir / RUN_MODEL_DIR)
    tokenizer = BertTokenizer(
        str(run_dir / VOCABULARY_FILE), lowercase=config["lowercase"]
    )
    task = TaskData(
        config["task_name"],
        tokenizer,
        config["max_seq_length"],
        config.get("doc_stride", 128),
        config.get("max_query_length"),
    )
    return model, task, config


def run_evaluation(run_dir, data_dir, eval_batch_size=32, loaded=None):
    """Dev metrics of a fine-tuned run on `data_dir`'s dev split.

    Args:
        run_dir: the run directory `run_finetuning` wrote.
        data_dir: the task's data folder.
        eval_batch_size: int.
        loaded: optional `(model, TaskData)` already in memory.
    """
    model, task = loaded if loaded is not None else load_run(run_dir)[:2]
    x, y, examples = task.read(data_dir, "dev")
    metrics = task.metrics(model, x, y, examples, eval_batch_size)
    return {"task": task.task_name, **{k: float(v) for k, v in metrics.items()}}


def read_prediction_inputs(path, required=()):
    """The records of a `predict` input file, one per non-blank line.

    Args:
        path: a file of JSON lines (one object each) or of plain text lines,
            read as `{"text_a": line}`.
        required: field names every record must have.

    Returns:
        list of dict.
    """
    records = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, 1):
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"{path}:{line_number}: not valid JSON ({error.msg})."
                    ) from None
            else:
                record = {"text_a": line.rstrip("\n")}
            missing = [name for name in required if name not in record]
            if missing:
                raise ValueError(
                    f"{path}:{line_number}: missing field(s) {missing}: expected "
                    f"{list(required)}, got {sorted(record)}."
                )
            records.append(record)
    return records


def _softmax(logits):
    logits = np.asarray(logits, "float64")
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return probabilities / probabilities.sum(-1, keepdims=True)


def run_prediction(run_dir, input_file, batch_size=32):
    """One result dict per input line, as DESIGN.md specifies for `predict`.

    What each task reads (JSON lines; a plain text line is `{"text_a": line}`)
    and answers:

    - GLUE: `{"text_a", "text_b"}` (`text_b` for pair tasks) ->
      `{"label", "probabilities"}`, or `{"score"}` for regression.
    - conll2003: `{"text_a"}`, words separated by spaces -> `{"tags"}`, one
      tag per word.
    - squad, squad_v2: `{"question", "context"}` -> `{"answer", "start",
      "end"}` with `context[start:end] == answer` (`""`, -1, -1: no answer).
    - swag: SWAG's CSV columns `{"sent1", "sent2", "ending0", ..., "ending3"}`
      (`sent2`, the shared start of the endings, may be left out) ->
      `{"label", "probabilities"}`: the likeliest ending's index and the
      probability of each ending.

    Args:
        run_dir: the run directory `run_finetuning` wrote.
        input_file: the input file.
        batch_size: int.
    """
    from keras_bert_impl.data.swag import SWAG_ENDING_COLUMNS

    model, task, config = load_run(run_dir)
    required = {
        "squad": ("question", "context"),
        "swag": ("sent1", *SWAG_ENDING_COLUMNS),
    }.get(task.kind, ())
    records = read_prediction_inputs(input_file, required)
    if not records:
        return []
    if task.kind == "glue":
        texts = [r.get("text_a", r.get("text", "")) for r in records]
        if any("text_b" in r for r in records):
            texts = (texts, [r.get("text_b", "") for r in records])
        x = _to_numpy(task.preprocessor()(texts))
        outputs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
        if config["is_regression"]:
            return [{"score": float(row[0])} for row in outputs]
        return [
            {
                "label": config["label_list"][int(np.argmax(row))],
                "probabilities": [float(p) for p in row],
            }
            for row in _softmax(outputs)
        ]
    featurizer = task.featurizer()
    if task.kind == "ner":
        sentences = [r.get("text_a", r.get("text", "")).split() for r in records]
        features = featurizer.featurize(sentences)
        logits = model.predict(features["x"], batch_size=batch_size, verbose=0)
        return [{"tags": t} for t in featurizer.predictions_to_tags(logits, features)]
    if task.kind == "squad":
        from keras_bert_impl.data.squad import SquadExample

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
    from keras_bert_impl.data.swag import SwagExample

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
    features = featurizer.featurize(examples)
    logits = model.predict(features["x"], batch_size=batch_size, verbose=0)
    return [
        {"label": int(np.argmax(row)), "probabilities": [float(p) for p in row]}
        for row in _softmax(logits)
    ]
