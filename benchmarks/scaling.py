"""BERT pretraining at scale on paper: FLOPs, step times, days, input, checkpoints.

Computed from measured inputs and published figures, and written to
`benchmarks/scaling.md` (+ `results/scaling.json`):

- FLOPs per step: the benchmarks' one formula (`_common.pretraining_flops_per_sequence`
  x 3 for training: encoder, MLM head at the masked positions only, NSP).
- MFU: what this package measures for its pretraining train step
  (`results/<backend>.json`, section `train`; on this project's CPUs, since no
  accelerator was lent). Step times on accelerators use it as a stand-in: the
  model's FLOPs over the chips' published bf16 peak at that MFU.
- The `tf.data` reader rate per CPU core, measured here: `pretraining_dataset`
  parsing and batching TFRecords of `create_pretraining_data`, one core.
- Checkpoint size (float32 weights + AdamW's two moments) from the parameter count,
  and its write time at the rate measured here for BERT-Base's weights.

```
python benchmarks/scaling.py            # measures the reader and a checkpoint write
python benchmarks/scaling.py --no-measure   # FLOPs and days only, from saved inputs
```
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _common  # noqa: E402

from keras_bert_impl.presets.parameter_count import backbone_parameter_count  # noqa: E402

PRESETS = {"BASE": "bert_base_en_uncased", "LARGE": "bert_large_en_uncased"}

# (name, chips, bf16 dense peak TFLOP/s per chip, chips per host): vendors' specs.
SYSTEMS = [
    ("TPU v4-32 (16 chips)", 16, 275.0, 4),
    ("TPU v5e-64 (64 chips)", 64, 197.0, 4),
    ("8x A100 (one host)", 8, 312.0, 8),
    ("8x H100 SXM (one host)", 8, 989.0, 8),
]

# The recipes: (name, [(phase, sequence length, masks, global batch, steps)]).
RECIPES = {
    "original": [
        ("phase 1", 128, 20, 256, 900_000),
        ("phase 2", 512, 80, 256, 100_000),
    ],
    "LAMB": [
        ("phase 1", 128, 20, 65_536, 7_038),
        ("phase 2", 512, 80, 32_768, 1_563),
    ],
}
RECIPE_SOURCES = {
    "original": "Devlin et al. (2018): 1M steps at batch 256, the first 90% at "
    "sequence length 128 (20 masks), the rest at 512 (80 masks)",
    "LAMB": "You et al. (2019), the recipe of NVIDIA's BERT-LARGE: 7,038 steps at "
    "batch 65,536 and length 128, then 1,563 steps at batch 32,768 and length 512",
}

# Published anchors.
ORIGINAL_TPU_V2_TFLOPS = 45.0  # bf16 per Cloud TPU v2 chip (2 cores x 22.5)
ANCHORS = {
    "original": "Devlin et al. (2018), section A.2: BASE on 4 Cloud TPUs in pod "
    "configuration (16 TPU v2 chips), LARGE on 16 Cloud TPUs (64 chips), 4 days "
    "each",
    "nvidia": "NVIDIA DeepLearningExamples, "
    "TensorFlow2/LanguageModeling/BERT/README.md, 'Pre-training training "
    "performance: Single-node on NVIDIA DGX A100 (8x A100 80GB)': BERT-LARGE, "
    "mixed precision, 3,799.24 sequences/s at 128 and 649.69 at 512",
}
NVIDIA_A100_SEQUENCES_PER_SECOND = {128: 3799.24, 512: 649.69}


def preset_config(name):
    path = HERE.parent / "presets" / name / "config.json"
    return json.loads(path.read_text())["config"]


def step_flops(config, length, masks, batch):
    per_sequence = _common.training_flops(
        _common.pretraining_flops_per_sequence(config, length, masks)
    )
    return per_sequence * batch


def measured_mfu(results_dir):
    """{backend: our train-step MFU} from the saved benchmark results."""
    found = {}
    for backend in ("tensorflow", "jax"):
        path = results_dir / f"{backend}.json"
        if path.is_file():
            sections = json.loads(path.read_text()).get("sections", {})
            mfu = sections.get("train", {}).get("peers", {}).get("ours", {}).get("mfu")
            if mfu:
                found[backend] = float(mfu)
    return found


def measure_reader(length, masks, records=65_536, batch=256):
    """Sequences per second that `pretraining_dataset` parses and batches on one
    core (TFRecords of the BERT sample text)."""
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import tensorflow as tf

    from keras_bert_impl.data import create_pretraining_data
    from keras_bert_impl.data import pretraining_dataset

    shared = HERE.parent.parent / "shared" / "data"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.tfrecord")
        create_pretraining_data(
            str(shared / "bert_sample_text" / "sample_text.txt"),
            path,
            str(shared / "vocab" / "uncased" / "vocab.txt"),
            max_seq_length=length,
            max_predictions_per_seq=masks,
            dupe_factor=20,
            num_workers=1,
            progress=False,
        )
        dataset = pretraining_dataset(path, batch, repeat=True, seed=0)
        options = tf.data.Options()
        options.threading.private_threadpool_size = 1
        dataset = dataset.with_options(options)
        iterator = iter(dataset)
        next(iterator)  # warm-up: the pipeline's first fill
        steps = max(1, records // batch)
        start = time.perf_counter()
        for _ in range(steps):
            next(iterator)
        return steps * batch / (time.perf_counter() - start)


def measure_checkpoint_write(config):
    """(seconds, bytes) of writing the weights of a `config` pretrainer with
    Keras' `save_weights` (a checkpoint adds AdamW's moments: 3x the bytes)."""
    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertPretrainer

    pretrainer = BertPretrainer(BertBackbone(**config))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "checkpoint.weights.h5")
        start = time.perf_counter()
        pretrainer.save_weights(path)
        return time.perf_counter() - start, os.path.getsize(path)


def plan(configs, mfu, anchor_mfu, reader_rates):
    """Days per recipe, model and system: at `mfu` (ours) and at the MFU NVIDIA's
    A100 figures imply for the same sequence length (`anchor_mfu`)."""
    rows = []
    for recipe, phases in RECIPES.items():
        for size, config in configs.items():
            for system, chips, peak, per_host in SYSTEMS:
                total_days, total_anchor_days, phase_rows = 0.0, 0.0, []
                for phase, length, masks, batch, steps in phases:
                    flops = step_flops(config, length, masks, batch)
                    seconds = flops / (chips * peak * 1e12 * mfu)
                    days = seconds * steps / 86_400
                    anchor_days = days * mfu / anchor_mfu[length]
                    total_days += days
                    total_anchor_days += anchor_days
                    hosts = max(1, chips // per_host)
                    per_host_rate = batch / seconds / hosts
                    reader = reader_rates.get(length)
                    phase_rows.append(
                        {
                            "phase": phase,
                            "sequence_length": length,
                            "global_batch": batch,
                            "steps": steps,
                            "tflops_per_step": flops / 1e12,
                            "step_seconds": seconds,
                            "days": days,
                            "days_at_anchor_mfu": anchor_days,
                            "sequences_per_second_per_host": per_host_rate,
                            "reader_cores_per_host": (
                                per_host_rate / reader if reader else None
                            ),
                        }
                    )
                rows.append(
                    {
                        "recipe": recipe,
                        "model": size,
                        "system": system,
                        "days": total_days,
                        "days_at_anchor_mfu": total_anchor_days,
                        "phases": phase_rows,
                    }
                )
    return rows


def anchors(configs):
    """What the anchors' figures imply, with the same FLOP formula."""
    base = configs["BASE"]
    original = sum(
        step_flops(base, length, masks, batch) * steps
        for _, length, masks, batch, steps in RECIPES["original"]
    )
    original_mfu = original / (4 * 86_400 * 16 * ORIGINAL_TPU_V2_TFLOPS * 1e12)
    large = configs["LARGE"]
    nvidia = {
        length: step_flops(large, length, masks, 1) * rate / (8 * 312.0e12)
        for length, masks, rate in (
            (128, 20, NVIDIA_A100_SEQUENCES_PER_SECOND[128]),
            (512, 80, NVIDIA_A100_SEQUENCES_PER_SECOND[512]),
        )
    }
    return {"original_base_mfu_on_tpu_v2": original_mfu, "nvidia_a100_mfu": nvidia}


