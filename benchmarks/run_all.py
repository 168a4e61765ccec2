"""The benchmark suite: keras_bert_impl against keras-hub and transformers.

One entry point, on the Keras backend that `KERAS_BACKEND` names. Sections:

- `train`: pretraining train step (MLM + NSP), BERT-Base, seq 128, batch 8,
  20 mask positions — ours (`BertPretrainer.train_on_batch`, compiled as
  `compile()` defaults it: XLA) vs keras-hub `BertMaskedLM` (no NSP head: it
  has none) vs `transformers.BertForPreTraining` (torch, eager).
- `inference`: fixed-length inference, BERT-Base, seq 128, batch 32 — ours
  `BertBackbone` vs keras-hub `BertBackbone` vs transformers `BertModel`.
- `sst2`: embed the 872 SST-2 dev sentences end to end from strings — ours with
  length bucketing (`keras_bert_impl.utils.length_bucketing`) vs keras-hub's
  preprocessor + backbone at length 128 vs transformers' tokenizer with
  length-sorted dynamic padding.
- `finetune_strings`: fine-tune BERT-Base on the first 4,000 SST-2 training
  sentences from Python lists of strings, batch 32, length cap 128 — ours
  `BertClassifier(..., preprocessor=BertPreprocessor(...)).fit` vs keras-hub
  `BertTextClassifier` + its preprocessor at 128 vs transformers
  `BertForSequenceClassification` with dynamic padding (shuffled, and
  length-grouped). `--finetune_steps` x batch real sentences are timed after a
  warm-up that compiles every shape; a full epoch is estimated from the steady
  rate (ours: each bucket length's step time x the epoch's batches per bucket)
  plus the compilation time.
- `ablations`: the speed options of our model, side by side (XLA on/off,
  attention implementation, fused QKV, steps_per_execution).
- `memory`: peak RSS of each peer's train step and inference batch, each in a
  fresh subprocess (a shared process cannot attribute its peak).
- `tokenizer`, `pretraining_data`: the owners' scripts
  (benchmarks/tokenizer_throughput.py, benchmarks/pretraining_data_throughput.py),
  run as they are; their JSON is folded in.

Every timed section runs its peers in the same process, interleaved round by
round together with fp32 matmuls of BERT-Base's FFN shape, the machine's rate
(the best framework's) against which model FLOP utilisation (MFU) is reported.
Ratios are medians of per-round ratios, so shared-machine noise cancels.

Results go to benchmarks/results/<backend>.json and .md; sections run in separate
invocations are merged into the same files.

    KERAS_BACKEND=jax python benchmarks/run_all.py                 # everything
    KERAS_BACKEND=tensorflow python benchmarks/run_all.py --sections train,inference
    KERAS_BACKEND=jax python benchmarks/run_all.py --sections finetune_strings
    python benchmarks/run_all.py --tiny                            # smoke run
"""

import argparse
import datetime
import functools
import gc
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
from _common import CONFIGS  # noqa: E402
from _common import RESULTS  # noqa: E402
from _common import ROOT  # noqa: E402
from _common import machine_info  # noqa: E402

