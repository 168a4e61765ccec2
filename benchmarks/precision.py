"""BERT at float32 and bfloat16, peers side by side: which precision is fastest where.

Two units of work on random weights (only speed is measured; the numerics
are tested in tests/), each peer at float32 and at bfloat16, timed
interleaved in one process on one Keras backend:

- `inference`: the backbone on a batch of `--batch` x `--length` features
  (`predict_on_batch`; transformers: `BertModel` under `torch.inference_mode`);
- `train`: one pretraining step at `--train_batch` x `--length` (ours: MLM +
  NSP with BERT's AdamW; keras-hub: its `BertMaskedLM`; transformers:
  `BertForPreTraining` with AdamW and clip-norm 1.0, as its Trainer).

bfloat16 is Keras' `mixed_bfloat16` policy for ours and keras-hub (float32
weights, bfloat16 matmuls, float32 softmax/LayerNorm/losses) and
`torch.autocast(device, torch.bfloat16)` for transformers (its Trainer's
`--bf16`). `--dtypes int8` (inference only) times int8 weights and
activations: `quantize("int8")` for ours and keras-hub (keras-hub with
`jit_compile=True`, its fast setting on TF; ours picks XLA itself) and
torch's dynamic int8 `Linear` (`quantize_dynamic`) for transformers. Where
the CPU has AMX (`lscpu` flags `amx_bf16`), bfloat16 matmuls run several
times float32's rate; with AVX512-BF16 only (`avx512_bf16`) about twice; with
neither they are emulated and slower than float32 (stand in for such a CPU
with `ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI`, which limits TF's and torch's
oneDNN kernels). The
ratios: `vs_best_peer` is the fastest peer row of the unit (any precision)
over ours at this precision; `vs_ours_float32` ours' speed-up over our own
float32. Run it once per backend (the torch backend included: `KERAS_BACKEND=torch`
runs our model on torch's oneDNN kernels). On a machine with a GPU every peer
runs on it (`benchmarks/device_check.sh`):

    KERAS_BACKEND=torch python benchmarks/precision.py \
        --out benchmarks/results/torch_precision.json

On TF, an inference-only process may set `TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1`:
oneDNN then reorders each weight once into its blocked layout and keeps it,
which lets bfloat16 matmuls with their bias run on AMX tiles (README,
"bfloat16 on a CPU with AMX"). It is process-wide and would keep stale weights while
training, so this script refuses `--units train` under it:

    TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 KERAS_BACKEND=tensorflow \
        python benchmarks/precision.py --units inference \
        --out benchmarks/results/tensorflow_precision_frozen_weights.json
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402
import peers  # noqa: E402
from _common import CONFIGS  # noqa: E402

from keras_bert_impl.utils.inference_process import frozen_weights_on  # noqa: E402

DTYPES = ("float32", "mixed_bfloat16")
UNITS = ("inference", "train")


def _inference_precision(dtype):
    """A `--dtypes` entry as the inference steps' `dtype` and `quantize`."""
    if dtype == "int8":
        return {"dtype": "float32", "quantize": "int8"}
    return {"dtype": dtype}


def _builders(unit, config, args):
    if unit == "inference":
        shape = (args.batch, args.length)
        return {
            "ours": lambda dtype: peers.ours_inference_step(
                config, *shape, **_inference_precision(dtype)
            ),
            "keras_hub": lambda dtype: peers.keras_hub_inference_step(
                config, *shape, **_inference_precision(dtype)
            ),
            "transformers": lambda dtype: peers.transformers_inference_step(
                config, *shape, **_inference_precision(dtype)
            ),
        }
    shape = (args.train_batch, args.length, args.num_masks)
    return {
        "ours": lambda dtype: peers.ours_train_step(config, *shape, dtype=dtype),
        "keras_hub": lambda dtype: peers.keras_hub_train_step(
            config, *shape, dtype=dtype
        ),
        "transformers": lambda dtype: peers.transformers_train_step(
            config, *shape, dtype=dtype
        ),
    }


def _unit_rows(unit, config, args):
    builders = _builders(unit, config, args)
    dtypes = [d for d in args.dtypes if unit == "inference" or d != "int8"]
    steps = {
        f"{name}:{dtype}": builders[name](dtype)
        for name in args.peers
        for dtype in dtypes
    }
    timings = _common.interleaved(steps, args.rounds, warmup=2)
    items = args.batch if unit == "inference" else args.train_batch
    rows = {
        key: {
            "seconds": [round(s, 4) for s in timing["seconds"]],
            "warmup_seconds": [round(s, 2) for s in timing["warmup_seconds"]],
            "sequences_per_second": round(items / _common.median(timing["seconds"]), 2),
        }
        for key, timing in timings.items()
    }
    best_peer = min(
        (key for key in timings if not key.startswith("ours:")),
        key=lambda key: _common.median(timings[key]["seconds"]),
        default=None,
    )
    for dtype in dtypes:
        ours = timings.get(f"ours:{dtype}")
        if ours is None:
            continue
        row = rows[f"ours:{dtype}"]
        if best_peer is not None:
            row["best_peer"] = best_peer
            row["vs_best_peer"] = round(
                _common.per_round_ratio(timings[best_peer]["seconds"], ours["seconds"]),
                3,
            )
        if "ours:float32" in timings:
            row["vs_ours_float32"] = round(
                _common.per_round_ratio(
                    timings["ours:float32"]["seconds"], ours["seconds"]
                ),
                3,
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="base", choices=sorted(CONFIGS))
    parser.add_argument("--units", default=",".join(UNITS))
    parser.add_argument("--peers", default="ours,keras_hub,transformers")
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--train_batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--num_masks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    args.peers = args.peers.split(",")
    args.dtypes = args.dtypes.split(",")
    if "train" in args.units.split(",") and frozen_weights_on():
        parser.error(
            "--units: expected inference alone with TF_ONEDNN_ASSUME_FROZEN_WEIGHTS "
            "set (oneDNN then keeps the first weights it sees, so training steps "
            "would reuse stale weights); got train too. Unset it or pass "
            "--units inference."
        )
    config = CONFIGS[args.config]
    result = {
        "machine": _common.machine_info(),
        "workload": {
            key: getattr(args, key)
            for key in ("config", "batch", "train_batch", "length", "num_masks")
        }
        | {"rounds": args.rounds},
        "units": {
            unit: _unit_rows(unit, config, args) for unit in args.units.split(",")
        },
    }
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
