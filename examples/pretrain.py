"""Pretrain BERT (masked LM + next sentence) on raw text, the original recipe.

Turns a corpus in the original format (one sentence per line, a blank line
between documents) into masked-LM / next-sentence examples with the
WordPiece vocabulary, builds a model from scratch with a preset's
architecture and trains it with BERT's AdamW and warmup. Rerunning the same
command resumes from the newest checkpoint in `--output_dir`; the final
pretrainer is saved as a preset folder `OUTPUT_DIR/model`. Ends with one
JSON line: global_step, masked_lm_accuracy, next_sentence_accuracy, loss.

Run (the defaults: the original sample corpus, BERT-Tiny's architecture):

    python examples/pretrain.py --output_dir=runs/pretrain --num_train_steps=1000
"""

import argparse
import json
import pathlib

from keras_bert_impl.recipes.run_pretraining import run_pretraining

# ../shared/data beside the project root, where the repository keeps its data.
SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", default=f"{SHARED_DATA}/bert_sample_text/sample_text.txt"
    )
    parser.add_argument(
        "--vocab_file", default=f"{SHARED_DATA}/vocab/uncased/vocab.txt"
    )
    parser.add_argument(
        "--preset", default="bert_tiny_en_uncased", help="architecture to train"
    )
    parser.add_argument("--output_dir", default="runs/pretrain")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--num_train_steps", type=int, default=1000)
    parser.add_argument("--num_warmup_steps", type=int, default=100)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--max_eval_steps", type=int, default=10)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    metrics = run_pretraining(
        output_dir=args.output_dir,
        corpus=args.corpus,
        vocab_file=args.vocab_file,
        preset=args.preset,
        max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq,
        train_batch_size=args.train_batch_size,
        num_train_steps=args.num_train_steps,
        num_warmup_steps=args.num_warmup_steps,
        learning_rate=args.learning_rate,
        max_eval_steps=args.max_eval_steps,
    )
    print(json.dumps(metrics, sort_keys=True))
    return metrics


if __name__ == "__main__":
    main()
