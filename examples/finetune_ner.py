"""Fine-tune a preset for named-entity recognition on CoNLL-2003.

The paper's NER setup: each word is cut into WordPieces on its own, only a
word's first piece carries its tag (the other pieces are left out of the
loss), and a word's prediction is read at its first piece. Trains a
`BertTokenClassifier` on `train.txt`, reports seqeval's entity-level
precision, recall and F1 on `valid.txt`, saves the tagger as a preset folder
`OUTPUT_DIR/model` and ends with one JSON line of those metrics.

Run (the defaults: ../shared/data/conll2003 with all_minilm_l6_v2):

    python examples/finetune_ner.py --output_dir=runs/ner --num_train_epochs=3
"""

import argparse
import json
import pathlib

import keras

import keras_bert_impl as kb
from keras_bert_impl.data import CONLL2003_NER_LABELS
from keras_bert_impl.data import NerFeaturizer
from keras_bert_impl.data import compute_ner_metrics
from keras_bert_impl.data import read_conll2003
from keras_bert_impl.presets import tokenizer_from_preset

# ../shared/data beside the project root, where the repository keeps its data.
SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=str(SHARED_DATA / "conll2003"))
    parser.add_argument("--preset", default="all_minilm_l6_v2")
    parser.add_argument("--vocab_file", help="vocabulary, when the preset has none")
    parser.add_argument("--output_dir", default="runs/finetune_ner")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--num_train_epochs", type=int, default=3)
    parser.add_argument("--max_train_examples", type=int, help="first N sentences")
    parser.add_argument("--max_eval_examples", type=int, help="first N dev sentences")
    parser.add_argument("--random_seed", type=int, default=12345)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.random_seed)
    data_dir = pathlib.Path(args.data_dir)
    train = read_conll2003(data_dir / "train.txt")[: args.max_train_examples]
    dev = read_conll2003(data_dir / "valid.txt")[: args.max_eval_examples]

    tokenizer = tokenizer_from_preset(args.preset, vocabulary=args.vocab_file)
    featurizer = NerFeaturizer(tokenizer, CONLL2003_NER_LABELS, args.max_seq_length)
    train_features = featurizer.featurize(train)
    dev_features = featurizer.featurize(dev)

    # Compiled with the paper's recipe; the schedule is planned by `fit`.
    tagger = kb.BertTokenClassifier(
        kb.BertBackbone.from_preset(args.preset), len(CONLL2003_NER_LABELS)
    )
    tagger.fit(
        train_features["x"],
        train_features["labels"],
        batch_size=args.train_batch_size,
        epochs=args.num_train_epochs,
    )
    logits = tagger.predict(dev_features["x"], batch_size=args.train_batch_size)
    tags = featurizer.predictions_to_tags(logits, dev_features)
    metrics = compute_ner_metrics(tags, [sentence.ner_tags for sentence in dev])
    tagger.save_to_preset(pathlib.Path(args.output_dir) / "model")
    print(json.dumps(metrics, sort_keys=True))
    return metrics


if __name__ == "__main__":
    main()
