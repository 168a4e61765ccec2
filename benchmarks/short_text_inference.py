"""Inference from raw strings on short and on typical real text, peers side by side.

Workloads (real text): `short`, the first 1,000 SST-2 train phrases (mean 9.4
words, ~11 WordPiece tokens with [CLS]/[SEP]); `sst2_dev`, the 872 SST-2 dev
sentences (mean 19.5 words). Cap 128, batch 32, random weights. Peers, in one
process on one backend:

- `ours`: `BertClassifier(..., preprocessor=BertPreprocessor(...)).predict(strings)`,
  the user path: short texts packed several to a row of 128 tokens
  (`utils/packed_prediction.py`; each text attends to itself alone), else
  length-sorted batches (`utils/predict_by_length.py`: each cut to its own
  longest text on TF, under XLA to the lengths that pay for their measured
  compile); outputs in input order.
- `ours_int8`: the same after `classifier.quantize("int8")` (Keras' int8 kernels).
- `keras_hub`: its preprocessor at 128 over all strings, its backbone per batch.
- `transformers`: the fast tokenizer, length-sorted batches padded to their
  longest member (dynamic padding), `torch.inference_mode`.
- `transformers_int8`: the same after torch's dynamic int8 `Linear`
  (`torch.ao.quantization.quantize_dynamic`), the int8 path a torch user has.

`--call evaluate` times `evaluate(strings, labels)` instead (loss and
accuracy): ours and keras-hub through their task's own `evaluate` (keras-hub's
`BertTextClassifier` with its preprocessor at 128), transformers as a torch
evaluation loop (`BertForSequenceClassification` with labels, length-sorted
batches, dynamic padding). `--workloads` may add `sst2_train`, all 67,349
SST-2 train phrases.

`--dtype mixed_bfloat16` runs every peer in bfloat16: ours and keras-hub
with that Keras dtype policy, transformers under `torch.autocast`.

Each peer's first call (tracing, XLA compiles) is reported on its own; then
`--rounds` timed calls per peer, the order rotating, and a ratio is the median
of the per-round ratios (peer seconds / ours: above 1, ours is faster).

    KERAS_BACKEND=tensorflow python benchmarks/short_text_inference.py --out s.json
"""

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402
from _common import CONFIGS  # noqa: E402
from _common import machine_info  # noqa: E402
from _common import median  # noqa: E402

BUILDERS = {
    "ours": peers.ours_text_classifier_predict,
    "ours_int8": lambda c, b, n, dtype: peers.ours_text_classifier_predict(
        c, b, n, quantize="int8", dtype=dtype
    ),
    "keras_hub": peers.keras_hub_text_embedder,
    "transformers": peers.transformers_text_embedder,
    "transformers_int8": lambda c, b, n, dtype: peers.transformers_text_embedder(
        c, b, n, dtype=dtype, quantize="int8"
    ),
}
EVALUATE_BUILDERS = {
    "ours": peers.ours_text_classifier_evaluate,
    "keras_hub": peers.keras_hub_text_classifier_evaluate,
    "transformers": peers.transformers_text_classifier_evaluate,
}
WORKLOADS = {
    "short": lambda: peers.read_sst2("train", 1000),
    "sst2_dev": lambda: peers.read_sst2("dev"),
    "sst2_train": lambda: peers.read_sst2("train"),
}


def _timed(run, sentences, labels):
    start = time.perf_counter()
    run(sentences, labels)
    return time.perf_counter() - start


def _predicting(run):
    return lambda sentences, labels: run(sentences)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="base", choices=sorted(CONFIGS))
    parser.add_argument("--workloads", default="short,sst2_dev")
    parser.add_argument("--call", default="predict", choices=("predict", "evaluate"))
    parser.add_argument("--peers", default=",".join(BUILDERS))
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "mixed_bfloat16"),
        help="every peer's precision (transformers: torch.autocast to bfloat16)",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    names = args.peers.split(",")
    config = CONFIGS[args.config]
    if args.call == "evaluate":
        runners = {
            name: EVALUATE_BUILDERS[name](
                config, args.batch_size, args.sequence_length, dtype=args.dtype
            )
            for name in names
        }
    else:
        runners = {
            name: _predicting(
                BUILDERS[name](
                    config, args.batch_size, args.sequence_length, dtype=args.dtype
                )
            )
            for name in names
        }
    results = {}
    for workload in args.workloads.split(","):
        sentences, labels = WORKLOADS[workload]()
        first = {name: _timed(runners[name], sentences, labels) for name in names}
        seconds = {name: [] for name in names}
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                seconds[name].append(_timed(runners[name], sentences, labels))
            print(workload, {n: round(s[-1], 2) for n, s in seconds.items()})
        rows = {}
        for name in names:
            rows[name] = {
                "first_call_seconds": round(first[name], 2),
                "seconds": [round(s, 2) for s in seconds[name]],
                "sentences_per_second": round(len(sentences) / min(seconds[name]), 1),
            }
            if "ours" in seconds:
                ratios = [p / o for p, o in zip(seconds[name], seconds["ours"])]
                rows[name]["ours_speedup"] = round(median(ratios), 2)
        results[workload] = {"sentences": len(sentences), "peers": rows}
    result = {
        "machine": machine_info(),
        "workload": {
            "config": args.config,
            "call": args.call,
            "batch_size": args.batch_size,
            "sequence_length": args.sequence_length,
            "rounds": args.rounds,
            "dtype": args.dtype,
        },
        "results": results,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
