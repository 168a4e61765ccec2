"""Shared pieces of the benchmark suite: configs, FLOP counts, timing, memory.

Timing is interleaved: every round runs one measurement of each peer in turn
(the order rotating from round to round), so a burst of load from other
processes hits all peers alike, and ratios are the median of per-round ratios.
"""

import gc
import os
import pathlib
import resource
import statistics
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

# BERT-Base and a tiny config for smoke runs (same code paths, seconds not minutes).
CONFIGS = {
    "base": dict(
        vocabulary_size=30522,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
    ),
    "small": dict(
        vocabulary_size=30522,
        num_layers=4,
        num_heads=8,
        hidden_dim=512,
        intermediate_dim=2048,
    ),
    # BERT-mini (Turc et al. 2019): the small model users fine-tune on laptops.
    "mini": dict(
        vocabulary_size=30522,
        num_layers=4,
        num_heads=4,
        hidden_dim=256,
        intermediate_dim=1024,
    ),
    "tiny": dict(
        vocabulary_size=30522,
        num_layers=2,
        num_heads=2,
        hidden_dim=64,
        intermediate_dim=256,
    ),
}


# The CPU features that decide which matmul kernels can run (AMX tiles, AVX-512
# with bf16 and int8 dot products): printed with every result.
CPU_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
)