def markdown(report):
    lines = [
        "# BERT pretraining at scale, on paper",
        "",
        "Written by `python benchmarks/scaling.py` from measured inputs; "
        "do not edit by hand.",
        "",
        f"- Machine of the measurements: {report['machine'].get('cpu')} "
        f"({', '.join(report['machine'].get('cpu_flags', []))}).",
        f"- MFU used for every system: **{report['mfu']:.0%}**, this package's "
        f"measured pretraining train-step MFU ({report['mfu_source']}). It was "
        "measured on a CPU (fp32, against the CPU's own matmul rate); no "
        "accelerator was lent to measure it there. The step times and days below "
        "assume the same MFU against each chip's bf16 peak: read them as what this "
        "package would need to reach, not as measured.",
        f"- `tf.data` reader, one CPU core: {report['reader']}",
        f"- Checkpoint: {report['checkpoint']}",
        "",
        "## Anchors, and the MFU they imply (same FLOP formula)",
        "",
        f"- {ANCHORS['original']}: BERT-Base's 1M steps in 4 days on 16 TPU v2 "
        f"chips ({ORIGINAL_TPU_V2_TFLOPS:.0f} TFLOP/s bf16 each) is "
        f"{report['anchors']['original_base_mfu_on_tpu_v2']:.0%} MFU.",
        f"- {ANCHORS['nvidia']}: "
        + ", ".join(
            f"{mfu:.0%} MFU at {length}"
            for length, mfu in report["anchors"]["nvidia_a100_mfu"].items()
        )
        + " (A100: 312 TFLOP/s bf16 dense).",
        "",
        "## Days to train, and what each host must feed",
        "",
        *(f"- {name}: {source}." for name, source in RECIPE_SOURCES.items()),
        f"- step s and days at {report['mfu']:.0%} MFU (ours, measured on a CPU); "
        "days at the MFU NVIDIA's A100 figures imply for the same sequence length "
        "(the realistic column until an accelerator measures ours); sequences per "
        "second each host must feed, and the CPU cores the `tf.data` reader needs "
        "for it, at the faster of the two.",
        "",
        "| recipe | model | system | phase | TFLOP/step | step s | days | "
        "days at NVIDIA's MFU | seq/s per host | reader cores per host |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["plan"]:
        for index, phase in enumerate(row["phases"]):
            cores = phase["reader_cores_per_host"]
            lines.append(
                "| "
                + " | ".join(
                    [
                        row["recipe"] if index == 0 else "",
                        row["model"] if index == 0 else "",
                        row["system"] if index == 0 else "",
                        f"{phase['phase']} (seq {phase['sequence_length']}, batch "
                        f"{phase['global_batch']}, {phase['steps']:,} steps)",
                        f"{phase['tflops_per_step']:,.1f}",
                        f"{phase['step_seconds']:.3f}",
                        f"{phase['days']:.2f}",
                        f"{phase['days_at_anchor_mfu']:.2f}",
                        f"{phase['sequences_per_second_per_host']:,.0f}",
                        "—" if cores is None else f"{cores:.2f}",
                    ]
                )
                + " |"
            )
        lines.append(
            f"| | | | **total** | | | **{row['days']:.2f}** | "
            f"**{row['days_at_anchor_mfu']:.2f}** | | |"
        )
    lines += [
        "",
        "Chips per host: TPU v4 and v5e 4, GPUs 8. Peaks (bf16, dense): TPU v4 275, "
        "v5e 197, A100 312, H100 SXM 989 TFLOP/s per chip.",
        "",
        "Read the original recipe's rows on many chips with care: its batch of 256 "
        "is 4 sequences a chip on 64 chips and 16 on 16, where no accelerator "
        "reaches these MFUs and a step of milliseconds is mostly fixed overhead. "
        "Large slices want LAMB's batches. The LAMB row for BERT-LARGE on 8x A100 "
        "at NVIDIA's MFU reproduces NVIDIA's published rate by construction (a "
        "check of the FLOP formula, not a prediction).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results_dir", default=str(HERE / "results"))
    parser.add_argument("--output", default=str(HERE / "scaling.md"))
    parser.add_argument(
        "--measure",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the reader and a checkpoint write (else reuse scaling.json)",
    )
    args = parser.parse_args(argv)
    results_dir = pathlib.Path(args.results_dir)
    saved_path = results_dir / "scaling.json"
    configs = {size: preset_config(name) for size, name in PRESETS.items()}
    mfus = measured_mfu(results_dir)
    if not mfus:
        raise SystemExit(
            f"{results_dir}: no train-step MFU found; run "
            "`python benchmarks/run_all.py --sections train` first"
        )
    backend = max(mfus, key=mfus.get)
    if args.measure:
        reader_rates = {
            length: measure_reader(length, masks)
            for length, masks in ((128, 20), (512, 80))
        }
        write_seconds, weights_bytes = measure_checkpoint_write(configs["BASE"])
        measured = {
            "reader_sequences_per_second_one_core": reader_rates,
            "base_checkpoint_write_seconds": write_seconds,
            "base_weights_file_bytes": weights_bytes,
            "machine": _common.machine_info(),
        }
    else:
        measured = json.loads(saved_path.read_text())["measured"]
        measured["reader_sequences_per_second_one_core"] = {
            int(k): v
            for k, v in measured["reader_sequences_per_second_one_core"].items()
        }
    reader_rates = measured["reader_sequences_per_second_one_core"]
    parameters = {size: backbone_parameter_count(c) for size, c in configs.items()}
    checkpoint_bytes = {size: 3 * 4 * count for size, count in parameters.items()}
    write_rate = (
        measured["base_weights_file_bytes"] / measured["base_checkpoint_write_seconds"]
    )
    report = {
        "machine": measured["machine"],
        "mfu": mfus[backend],
        "mfu_source": f"results/{backend}.json, section train",
        "measured": measured,
        "parameters": parameters,
        "checkpoint_bytes": checkpoint_bytes,
        "reader": ", ".join(
            f"{rate:,.0f} sequences/s at {length}"
            for length, rate in sorted(reader_rates.items())
        ),
        "checkpoint": "; ".join(
            f"{size} {parameters[size] / 1e6:.0f}M parameters, "
            f"{checkpoint_bytes[size] / 2**30:.2f} GiB with AdamW's moments, "
            f"{checkpoint_bytes[size] / write_rate:.1f} s to write at the "
            f"{write_rate / 2**20:,.0f} MiB/s measured for BASE's weights here"
            for size in configs
        ),
        "anchors": anchors(configs),
    }
    report["plan"] = plan(
        configs, mfus[backend], report["anchors"]["nvidia_a100_mfu"], reader_rates
    )
    saved_path.write_text(json.dumps(report, indent=2) + "\n")
    pathlib.Path(args.output).write_text(markdown(report))
    print(f"wrote {args.output} and {saved_path}")


if __name__ == "__main__":
    main()
