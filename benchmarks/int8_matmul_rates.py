"""int8 matmul rates of the kernels an int8 BERT can run on, side by side.

BERT-Base's feed-forward product at 4,096 tokens (4096 x 768 x 3072), int8 x
int8 into int32: XLA (TF `jit_compile=True`, and JAX), TensorFlow's oneDNN
`QuantizedMatMulWithBias` (u8 x s8, what `layers/onednn_int8_dense.py` runs
on CPUs with VNNI/AMX-INT8), torch's dynamic int8 `Linear` (fbgemm, behind
transformers' `quantize_dynamic`; it quantizes its float input per call),
and float32 `MatMul` on TF and torch for scale. Best of `--repeats` per
kernel; giga-operations per second (a multiply-add counts 2).

Usage:
    python benchmarks/int8_matmul_rates.py \
        --out benchmarks/results/int8_matmul_rates_amd.json
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402

from keras_bert_impl.layers.onednn_int8_dense import onednn_int8_sums  # noqa: E402

M, K, N = 4096, 768, 3072


def _kernels():
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows = rng.integers(-127, 128, (M, K)).astype(np.int8)
    kernel = rng.integers(-127, 128, (K, N)).astype(np.int8)
    floats = rng.standard_normal((M, K), dtype=np.float32)
    float_kernel = rng.standard_normal((K, N), dtype=np.float32)
    kernels = {}

    a, b = tf.constant(rows), tf.constant(kernel)
    xla = tf.function(lambda: tf.matmul(a, b, output_type=tf.int32), jit_compile=True)
    kernels["tensorflow_xla_int8"] = lambda: xla().numpy()
    shifted = tf.constant((rows.astype(np.int32) + 128).astype(np.uint8))
    onednn = tf.function(lambda: onednn_int8_sums(shifted, b))
    kernels["tensorflow_onednn_u8s8"] = lambda: onednn().numpy()
    fa, fb = tf.constant(floats), tf.constant(float_kernel)
    kernels["tensorflow_float32"] = lambda: tf.matmul(fa, fb).numpy()
    try:
        import jax
        import jax.numpy as jnp

        ja, jb = jnp.asarray(rows), jnp.asarray(kernel)
        jf = jax.jit(lambda x, y: jax.lax.dot(x, y, preferred_element_type=jnp.int32))
        kernels["jax_int8"] = lambda: jf(ja, jb).block_until_ready()
    except ImportError:
        pass
    try:
        import torch

        linear = torch.nn.Linear(K, N)
        dynamic = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(linear), {torch.nn.Linear}, dtype=torch.qint8
        )
        x = torch.from_numpy(floats)

        def torch_int8():
            with torch.inference_mode():
                dynamic(x)

        def torch_float32():
            with torch.inference_mode():
                linear(x)

        kernels["torch_dynamic_int8_linear"] = torch_int8
        kernels["torch_float32_linear"] = torch_float32
    except ImportError:
        pass
    return kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rates = {}
    for name, kernel in _kernels().items():
        kernel()  # compile / warm up
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            kernel()
            best = min(best, time.perf_counter() - start)
        rates[name] = round(2 * M * K * N / best / 1e9, 1)
        print(f"{name}: {rates[name]} G(FL)OP/s", flush=True)
    result = {
        "machine": _common.machine_info(),
        "shape": [M, K, N],
        "giga_operations_per_second": rates,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        pathlib.Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
