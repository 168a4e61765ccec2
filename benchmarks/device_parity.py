"""Our backbone on the accelerator against transformers: fp32, bf16, fused attention.

A random BERT (transformers' `BertModel`, dropout 0, `--config`) is saved as a
Hugging Face folder and loaded with `kb.convert.from_huggingface`; both run
the same batch (some rows padded) on the accelerator that the Keras backend
and torch see (the CPU where there is none). Ours runs at float32 and at
`mixed_bfloat16`, each with the einsum attention and with
`keras.ops.dot_product_attention` (fused flash attention on GPUs); the
reference is transformers at float32 with TF32 off. Reported: the largest
absolute difference of `sequence_output` over real tokens and of
`pooled_output`, and whether it is within the stated tolerance (float32
1e-4 with full-precision matmuls, 1e-2 with the backend's default, which may
be TF32 on GPUs; bfloat16 5e-2, against transformers' own bfloat16 error).

    KERAS_BACKEND=jax python benchmarks/device_parity.py --out jax_parity.json
"""

import argparse
import contextlib
import json
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402
from _common import CONFIGS  # noqa: E402
from _common import machine_info  # noqa: E402

TOLERANCES = {"float32": 1e-4, "float32_default_matmul": 1e-2, "mixed_bfloat16": 5e-2}


def _batch(config, batch, length):
    x = peers.encoder_batch(config, batch, length)
    for row in range(1, batch, 2):  # every other row padded from halfway
        x["padding_mask"][row, length // 2 :] = 0
        x["token_ids"][row, length // 2 :] = 0
    return x


def _reference(folder, x, dtype=None):
    import torch
    import transformers

    torch.backends.cuda.matmul.allow_tf32 = False
    model = transformers.BertModel.from_pretrained(folder).eval()
    model.to(peers.torch_device())
    inputs = peers._on_torch_device(
        {
            "input_ids": x["token_ids"],
            "token_type_ids": x["segment_ids"],
            "attention_mask": x["padding_mask"],
        }
    )
    with torch.inference_mode(), peers.torch_precision(dtype):
        out = model(**inputs)
    return {
        "sequence_output": out.last_hidden_state.float().cpu().numpy(),
        "pooled_output": out.pooler_output.float().cpu().numpy(),
    }


def _ours(folder, x, dtype, attention):
    import keras

    from keras_bert_impl.convert import from_huggingface
    from keras_bert_impl.layers.bert_self_attention import set_attention_implementation

    backbone = from_huggingface(folder, dtype=dtype)
    set_attention_implementation(backbone, attention)
    outputs = backbone.predict_on_batch(x)
    return {
        name: np.asarray(keras.ops.convert_to_numpy(outputs[name]), "float32")
        for name in ("sequence_output", "pooled_output")
    }


def _full_precision_matmuls():
    """A context with the backend's float32 matmuls at full precision."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.default_matmul_precision("highest")
    if keras.backend.backend() == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
    return contextlib.nullcontext()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="base", choices=sorted(CONFIGS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import torch
    import transformers

    config = CONFIGS[args.config]
    torch.manual_seed(0)
    hf_model = transformers.BertModel(peers._hf_config(config, dropout=0.0))
    x = _batch(config, args.batch, args.length)
    real = x["padding_mask"].astype(bool)
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        hf_model.save_pretrained(folder)
        reference = _reference(folder, x)
        runs = {
            "float32": ("float32", _full_precision_matmuls),
            "float32_default_matmul": ("float32", contextlib.nullcontext),
            "mixed_bfloat16": ("mixed_bfloat16", contextlib.nullcontext),
        }
        for name, (dtype, context) in runs.items():
            for attention in ("einsum", "dot_product_attention"):
                with context():
                    ours = _ours(folder, x, dtype, attention)
                sequence = np.abs(
                    ours["sequence_output"] - reference["sequence_output"]
                )[real].max()
                pooled = np.abs(
                    ours["pooled_output"] - reference["pooled_output"]
                ).max()
                worst = float(max(sequence, pooled))
                rows[f"{name}:{attention}"] = {
                    "sequence_output_max_abs_diff": float(sequence),
                    "pooled_output_max_abs_diff": float(pooled),
                    "tolerance": TOLERANCES[name],
                    "within": worst <= TOLERANCES[name],
                }
                print(name, attention, rows[f"{name}:{attention}"], flush=True)
        bf16_reference = _reference(folder, x, "mixed_bfloat16")
    rows["transformers_bfloat16_vs_float32"] = float(
        np.abs(bf16_reference["sequence_output"] - reference["sequence_output"])[
            real
        ].max()
    )
    result = {
        "machine": machine_info(),
        "workload": vars(args),
        "parity": rows,
        "all_within": all(
            row["within"] for row in rows.values() if isinstance(row, dict)
        ),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["all_within"] else 1


if __name__ == "__main__":
    sys.exit(main())
