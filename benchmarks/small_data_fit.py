"""One `fit` call on a small dataset, compilation included: what a user waits for.

The first `--sentences` SST-2 train sentences (real text, mean ~13 tokens),
batch 32, cap 128, one epoch, random weights. Each peer builds a fresh model
(not timed) and runs one `fit` call (timed: input pipeline, tracing, XLA
compiles, training). Peers in one process, same backend:

- `ours`: `BertClassifier(..., preprocessor=BertPreprocessor(...)).fit(strings)`
  as compiled by default (length buckets; on JAX each bucket's last batch
  filled with zero-weight rows, one XLA program per bucket).
- `ours_unpadded`: the same with an unweighted metric compiled, which keeps
  the partial batches (one more program per bucket): what the padding saves.
- `keras_hub`: `BertTextClassifier` + its preprocessor at 128, our AdamW.
- `transformers_grouped`: `BertForSequenceClassification`, torch loop,
  `LengthGroupedSampler` batches padded to their longest member.
- `ours_float32`: `ours` in float32 whatever `--dtype` says: with
  `--dtype mixed_bfloat16`, whether bf16 beats our own float32 `fit`.

`--dtype mixed_bfloat16` runs every other peer at its own bf16: ours and
keras-hub under Keras' `mixed_bfloat16` policy, transformers under
`torch.autocast(bfloat16)` (float32 master weights everywhere).

`--validation dev` also validates on the 872 SST-2 dev sentences after the
epoch, as a user's `fit(..., validation_data=(texts, labels))` does (ours and
keras-hub through `fit` itself; transformers by its evaluation loop, length-
sorted batches padded to their longest member).

On JAX the number of XLA compiles during each fit is counted (JAX's own
compile events). Rounds alternate the peers' order.

    KERAS_BACKEND=jax python benchmarks/small_data_fit.py --config mini --out f.json
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
from _common import SHARED  # noqa: E402
from _common import machine_info  # noqa: E402
from _common import median  # noqa: E402

BUILDERS = {
    "ours": lambda c, b, n, dtype: peers.ours_text_classifier_fit(c, b, n, dtype=dtype),
    "ours_float32": lambda c, b, n, dtype: peers.ours_text_classifier_fit(c, b, n),
    "ours_unpadded": lambda c, b, n, dtype: peers.ours_text_classifier_fit(
        c, b, n, pad_partial_batches=False, dtype=dtype
    ),
    "keras_hub": lambda c, b, n, dtype: peers.keras_hub_text_classifier_fit(
        c, b, n, dtype=dtype
    ),
    "transformers_grouped": lambda c, b, n, dtype: (
        peers.transformers_text_classifier_fit(
            c, b, n, group_by_length=True, dtype=dtype
        )
    ),
}


class CompileCounter:
    """Counts XLA compiles on JAX (None on other backends)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        import keras

        self.count = None if keras.backend.backend() != "jax" else 0
        if self.count is not None:
            import jax

            jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if event == self.EVENT:
            self.count += 1


def _sst2(count):
    lines = (SHARED / "glue" / "SST-2" / "train.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in lines[1 : count + 1]]
    return [row[0] for row in rows], [int(row[1]) for row in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="mini", choices=sorted(CONFIGS))
    parser.add_argument("--sentences", type=int, default=1024)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--peers", default=",".join(BUILDERS))
    parser.add_argument("--validation", default=None, choices=("dev",))
    parser.add_argument(
        "--dtype", default="float32", choices=("float32", "mixed_bfloat16")
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    names = args.peers.split(",")
    config = CONFIGS[args.config]
    sentences, labels = _sst2(args.sentences)
    validation = peers.read_sst2("dev") if args.validation else None
    counter = CompileCounter()
    seconds = {name: [] for name in names}
    compiles = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            fit = BUILDERS[name](
                config, args.batch_size, args.sequence_length, args.dtype
            )
            before = counter.count
            start = time.perf_counter()
            fit(sentences, labels, validation)
            seconds[name].append(time.perf_counter() - start)
            if before is not None:
                compiles[name].append(counter.count - before)
            counted = f", {compiles[name][-1]} XLA compiles" if compiles[name] else ""
            print(f"round {round_index} {name}: {seconds[name][-1]:.1f} s{counted}")
            del fit
    rows = {}
    for name in names:
        best = min(seconds[name])
        rows[name] = {
            "seconds": [round(s, 2) for s in seconds[name]],
            "best_seconds": round(best, 2),
            "sentences_per_second": round(args.sentences / best, 1),
            "xla_compiles": compiles[name] or None,
        }
    if "ours" in rows:
        for name in names:
            ratios = [p / o for p, o in zip(seconds[name], seconds["ours"])]
            rows[name]["ours_speedup"] = round(median(ratios), 2)
    result = {
        "machine": machine_info(),
        "workload": {
            "config": args.config,
            "sentences": args.sentences,
            "validation": args.validation,
            "dtype": args.dtype,
            "batch_size": args.batch_size,
            "sequence_length": args.sequence_length,
            "rounds": args.rounds,
        },
        "peers": rows,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
