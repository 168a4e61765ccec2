"""The benchmark suite: keras_bert_impl against keras-hub and transformers.

One entry point, on the Keras backend that `KERAS_BACKEND` names. Sections:

- `train`: pretraining train step (MLM + NSP), BERT-Base, seq 128, batch 8,
  20 mask positions — ours (`BertPretrainer.train_on_batch`, compiled as
  `compile()` defaults it: XLA) vs keras-hub `BertMaskedLM` (no NSP head: it
  has none) vs `transformers.BertForPreTraining` (torch, eager).
- `inference`: fixed-length inference, BERT-Base, seq 128, batch 32 — ours
  `BertBackbone` vs keras-hub `BertBackbone` vs transformers `BertModel`.
- `sst2`: embed the 872 SST-2 dev sentences end to end from strings — ours with
  length bucketing (`keras_bert_impl.data.length_bucketing`) vs keras-hub's
  preprocessor + backbone at length 128 vs transformers' tokenizer with
  length-sorted dynamic padding.
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
    python benchmarks/run_all.py --tiny                            # smoke run
"""

import argparse
import datetime
import json
import os
import platform
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

SECTIONS = (
    "train",
    "inference",
    "sst2",
    "ablations",
    "memory",
    "tokenizer",
    "pretraining_data",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
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
    args.config = args.config or "base"
    args.rounds = args.rounds or 5
    if args.bucket_lengths == "auto":
        from keras_bert_impl.data.length_bucketing import bucket_lengths_for

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


def section_sst2(args):
    import numpy as np
    import peers

    config = CONFIGS[args.config]
    sentences = peers.read_sst2_dev(args.sst2_limit)
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
    # Real-token statistics (our tokenizer; transformers' gives the same counts).
    from keras_bert_impl.tokenizers import BertTokenizer

    tokenizer = BertTokenizer(peers.VOCAB)
    real_lengths = np.minimum(
        np.array([len(ids) for ids in tokenizer(sentences)]) + 2, length
    )
    useful_flops = float(
        sum(_common.encoder_flops_per_sequence(config, int(n)) for n in real_lengths)
    )
    # One matmul measurement after the run for MFU (the text run is long).
    matmuls = _common.matmul_steps()
    _common.interleaved(matmuls, 3, warmup=1)
    rate = max(_common.median(step.rates[1:]) for step in matmuls.values())
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


def section_ablations(args):
    import ablations

    return ablations.run(args)


def section_memory(args):
    """Peak RSS of each peer's work in a fresh process (imports all peers first)."""
    results = {}
    for work in ("train", "inference"):
        for name in args.peers:
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
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                results[f"{work}:{name}"] = {"error": done.stderr[-2000:]}
                continue
            results[f"{work}:{name}"] = json.loads(done.stdout.strip().splitlines()[-1])
    for work in ("train", "inference"):
        ours = results.get(f"{work}:ours", {}).get("peak_above_imports_mib")
        for name in args.peers:
            entry = results.get(f"{work}:{name}", {})
            if ours and entry.get("peak_above_imports_mib"):
                entry["relative_to_ours"] = round(
                    entry["peak_above_imports_mib"] / ours, 3
                )
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
    """Child process of `section_memory`."""
    import keras  # noqa: F401
    import keras_hub  # noqa: F401
    import peers
    import torch  # noqa: F401
    import transformers  # noqa: F401

    baseline = _common.current_rss()
    work, name = args.probe.split(":")
    config = CONFIGS[args.config]
    if work == "train":
        step = getattr(peers, f"{name}_train_step")(
            config, args.train_batch, args.train_length, args.num_masks
        )
    else:
        step = getattr(peers, f"{name}_inference_step")(
            config, args.infer_batch, args.infer_length
        )
    for _ in range(4):
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


def machine_info():
    import keras

    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [
                line.split(":", 1)[1].strip() for line in f if "model name" in line
            ]
        info["cpu"] = names[0] if names else None
    except OSError:
        pass
    return info


def _fmt(value, spec="{:.2f}"):
    return "—" if value is None else spec.format(value)


def markdown(results):
    backend = results["machine"]["backend"]
    lines = [
        f"# Benchmarks — backend `{backend}`",
        "",
        f"Machine: {results['machine'].get('cpu')} ({results['machine']['cpu_count']} "
        f"cores), keras {results['machine']['keras']}. Command: "
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
    for name in wanted:
        if name not in SECTIONS:
            sys.exit(f"unknown section {name!r}; choose from {SECTIONS}")
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
