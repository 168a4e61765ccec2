"""Fine-tune a preset on a GLUE task (SST-2, MRPC, ...) and report dev metrics.

The paper's recipe: a dense layer on the pooled [CLS] vector, BERT's AdamW
with 10% linear warmup then linear decay. Trains on GLUE's `train.tsv` (or
its first `--max_train_examples` rows), evaluates on `dev.tsv`, saves the
fine-tuned classifier, preprocessor included, as a preset folder
`OUTPUT_DIR/model` (which `examples/export.py` exports) and ends with one
JSON line: the dev metrics, the training time and throughput.

Run (the defaults: SST-2 from ../shared/data with all_minilm_l6_v2):

    python examples/finetune_glue.py --output_dir=runs/sst2
    python examples/finetune_glue.py --task_name=MRPC --output_dir=runs/mrpc \
        --max_seq_length=128 --num_train_epochs=3 --train_batch_size=32
"""

import argparse
import json
import math
import pathlib
import time

import keras
import numpy as np

import keras_bert_impl as kb
from keras_bert_impl.data import compute_glue_metrics
from keras_bert_impl.data import read_glue
from keras_bert_impl.optimizers import create_optimizer
from keras_bert_impl.presets import tokenizer_from_preset

# ../shared/data beside the project root, where the repository keeps its data.
SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"

GLUE_DIR = SHARED_DATA / "glue"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task_name", default="SST-2", help="GLUE folder name")
    parser.add_argument("--data_dir", help=f"task folder (default {GLUE_DIR}/TASK)")
    parser.add_argument("--preset", default="all_minilm_l6_v2")
    parser.add_argument("--vocab_file", help="vocabulary, when the preset has none")
    parser.add_argument("--output_dir", default="runs/finetune_glue")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--eval_batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--num_train_epochs", type=int, default=3)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument(
        "--max_train_examples", type=int, help="train on the first N rows only"
    )
    parser.add_argument("--max_eval_examples", type=int, help="first N dev rows")
    parser.add_argument("--random_seed", type=int, default=12345)
    return parser.parse_args(argv)


def texts_and_labels(data, limit):
    """Raw strings (a pair of arrays for pair tasks) and label ids or scores."""
    examples = data.examples[:limit]
    texts = np.array([example.text_a for example in examples])
    if examples[0].text_b is not None:
        texts = (texts, np.array([example.text_b for example in examples]))
    if data.is_regression:
        return texts, np.array([float(e.label) for e in examples], "float32")
    label_ids = {label: index for index, label in enumerate(data.label_list)}
    return texts, np.array([label_ids[e.label] for e in examples], "int32")


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.random_seed)
    data_dir = args.data_dir or GLUE_DIR / args.task_name
    train = read_glue(args.task_name, data_dir, "train")
    dev = read_glue(args.task_name, data_dir, "dev")
    train_texts, train_labels = texts_and_labels(train, args.max_train_examples)
    dev_texts, dev_labels = texts_and_labels(dev, args.max_eval_examples)

    # The classifier tokenizes raw strings itself, in tf.data.
    tokenizer = tokenizer_from_preset(args.preset, vocabulary=args.vocab_file)
    classifier = kb.BertClassifier(
        kb.BertBackbone.from_preset(args.preset),
        num_classes=train.task.num_classes,
        preprocessor=kb.BertPreprocessor(tokenizer, args.max_seq_length),
    )
    num_train_steps = args.num_train_epochs * math.ceil(
        len(train_labels) / args.train_batch_size
    )
    classifier.compile(
        optimizer=create_optimizer(
            "adamw",
            learning_rate=args.learning_rate,
            num_train_steps=num_train_steps,
            num_warmup_steps=int(args.warmup_proportion * num_train_steps),
        )
    )
    start = time.perf_counter()
    classifier.fit(
        train_texts,
        train_labels,
        batch_size=args.train_batch_size,
        epochs=args.num_train_epochs,
    )
    train_seconds = time.perf_counter() - start

    logits = classifier.predict(dev_texts, batch_size=args.eval_batch_size)
    metrics = compute_glue_metrics(train.task.name, logits, dev_labels)
    classifier.save_to_preset(pathlib.Path(args.output_dir) / "model")
    results = {
        "task": train.task.name,
        "preset": args.preset,
        "train_examples": len(train_labels),
        "dev_examples": len(dev_labels),
        "train_seconds": train_seconds,
        "train_examples_per_second": args.num_train_epochs
        * len(train_labels)
        / train_seconds,
        **{name: float(value) for name, value in metrics.items()},
    }
    print(json.dumps(results, sort_keys=True))
    return results


if __name__ == "__main__":
    main()