SECTIONS = (
    "train",
    "inference",
    "sst2",
    "finetune_strings",
    "ablations",
    "memory",
    "tokenizer",
    "pretraining_data",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--skip", default="", help="comma-separated sections to skip")
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny model")
    parser.add_argument("--config", choices=sorted(CONFIGS), default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--train_batch", type=int, default=8)
    parser.add_argument("--train_length", type=int, default=128)
    parser.add_argument("--num_masks", type=int, default=20)
    parser.add_argument("--infer_batch", type=int, default=32)
    parser.add_argument("--infer_length", type=int, default=128)
    parser.add_argument("--text_batch", type=int, default=32)
    parser.add_argument("--text_length", type=int, default=128)
    parser.add_argument(
        "--bucket_lengths",
        default="auto",
        help="comma-separated ints, or auto: bucket_lengths_for(--text_length)",
    )
    parser.add_argument("--sst2_limit", type=int, default=None)
    parser.add_argument(
        "--sst2_chunks",
        type=int,
        default=2,
        help="interleave the peers over this many slices of the sentences",
    )
    parser.add_argument(
        "--finetune_sentences",
        type=int,
        default=4000,
        help="the first N SST-2 training sentences: the epoch estimated",
    )
    parser.add_argument(
        "--finetune_steps",
        type=int,
        default=8,
        help="timed optimizer steps per peer (x --text_batch sentences)",
    )
    parser.add_argument(
        "--finetune_rounds",
        type=int,
        default=1,
        help="interleave the peers over this many slices of the timed steps",
    )
    parser.add_argument(
        "--finetune_memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="peak RSS of each peer's fine-tuning warm-up, in a fresh process",
    )
    parser.add_argument(
        "--peers",
        default="ours,keras_hub,transformers",
        help="comma-separated subset of peers",
    )
    parser.add_argument(
        "--ablations", default=None, help="comma-separated subset of ablations"
    )
    parser.add_argument("--output_dir", default=str(RESULTS))
    parser.add_argument("--fresh", action="store_true", help="drop earlier sections")
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.config = args.config or "tiny"
        args.rounds = args.rounds or 2
        args.sst2_limit = args.sst2_limit or 48
        args.train_batch, args.infer_batch = (
            min(args.train_batch, 4),
            min(args.infer_batch, 8),
        )
        args.text_batch = min(args.text_batch, 8)
        # Three bucket lengths (16, 24, 32): fewer programs to compile.
        args.text_length = min(args.text_length, 32)
        args.finetune_sentences = min(args.finetune_sentences, 64)
        args.finetune_steps = min(args.finetune_steps, 4)
    args.config = args.config or "base"
    args.rounds = args.rounds or 5
    if args.bucket_lengths == "auto":
        from keras_bert_impl.utils.length_bucketing import bucket_lengths_for

        args.bucket_lengths = bucket_lengths_for(args.text_length)
    else:
        args.bucket_lengths = tuple(int(x) for x in args.bucket_lengths.split(","))
    args.peers = [p for p in args.peers.split(",") if p]
    return args


# ---------------------------------------------------------------- helpers


def _with_matmul(steps):
    matmuls = _common.matmul_steps()
    all_steps = dict(steps)
    all_steps.update({f"matmul:{name}": step for name, step in matmuls.items()})
    return all_steps, matmuls


def _matmul_rate(matmuls, warmup=2):
    """Per-round machine rate: the best framework's best matmul in that round."""
    per_framework = {
        name: _common.median(step.rates[warmup:]) for name, step in matmuls.items()
    }
    per_round = [
        max(rates) for rates in zip(*(s.rates[warmup:] for s in matmuls.values()))
    ]
    return per_framework, per_round


def _summarise(timings, matmuls, flops_per_unit, items_per_unit, item):
    per_framework, rate_per_round = _matmul_rate(matmuls)
    peers = [name for name in timings if not name.startswith("matmul:")]
    summary = {
        "matmul_gflops": {k: round(v / 1e9, 1) for k, v in per_framework.items()},
        "machine_gflops": round(_common.median(rate_per_round) / 1e9, 1),
        "machine_gflops_per_round": [round(r / 1e9, 1) for r in rate_per_round],
        "peers": {},
    }
    for name in peers:
        seconds = timings[name]["seconds"]
        mfu = [flops_per_unit / s / rate for s, rate in zip(seconds, rate_per_round)]
        summary["peers"][name] = {
            "seconds": [round(s, 4) for s in seconds],
            "warmup_seconds": [round(s, 2) for s in timings[name]["warmup_seconds"]],
            f"{item}_per_second": round(items_per_unit / _common.median(seconds), 3),
            "mfu": round(_common.median(mfu), 3),
        }
    if "ours" in peers:
        for name in peers:
            summary["peers"][name]["ours_speedup"] = round(
                _common.per_round_ratio(
                    timings[name]["seconds"], timings["ours"]["seconds"]
                ),
                3,
            )
    return summary


# ---------------------------------------------------------------- sections


def section_train(args):
    import peers

    config = CONFIGS[args.config]
    shape = (args.train_batch, args.train_length, args.num_masks)
    builders = {
        "ours": lambda: peers.ours_train_step(config, *shape),
        "keras_hub": lambda: peers.keras_hub_train_step(config, *shape),
        "transformers": lambda: peers.transformers_train_step(config, *shape),
    }
    steps = {name: builders[name]() for name in args.peers if name in builders}
    jit = {
        name: getattr(step.model, "jit_compile", None) for name, step in steps.items()
    }
    all_steps, matmuls = _with_matmul(steps)
    timings = _common.interleaved(all_steps, args.rounds, warmup=2)
    flops = _common.training_flops(
        args.train_batch
        * _common.pretraining_flops_per_sequence(
            config, args.train_length, args.num_masks
        )
    )
    summary = _summarise(timings, matmuls, flops, args.train_batch, "sequences")
    for name, value in jit.items():
        summary["peers"][name]["jit_compile"] = value
    summary.update(
        config=args.config,
        batch=args.train_batch,
        sequence_length=args.train_length,
        mask_positions=args.num_masks,
        model_tflops_per_step=round(flops / 1e12, 4),
        notes=[
            "keras_hub: BertMaskedLM has no NSP head, so its step does slightly "
            "less work (pooler + NSP); MFU credits every peer with the same FLOPs.",
            "transformers: BertForPreTraining projects all positions onto the "
            "vocabulary (extra work not credited); torch eager, its default SDPA "
            "attention; AdamW + clip-norm 1.0 as in our recipe.",
        ],
    )
    return summary


def section_inference(args):
    import peers

    config = CONFIGS[args.config]
    shape = (args.infer_batch, args.infer_length)
    builders = {
        "ours": lambda: peers.ours_inference_step(config, *shape),
        "keras_hub": lambda: peers.keras_hub_inference_step(config, *shape),
        "transformers": lambda: peers.transformers_inference_step(config, *shape),
    }
    steps = {name: builders[name]() for name in args.peers if name in builders}
    all_steps, matmuls = _with_matmul(steps)
    timings = _common.interleaved(all_steps, args.rounds, warmup=2)
    flops = args.infer_batch * _common.encoder_flops_per_sequence(
        config, args.infer_length
    )
    summary = _summarise(timings, matmuls, flops, args.infer_batch, "sequences")
    summary.update(
        config=args.config,
        batch=args.infer_batch,
        sequence_length=args.infer_length,
        model_tflops_per_batch=round(flops / 1e12, 4),
    )
    return summary


def _warmup_sentences(lengths, batch):
    """Sentences that fill every bucket: compile each shape before timing."""
    sentences = []
    for length in lengths:
        sentences += [" ".join(["word"] * (length - 2))] * batch
    return sentences


def _real_lengths(sentences, length_cap):
    """Tokens of each sentence with [CLS] and [SEP], capped (numpy ints).

    Our tokenizer; transformers' gives the same counts.
    """
    import numpy as np
    import peers

    from keras_bert_impl.tokenizers import BertTokenizer

    tokenizer = BertTokenizer(peers.VOCAB)
    lengths = [len(ids) for ids in tokenizer(list(sentences))]
    return np.minimum(np.array(lengths) + 2, length_cap)


def _real_token_flops(config, real_lengths):
    """Forward FLOPs of the real tokens only: padding is waste, not work."""
    return float(
        sum(_common.encoder_flops_per_sequence(config, int(n)) for n in real_lengths)
    )


def _machine_rate():
    """The best framework's fp32 matmul rate, measured once after a long section."""
    matmuls = _common.matmul_steps()
    _common.interleaved(matmuls, 3, warmup=1)
    return max(_common.median(step.rates[1:]) for step in matmuls.values())


def section_sst2(args):
    import numpy as np
    import peers

    config = CONFIGS[args.config]
    sentences, _ = peers.read_sst2("dev", args.sst2_limit)
    batch, length = args.text_batch, args.text_length
    builders = {
        "ours": lambda: peers.ours_text_embedder(
            config, batch, length, args.bucket_lengths
        ),
        "keras_hub": lambda: peers.keras_hub_text_embedder(config, batch, length),
        "transformers": lambda: peers.transformers_text_embedder(config, batch, length),
    }
    embedders = {name: builders[name]() for name in args.peers if name in builders}
    # Compile every shape each peer will see, then time slices of the real text.
    warmup = {}
    for name, embed in embedders.items():
        start = time.perf_counter()
        # Ours compiles one program per bucket length; the peers need one batch.
        lengths = args.bucket_lengths if name == "ours" else args.bucket_lengths[-1:]
        embed(_warmup_sentences(lengths, batch))
        warmup[name] = round(time.perf_counter() - start, 2)
    chunks = np.array_split(np.array(sentences, dtype=object), args.sst2_chunks)
    chunks = [list(chunk) for chunk in chunks]
    seconds = {name: [] for name in embedders}
    shapes = set()
    for index, chunk in enumerate(chunks):
        names = list(embedders)
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            output = embedders[name](chunk)
            seconds[name].append(time.perf_counter() - start)
            assert output.shape == (len(chunk), config["hidden_dim"])
            if name == "ours":
                shapes.update(embedders[name].shapes)
    real_lengths = _real_lengths(sentences, length)
    useful_flops = _real_token_flops(config, real_lengths)
    rate = _machine_rate()
    summary = {
        "config": args.config,
        "sentences": len(sentences),
        "batch": batch,
        "length_cap": length,
        "bucket_lengths": list(args.bucket_lengths),
        "mean_real_tokens": round(float(real_lengths.mean()), 1),
        "machine_gflops": round(rate / 1e9, 1),
        "ours_compiled_shapes": [list(s) for s in sorted(shapes)],
        "peers": {},
    }
    for name in embedders:
        total = sum(seconds[name])
        summary["peers"][name] = {
            "seconds": [round(s, 3) for s in seconds[name]],
            "warmup_seconds": warmup[name],
            "sentences_per_second": round(len(sentences) / total, 3),
            "mfu": round(useful_flops / total / rate, 3),
        }
        if "ours" in embedders:
            summary["peers"][name]["ours_speedup"] = round(
                _common.per_round_ratio(seconds[name], seconds["ours"]), 3
            )
    summary["notes"] = [
        "End to end from Python strings to pooled embeddings in input order.",
        "MFU counts only the real (unpadded) tokens' FLOPs: padding is waste.",
        "Warm-up (compiling every bucket shape) is excluded from the timing and "
        "reported as warmup_seconds.",
    ]
    return summary


def _finetune_warmup_lengths(args, name):
    """Ours trains one program per bucket length; the peers' longest batch."""
    return args.bucket_lengths if name == "ours" else args.bucket_lengths[-1:]


def _finetune_builders(config, batch, length):
    import peers

    return {
        "ours": lambda: peers.ours_text_classifier_fit(config, batch, length),
        "keras_hub": lambda: peers.keras_hub_text_classifier_fit(config, batch, length),
        "transformers": lambda: peers.transformers_text_classifier_fit(
            config, batch, length
        ),
        "transformers_grouped": lambda: peers.transformers_text_classifier_fit(
            config, batch, length, group_by_length=True
        ),
    }


def _timed_fit(fit, sentences, labels=None):
    start = time.perf_counter()
    fit(sentences, labels or [index % 2 for index in range(len(sentences))])
    return time.perf_counter() - start


def _finetune_warmup(name, fit, lengths, batch):
    """Compilation time of one peer and, with several lengths, each one's step.

    Two identical `fit` passes over one batch of every length: the first
    compiles each shape (and trains), the second only trains; the difference
    is the compilation. Then `fit` per length times its step. Each `fit`
    call also pays a fixed setup (the input pipeline), measured as
    `2 x fit(1 batch) - fit(2 batches)` at the shortest length and taken out
    of the step times, so that they add up to an epoch of many batches.
    """
    passes = [_timed_fit(fit, _warmup_sentences(lengths, batch)) for _ in range(2)]
    _common._log(f"warm-up {name}: {passes[0]:.1f} s, then {passes[1]:.1f} s")
    result = {
        "warmup_seconds": [round(s, 2) for s in passes],
        "compile_seconds": max(passes[0] - passes[1], 0.0),
    }
    if len(lengths) > 1:
        # The better of two calls per length: a shared machine's bursts (and a
        # first call's one-off costs) would otherwise swamp short steps.
        calls = {
            length: min(
                _timed_fit(fit, _warmup_sentences([length], batch)) for _ in range(2)
            )
            for length in lengths
        }
        two_batches = _timed_fit(fit, _warmup_sentences(lengths[:1], batch) * 2)
        overhead = max(2 * calls[lengths[0]] - two_batches, 0.0)
        _common._log(f"{name} per length: {calls}, 2 batches {two_batches:.2f} s")
        result["fit_call_overhead_seconds"] = round(overhead, 2)
        result["step_seconds"] = {
            length: round(max(seconds - overhead, 0.0), 3)
            for length, seconds in calls.items()
        }
    return result


def _bucketed_seconds(real_lengths, batch, bucket_lengths, step_seconds):
    """Steady seconds of one `fit` over examples of `real_lengths`, bucketed.

    Every bucket's batches, its last partial one counted as a full step.
    """
    import numpy as np

    buckets = np.searchsorted(bucket_lengths, real_lengths)
    counts = np.bincount(buckets, minlength=len(bucket_lengths))
    return float(
        sum(
            -(-int(count) // batch) * step_seconds[length]
            for count, length in zip(counts, bucket_lengths)
        )
    )


def section_finetune_strings(args):
    import numpy as np
    import peers

    config = CONFIGS[args.config]
    batch, length = args.text_batch, args.text_length
    sentences, labels = peers.read_sst2("train", args.finetune_sentences)
    timed = args.finetune_steps * batch
    if timed > len(sentences):
        sys.exit(
            f"--finetune_steps {args.finetune_steps} x batch {batch} = {timed} "
            f"sentences; --finetune_sentences holds only {len(sentences)}."
        )
    builders = _finetune_builders(config, batch, length)
    # The length-grouped variant of transformers comes with transformers.
    names = [
        name
        for name in builders
        if name in args.peers or name.removesuffix("_grouped") in args.peers
    ]
    fits = {name: builders[name]() for name in names}
    warmup = {
        name: _finetune_warmup(name, fit, _finetune_warmup_lengths(args, name), batch)
        for name, fit in fits.items()
    }
    # Timed: the first `timed` real sentences, one slice per round, the peers'
    # order rotating, each slice one `fit` epoch of every peer. Ours meets
    # them twice: the first time brings shapes the warm-up could not (each
    # bucket's partial last batch), the second is the steady state.
    bounds = np.linspace(0, timed, args.finetune_rounds + 1).astype(int)
    slices = [slice(bounds[i], bounds[i + 1]) for i in range(args.finetune_rounds)]
    seconds = {name: {"first": [], "steady": []} for name in fits}
    for phase in ("first", "steady"):
        for index, part in enumerate(slices):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                if phase == "first" and name != "ours":
                    continue
                took = _timed_fit(fits[name], sentences[part], labels[part])
                seconds[name][phase].append(took)
                _common._log(f"{phase} round {index} {name}: {took:.2f} s")
    real_lengths = _real_lengths(sentences, length)
    timed_flops = _common.training_flops(
        _real_token_flops(config, real_lengths[:timed])
    )
    rate = _machine_rate()
    summary = {
        "config": args.config,
        "sentences": len(sentences),
        "timed_sentences": timed,
        "timed_steps": args.finetune_steps,
        "rounds": args.finetune_rounds,
        "batch": batch,
        "length_cap": length,
        "bucket_lengths": list(args.bucket_lengths),
        "mean_real_tokens": round(float(real_lengths.mean()), 1),
        "machine_gflops": round(rate / 1e9, 1),
        "peers": {},
    }
    epoch_seconds = {}
    for name in fits:
        steady, entry = seconds[name]["steady"], dict(warmup[name])
        compile_seconds = entry.pop("compile_seconds")
        steady_epoch = len(sentences) * sum(steady) / timed
        if name == "ours":
            # Shapes first met in the timed slices; an epoch meets its own.
            compile_seconds += max(sum(seconds[name]["first"]) - sum(steady), 0.0)
            entry["first_pass_seconds"] = [round(s, 2) for s in seconds[name]["first"]]
            # A slice of a few batches is mostly partial batches, one per
            # bucket; an epoch is mostly full ones: it is estimated from the
            # step time of each bucket length and the epoch's bucket sizes.
            step_seconds, overhead = (
                entry["step_seconds"],
                entry["fit_call_overhead_seconds"],
            )
            entry["slice_seconds_predicted"] = [
                round(
                    overhead
                    + _bucketed_seconds(
                        real_lengths[part], batch, args.bucket_lengths, step_seconds
                    ),
                    2,
                )
                for part in slices
            ]
            steady_epoch = overhead + _bucketed_seconds(
                real_lengths, batch, args.bucket_lengths, step_seconds
            )
        epoch_seconds[name] = compile_seconds + steady_epoch
        summary["peers"][name] = {
            "seconds": [round(s, 2) for s in steady],
            "sentences_per_second": round(timed / sum(steady), 3),
            "mfu": round(timed_flops / sum(steady) / rate, 3),
            "compile_seconds": round(compile_seconds, 1),
            "epoch_steady_seconds_estimate": round(steady_epoch, 1),
            "epoch_seconds_estimate": round(epoch_seconds[name], 1),
            "epoch_steady_sentences_per_second": round(
                len(sentences) / steady_epoch, 3
            ),
            "epoch_sentences_per_second": round(
                len(sentences) / epoch_seconds[name], 3
            ),
            **entry,
        }
    if "ours" in fits:
        for name in fits:
            peer = summary["peers"][name]
            peer["ours_speedup"] = round(
                _common.per_round_ratio(
                    seconds[name]["steady"], seconds["ours"]["steady"]
                ),
                3,
            )
            peer["ours_epoch_steady_speedup"] = round(
                peer["epoch_steady_seconds_estimate"]
                / summary["peers"]["ours"]["epoch_steady_seconds_estimate"],
                3,
            )
            peer["ours_epoch_speedup"] = round(
                epoch_seconds[name] / epoch_seconds["ours"], 3
            )
    if args.finetune_memory:
        # The probes' processes need the memory these models hold.
        fits.clear()
        gc.collect()
        probed = [name for name in args.peers if name in builders]
        summary["memory"] = _run_probes(args, "finetune_strings", probed)
    summary["notes"] = [
        "Each peer trains from Python lists of strings and int labels (random "
        "init, dropout 0.1, BERT's AdamW with clip-norm 1.0 for every peer).",
        "sentences/s (slice): timed_sentences (the first of the training file, "
        "one slice per round, one `fit` call per slice and peer) over their "
        "seconds; ours bucketed by length inside `fit`, so a slice of a few "
        "batches is mostly partial batches (one per bucket) and this rate is "
        "pessimistic for ours.",
        "Epoch estimate, steady: peers = sentences / slice rate; ours = the "
        "epoch's batches per bucket (our tokenizer's lengths) x each bucket "
        "length's measured step time (partial batches counted as full), checked "
        "against the slices (slice_seconds_predicted vs seconds).",
        "compile_seconds = first - second of two identical warm-up passes (one "
        "batch per length: ours every bucket length, the peers the cap), plus "
        "for ours the first - second pass over the slices (partial batches are "
        "new shapes). Epoch estimate = compile_seconds + steady epoch.",
        "MFU counts the real (unpadded) tokens' training FLOPs (3x forward) only; "
        "over the timed slices.",
        "Peak RSS: a fresh process per peer, one warm-up pass (ours: every bucket "
        "length).",
    ]
    return summary


def section_ablations(args):
    import ablations

    return ablations.run(args)


def _run_probes(args, work, names):
    """Peak RSS of each peer's `work`, each in a fresh process (see `probe`).

    Returns `{"work:name": probe result or {"error": ...}}`, each with its
    peak relative to ours where both are there.
    """
    results = {}
    for name in names:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--probe",
            f"{work}:{name}",
            "--config",
            args.config,
            "--train_batch",
            str(args.train_batch),
            "--train_length",
            str(args.train_length),
            "--num_masks",
            str(args.num_masks),
            "--infer_batch",
            str(args.infer_batch),
            "--infer_length",
            str(args.infer_length),
            "--text_batch",
            str(args.text_batch),
            "--text_length",
            str(args.text_length),
            "--bucket_lengths",
            ",".join(str(length) for length in args.bucket_lengths),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            results[f"{work}:{name}"] = {"error": done.stderr[-2000:]}
            continue
        results[f"{work}:{name}"] = json.loads(done.stdout.strip().splitlines()[-1])
    ours = results.get(f"{work}:ours", {}).get("peak_above_imports_mib")
    for entry in results.values():
        if ours and entry.get("peak_above_imports_mib"):
            entry["relative_to_ours"] = round(entry["peak_above_imports_mib"] / ours, 3)
    return results


def section_memory(args):
    """Peak RSS of each peer's work in a fresh process (imports all peers first)."""
    results = {}
    for work in ("train", "inference"):
        results.update(_run_probes(args, work, args.peers))
    return {
        "config": args.config,
        "probes": results,
        "notes": [
            "Each probe: a fresh process imports keras (this backend), keras_hub, "
            "torch and transformers, records RSS, then builds the peer and runs "
            "warm-up + 2 steps; peak_above_imports = ru_maxrss - that RSS "
            "(weights, optimizer state, activations, compiled code).",
        ],
    }


def probe(args):
    """Child process of `_run_probes`."""
    import keras  # noqa: F401
    import keras_hub  # noqa: F401
    import peers
    import torch  # noqa: F401
    import transformers  # noqa: F401

    baseline = _common.current_rss()
    work, name = args.probe.split(":")
    config = CONFIGS[args.config]
    repeats = 4
    if work == "train":
        step = getattr(peers, f"{name}_train_step")(
            config, args.train_batch, args.train_length, args.num_masks
        )
    elif work == "finetune_strings":
        fit = getattr(peers, f"{name}_text_classifier_fit")(
            config, args.text_batch, args.text_length
        )
        warm = _warmup_sentences(_finetune_warmup_lengths(args, name), args.text_batch)
        step = functools.partial(fit, warm, [0] * len(warm))
        # One warm-up pass trains every shape: ours has 8 of them, and the
        # largest one's activations are the peak.
        repeats = 1
    else:
        step = getattr(peers, f"{name}_inference_step")(
            config, args.infer_batch, args.infer_length
        )
    for _ in range(repeats):
        step()
    peak = _common.max_rss()
    print(
        json.dumps(
            {
                "imports_rss_mib": _common.mib(baseline),
                "peak_rss_mib": _common.mib(peak),
                "peak_above_imports_mib": _common.mib(peak - baseline),
            }
        )
    )


def _owner_script(args, script, tiny_flags, output_name):
    path = ROOT / "benchmarks" / script
    if not path.is_file():
        return {"status": f"{script} is not there yet (its owner writes it)"}
    output = os.path.join(args.output_dir, f"{_common.backend_name()}_{output_name}")
    shown = os.path.abspath(output)
    if shown.startswith(str(ROOT) + os.sep):
        shown = os.path.relpath(shown, ROOT)
    command = [sys.executable, os.path.relpath(path, ROOT), "--output", shown]
    if args.tiny:
        help_text = subprocess.run(
            [sys.executable, str(path), "--help"],
            capture_output=True,
            text=True,
        ).stdout
        for flag, value in tiny_flags:
            if flag in help_text:
                command += [flag] + ([value] if value is not None else [])
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    result = {
        "command": " ".join(command[1:]),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "returncode": done.returncode,
    }
    if done.returncode:
        result["stderr_tail"] = done.stderr[-2000:]
    elif os.path.isfile(output):
        with open(output) as f:
            result["result"] = json.load(f)
    return result


def section_tokenizer(args):
    return _owner_script(
        args,
        "tokenizer_throughput.py",
        [("--repeats", "1"), ("--legacy_sentences", "100")],
        "tokenizer_throughput.json",
    )


def section_pretraining_data(args):
    return _owner_script(
        args,
        "pretraining_data_throughput.py",
        [("--corpus_mb", "0.05"), ("--repeats", "1"), ("--dupe_factor", "1")],
        "pretraining_data_throughput.json",
    )


# ---------------------------------------------------------------- output


def _fmt(value, spec="{:.2f}"):
    return "—" if value is None else spec.format(value)


def markdown(results):
    backend = results["machine"]["backend"]
    lines = [
        f"# Benchmarks — backend `{backend}`",
        "",
        f"Machine: {results['machine'].get('cpu')} ({results['machine']['cpu_count']} "
        f"cores; flags {', '.join(results['machine'].get('cpu_flags', []))}), "
        f"keras {results['machine']['keras']}. Command: "
        f"`KERAS_BACKEND={backend} python benchmarks/run_all.py`.",
        "Speedup = peer time / our time, median over interleaved rounds (>1: ours "
        "is faster). MFU = model FLOP/s / the fp32 matmul rate measured in the "
        "same rounds.",
        "",
    ]
    sections = results["sections"]
    titles = {
        "train": "Pretraining train step (MLM + NSP)",
        "inference": "Fixed-length inference",
        "sst2": "SST-2 dev, end to end from strings",
    }
    memory = sections.get("memory", {}).get("probes", {})
    for key, title in titles.items():
        if key not in sections:
            continue
        section = sections[key]
        shape = (
            f"batch {section['batch']}, seq {section['sequence_length']}"
            if "sequence_length" in section
            else f"{section['sentences']} sentences, batch {section['batch']}, "
            f"cap {section['length_cap']}, buckets {section['bucket_lengths']}, "
            f"mean real length {section['mean_real_tokens']}"
        )
        lines += [
            f"## {title} — {section['config']}, {shape}",
            "",
            f"Machine fp32 matmul rate: {section['machine_gflops']} GFLOP/s "
            f"(per framework: {section.get('matmul_gflops', '—')}).",
            "",
            "| peer | ours speedup | items/s | MFU | peak RSS vs ours |",
            "|---|---|---|---|---|",
        ]
        for name, peer in section["peers"].items():
            rate = next(v for k, v in peer.items() if k.endswith("_per_second"))
            mem = memory.get(f"{key}:{name}", {}).get("relative_to_ours")
            lines.append(
                f"| {name} | {_fmt(peer.get('ours_speedup'))}× | {rate:.2f} | "
                f"{_fmt(peer.get('mfu'), '{:.0%}')} | {_fmt(mem)}× |"
            )
        for note in section.get("notes", []):
            lines.append(f"\n- {note}")
        lines.append("")
    if "finetune_strings" in sections:
        lines += _finetune_lines(sections["finetune_strings"])
    if "ablations" in sections:
        lines += ["## Speed options of our model (ablations)", ""]
        lines += [
            "| experiment | variant | relative speed (>1: faster than baseline) |",
            "|---|---|---|",
        ]
        for experiment, entry in sections["ablations"].get("experiments", {}).items():
            for variant, value in entry.get("relative_speed", {}).items():
                lines.append(f"| {experiment} | {variant} | {value:.3f} |")
        for note in sections["ablations"].get("notes", []):
            lines.append(f"\n- {note}")
        lines.append("")
    if memory:
        lines += ["## Peak memory (fresh process per peer)", ""]
        lines += ["| work:peer | peak above imports (MiB) | vs ours |", "|---|---|---|"]
        for name, entry in memory.items():
            lines.append(
                f"| {name} | {entry.get('peak_above_imports_mib', 'error')} | "
                f"{_fmt(entry.get('relative_to_ours'))}× |"
            )
        lines.append("")
    for key in ("tokenizer", "pretraining_data"):
        if key in sections:
            lines += [f"## {key} (the owner's script; details in the JSON)", ""]
            lines += _owner_lines(sections[key])
            lines.append("")
    return "\n".join(lines) + "\n"


def _finetune_lines(section):
    lines = [
        f"## Fine-tuning from strings (SST-2 train) — {section['config']}, "
        f"{section['sentences']} sentences (epoch), {section['timed_sentences']} "
        f"timed in {section['rounds']} rounds, batch {section['batch']}, cap "
        f"{section['length_cap']}, buckets {section['bucket_lengths']}, mean real "
        f"length {section['mean_real_tokens']}",
        "",
        f"Machine fp32 matmul rate: {section['machine_gflops']} GFLOP/s.",
        "",
        "| peer | sentences/s (slice) | ours speedup | epoch sentences/s (steady) "
        "| ours speedup | compile s | epoch sentences/s (with compile) | ours "
        "speedup | MFU | peak RSS vs ours |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    memory = section.get("memory", {})
    for name, peer in section["peers"].items():
        mem = memory.get(f"finetune_strings:{name}", {}).get("relative_to_ours")
        lines.append(
            f"| {name} | {peer['sentences_per_second']:.2f} | "
            f"{_fmt(peer.get('ours_speedup'))}× | "
            f"{peer['epoch_steady_sentences_per_second']:.2f} | "
            f"{_fmt(peer.get('ours_epoch_steady_speedup'))}× | "
            f"{peer['compile_seconds']:.0f} | "
            f"{peer['epoch_sentences_per_second']:.2f} | "
            f"{_fmt(peer.get('ours_epoch_speedup'))}× | "
            f"{_fmt(peer.get('mfu'), '{:.0%}')} | {_fmt(mem)}× |"
        )
    for note in section.get("notes", []):
        lines.append(f"\n- {note}")
    lines.append("")
    return lines


def _owner_lines(entry):
    result = entry.get("result")
    if not result:
        return [entry.get("status") or f"returncode {entry.get('returncode')}"]
    lines = [f"`{entry['command']}`", ""]
    for row in result.get("results", []):
        ratios = ", ".join(
            f"{k} {v}" for k, v in row.items() if k.startswith("ratio") and v
        )
        lines.append(
            f"- {row.get('name')}: {row.get('sentences_per_second')}/s {ratios}"
        )
    for name, run in result.get("runs", {}).items():
        lines.append(
            f"- {name}: {round(run.get('instances_per_second', 0))} instances/s"
        )
    if result.get("peer_note"):
        lines.append(f"- peer: {result['peer_note']}")
    return lines


def main(argv=None):
    args = parse_args(argv)
    if args.probe:
        return probe(args)
    import keras

    backend = keras.backend.backend()
    os.makedirs(args.output_dir, exist_ok=True)
    json_path = os.path.join(args.output_dir, f"{backend}.json")
    results = {"sections": {}}
    if os.path.isfile(json_path) and not args.fresh:
        with open(json_path) as f:
            results = json.load(f)
    results["machine"] = machine_info()
    wanted = [s for s in args.sections.split(",") if s]
    skipped = [s for s in args.skip.split(",") if s]
    for name in wanted + skipped:
        if name not in SECTIONS:
            sys.exit(f"unknown section {name!r}; choose from {SECTIONS}")
    for name in [s for s in wanted if s not in skipped]:
        start = time.perf_counter()
        print(f"[run_all] {backend}: {name} ...", file=sys.stderr, flush=True)
        section = globals()[f"section_{name}"](args)
        section["wall_seconds"] = round(time.perf_counter() - start, 1)
        section["tiny"] = args.tiny
        section["date"] = datetime.datetime.now().isoformat(timespec="seconds")
        previous = results["sections"].get(name, {})
        if name == "ablations" and not args.tiny and not previous.get("tiny"):
            # Experiments run in separate invocations accumulate.
            section["experiments"] = {
                **previous.get("experiments", {}),
                **section["experiments"],
            }
            section["notes"] = sorted(
                set(previous.get("notes", [])) | set(section["notes"])
            )
        results["sections"][name] = section
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        with open(os.path.join(args.output_dir, f"{backend}.md"), "w") as f:
            f.write(markdown(results))
        print(f"[run_all] {name} done in {section['wall_seconds']} s", file=sys.stderr)
    print(json_path)


if __name__ == "__main__":
    main()
