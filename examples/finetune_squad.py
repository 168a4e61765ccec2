"""Fine-tune a preset for extractive question answering on SQuAD v1.1 or v2.0.

The recipe of the original `run_squad.py`: `[CLS] question [SEP] window
[SEP]` windows over long contexts, a start and an end logit per token, and
an n-best span search to turn them back into answer text; for v2.0 the
`[CLS]` score stands for "no answer". Trains a `BertQuestionAnswerer` on the
`train*.json` file of `--data_dir`, scores the `dev*.json` file with the
official metrics (v1.1: exact_match, f1; v2.0: exact, f1 and the
HasAns_/NoAns_ split), saves the model as a preset folder
`OUTPUT_DIR/model` and ends with one JSON line of those metrics.

../shared/data/squad holds only a small v2.0 dev subset (two articles):
by default the first article trains and the second one is the dev set
(`--version=1.1` leaves out its unanswerable questions).

Run:

    python examples/finetune_squad.py --output_dir=runs/squad_v2
    python examples/finetune_squad.py --version=1.1 --data_dir=squad_v1.1/ \
        --max_seq_length=384 --num_train_epochs=2
"""

import argparse
import json
import pathlib

import keras

import keras_bert_impl as kb
from keras_bert_impl.data import SquadFeaturizer
from keras_bert_impl.data import evaluate_squad_v1
from keras_bert_impl.data import evaluate_squad_v2
from keras_bert_impl.data import read_squad
from keras_bert_impl.presets import tokenizer_from_preset

# ../shared/data beside the project root, where the repository keeps its data.
SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"

SPLITS = ("train", "dev")
SHARED_SAMPLE = str(SHARED_DATA / "squad" / "haystack_squad_v2_dev_subset_small.json")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data_dir", help="folder of train*.json and dev*.json (default: the sample)"
    )
    parser.add_argument("--version", choices=("1.1", "2.0"), default="2.0")
    parser.add_argument("--preset", default="all_minilm_l6_v2")
    parser.add_argument("--vocab_file", help="vocabulary, when the preset has none")
    parser.add_argument("--output_dir", default="runs/finetune_squad")
    parser.add_argument("--max_seq_length", type=int, default=256)
    parser.add_argument("--max_query_length", type=int, default=64)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--num_train_epochs", type=int, default=2)
    parser.add_argument("--max_train_examples", type=int, help="first N questions")
    parser.add_argument("--max_eval_examples", type=int, help="first N dev questions")
    parser.add_argument("--random_seed", type=int, default=12345)
    return parser.parse_args(argv)


def read_splits(data_dir):
    """`(train, dev)` questions: the folder's files, or the sample's two articles."""
    if data_dir is None:
        examples = read_squad(SHARED_SAMPLE)
        first_title = examples[0].title
        return (
            [e for e in examples if e.title == first_title],
            [e for e in examples if e.title != first_title],
        )
    files = [sorted(pathlib.Path(data_dir).glob(f"{split}*.json")) for split in SPLITS]
    for split, found in zip(SPLITS, files):
        if not found:
            raise FileNotFoundError(f"No {split}*.json file in {data_dir}.")
    return tuple(read_squad(found[0]) for found in files)


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.random_seed)
    train, dev = read_splits(args.data_dir)
    if args.version == "1.1":
        train, dev = (
            [e for e in split if not e.is_impossible] for split in (train, dev)
        )
    train, dev = train[: args.max_train_examples], dev[: args.max_eval_examples]

    tokenizer = tokenizer_from_preset(args.preset, vocabulary=args.vocab_file)
    featurizer = SquadFeaturizer(
        tokenizer,
        sequence_length=args.max_seq_length,
        doc_stride=args.doc_stride,
        max_query_length=args.max_query_length,
        version_2_with_negative=args.version == "2.0",
    )
    train_features = featurizer.featurize(train, training=True)
    dev_features = featurizer.featurize(dev)

    # Compiled with the paper's recipe; the schedule is planned by `fit`.
    answerer = kb.BertQuestionAnswerer(kb.BertBackbone.from_preset(args.preset))
    answerer.fit(
        train_features["x"],
        train_features["y"],
        batch_size=args.train_batch_size,
        epochs=args.num_train_epochs,
    )
    logits = answerer.predict(dev_features["x"], batch_size=args.train_batch_size)
    result = featurizer.postprocess(dev_features, logits)
    if args.version == "2.0":
        metrics = evaluate_squad_v2(dev, result["predictions"], result["null_odds"])
    else:
        metrics = evaluate_squad_v1(dev, result["predictions"])
    answerer.save_to_preset(pathlib.Path(args.output_dir) / "model")
    print(json.dumps(metrics, sort_keys=True))
    return metrics


if __name__ == "__main__":
    main()