def machine_info():
    """Backend, versions and `lscpu`'s model name and matmul-relevant flags."""
    import platform
    import subprocess

    import keras

    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    if info["backend"] == "tensorflow":
        # oneDNN's weight caching (an inference-only setting) changes TF's
        # matmul kernels: name it with every TF figure.
        from keras_bert_impl.utils.inference_process import FROZEN_WEIGHTS_VARIABLE

        info[FROZEN_WEIGHTS_VARIABLE] = os.environ.get(FROZEN_WEIGHTS_VARIABLE)
    if info["backend"] == "jax":
        # Programs found in JAX's persistent cache cost no compile time: name
        # the folder (None: off). For cold compiles, run with
        # KERAS_BERT_IMPL_JAX_CACHE pointing at an empty folder, or `off`.
        import jax

        info["jax_compilation_cache"] = jax.config.jax_compilation_cache_dir
        # XLA's flags for this process (utils/jax_cpu_compilation.py).
        info["xla_flags"] = os.environ.get("XLA_FLAGS")
    # oneDNN (TF's and torch's CPU kernels) limited to an older instruction
    # set: how a run on this CPU stands in for a CPU without bfloat16 units.
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        info["ONEDNN_MAX_CPU_ISA"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    info["accelerator"] = _accelerator(info["backend"])
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return info
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    info["cpu"] = fields.get("Model name", "").strip() or None
    flags = fields.get("Flags", "").split()
    info["cpu_flags"] = [flag for flag in CPU_FLAGS if flag in flags]
    return info


def _accelerator(backend):
    """The GPU or TPU the Keras backend runs on (`device_check.sh`), or None."""
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return None if device.platform == "cpu" else device.device_kind
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name if gpus else None
    return None


def backend_name():
    import keras

    return keras.backend.backend()


# ---------------------------------------------------------------- FLOPs


def encoder_flops_per_sequence(config, length):
    """Forward matmul FLOPs of the encoder (+ pooler) for one sequence."""
    h, i = config["hidden_dim"], config["intermediate_dim"]
    dense = 2 * length * (4 * h * h + 2 * h * i)
    attention = 2 * 2 * length * length * h  # QK^T and PV
    pooler = 2 * h * h
    return config["num_layers"] * (dense + attention) + pooler


def pretraining_flops_per_sequence(config, length, num_masks):
    """Forward FLOPs of BERT pretraining for one sequence: encoder, MLM, NSP.

    The masked-LM head counts only the `num_masks` predicted positions (the
    model's useful work); a peer that projects every position does more work
    than this and is not credited for it.
    """
    h, v = config["hidden_dim"], config["vocabulary_size"]
    mlm = num_masks * (2 * h * h + 2 * h * v)
    nsp = 2 * h * 2
    return encoder_flops_per_sequence(config, length) + mlm + nsp


def training_flops(forward_flops):
    """Forward + backward: the usual 3x the forward FLOPs."""
    return 3 * forward_flops


# ---------------------------------------------------------------- timing


def median(values):
    return float(statistics.median(values))


def interleaved(steps, rounds, warmup=1):
    """Times `steps` (name -> zero-argument callable that blocks until done).

    Each callable runs `warmup` times first (compilation), then `rounds`
    times, interleaved with the others. Returns
    `{name: {"seconds": [...], "warmup_seconds": [...]}}`.
    """
    names = list(steps)
    results = {name: {"seconds": [], "warmup_seconds": []} for name in names}
    for name in names:
        for _ in range(warmup):
            start = time.perf_counter()
            steps[name]()
            results[name]["warmup_seconds"].append(time.perf_counter() - start)
            _log(f"warm-up {name}: {results[name]['warmup_seconds'][-1]:.2f} s")
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            steps[name]()
            results[name]["seconds"].append(time.perf_counter() - start)
            _log(f"round {index} {name}: {results[name]['seconds'][-1]:.3f} s")
    return results


def _log(message):
    print(f"  [bench] {message}", file=sys.stderr, flush=True)


def per_round_ratio(numerator, denominator):
    """Median over rounds of `numerator[i] / denominator[i]` (seconds lists)."""
    return median([a / b for a, b in zip(numerator, denominator)])


# ---------------------------------------------------------------- matmul rate


def matmul_steps(m=4096, k=768, n=3072, repeats=4):
    """Zero-argument callables timing fp32 matmuls, one per available framework.

    The shape is BERT-Base's FFN at 4,096 tokens (batch 32 x 128). Each call runs
    `repeats` matmuls and appends the best one's FLOP/s to the callable's `rates`
    list: the machine's rate in that round, the least disturbed by other load.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    flops = 2 * m * k * n
    kernels = {}
    backend = backend_name()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        aj, bj = jnp.asarray(a), jnp.asarray(b)
        f = jax.jit(jnp.matmul)
        kernels["jax"] = lambda: f(aj, bj).block_until_ready()
    elif backend == "tensorflow":
        import tensorflow as tf

        at, bt = tf.constant(a), tf.constant(b)
        f = tf.function(tf.matmul, jit_compile=True)
        kernels["tensorflow"] = lambda: tf.matmul(at, bt).numpy()
        kernels["tensorflow_xla"] = lambda: f(at, bt).numpy()
    try:
        import torch

        tat, tbt = torch.from_numpy(a), torch.from_numpy(b)
        kernels["torch"] = lambda: torch.matmul(tat, tbt)
    except ImportError:
        pass

    def timed(kernel):
        def step():
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                kernel()
                best = min(best, time.perf_counter() - start)
            step.rates.append(flops / best)

        step.rates = []
        return step

    return {name: timed(kernel) for name, kernel in kernels.items()}


# ---------------------------------------------------------------- memory


def current_rss():
    """Resident set size of this process in bytes (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss():
    """Peak resident set size of this process in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Samples this process's RSS in a thread; `peak` is the highest seen."""

    def __init__(self, interval=0.005):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            time.sleep(self.interval)

    def __enter__(self):
        gc.collect()
        self.start = current_rss()
        self.peak = self.start
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


def mib(num_bytes):
    return round(num_bytes / 2**20, 1)


def litert_logits(path, threads):
    """`run(texts) -> logits` of an exported `.tflite` classifier: LiteRT's
    interpreter (XNNPACK, `threads`) with tensorflow-text's kernels."""
    import numpy as np
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
    from tensorflow_text.core.pybinds import tflite_registrar

    interpreter = InterpreterWithCustomOps(
        model_path=str(path),
        custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS,
        num_threads=threads,
    )
    runner = interpreter.get_signature_runner("serving_default")
    return lambda texts: runner(text=np.array(texts, dtype=object))["logits"]


def onnx_session(path, threads, custom_ops=False):
    """ONNX Runtime's CPU session of `path`: `threads` intra-op threads, all
    graph optimizations (the default); `custom_ops` registers
    onnxruntime-extensions' op library (our exports' tokenizer ops)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if custom_ops:
        from onnxruntime_extensions import get_library_path

        options.register_custom_ops_library(get_library_path())
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options)


def onnx_logits(path, threads):
    """`run(texts) -> logits` of an exported `.onnx` classifier: ONNX Runtime
    (CPU, `threads` intra-op threads) with onnxruntime-extensions' ops."""
    import numpy as np

    session = onnx_session(path, threads, custom_ops=True)
    return lambda texts: session.run(
        ["logits"], {"text": np.array(texts, dtype=object)}
    )[0]
