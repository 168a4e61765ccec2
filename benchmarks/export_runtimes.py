"""Serving raw strings: Keras `predict`, our SavedModel, LiteRT, ONNX, transformers.

A `BertClassifier` (random weights, `--config`, the uncased BERT vocabulary,
sequence length 128) is exported with `export(format="saved_model")` and
`export(format="litert")` (each batch padded to its longest text; and
`pad_to_longest=False`, every text at 128, the static shapes GPU/NPU
delegates want; and `quantize="int8"`, LiteRT's dynamic-range int8) and
`export(format="onnx")` (and `quantize="int8"`, ONNX Runtime's dynamic
int8), and served on SST-2 dev sentences in one process (TensorFlow
backend):

- `keras_predict`: `classifier.predict(strings)`, the Keras user path.
- `saved_model`: the SavedModel's `serving_default` (TensorFlow).
- `litert`, `litert_static`, `litert_int8`: LiteRT's interpreter (XNNPACK,
  `--threads`) with tensorflow-text's kernels, the three files.
- `onnx`, `onnx_int8`: ONNX Runtime (CPU provider, all graph
  optimizations, `--threads` intra-op threads) with onnxruntime-extensions'
  op library, the two files.
- `transformers`: `BertForSequenceClassification` in eval mode with its fast
  tokenizer, each batch padded to its longest text, `torch.inference_mode`;
  `transformers_int8` the same after torch's dynamic int8 `Linear`
  (`quantize_dynamic`), the int8 path a torch user picks on a CPU.
- `transformers_onnx`, `transformers_onnx_int8`: that model exported with
  `torch.onnx.export` (TorchScript, opset 17, its logits checked against
  torch's) and ONNX Runtime's dynamic int8 of that file (our `onnx_int8`'s
  call), served like `onnx` behind the same fast tokenizer.

Two workloads: `batch_1`, the first `--latency_sentences` dev sentences one
at a time (milliseconds per sentence: what a phone app or a request-per-
sentence server sees), and `batch_32`, all 872 dev sentences in batches of 32
in file order (sentences per second). File sizes are in the JSON. Every
peer's first call is reported apart; then `--rounds` rounds, the order
rotating; `vs_transformers` is the median per-round ratio (above 1: faster
than transformers).

    KERAS_BACKEND=tensorflow python benchmarks/export_runtimes.py --config base \
        --out benchmarks/results/tensorflow_export_runtimes_base.json
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402
from _common import CONFIGS  # noqa: E402
from _common import SHARED  # noqa: E402
from _common import litert_logits  # noqa: E402
from _common import machine_info  # noqa: E402
from _common import median  # noqa: E402
from _common import mib  # noqa: E402
from _common import onnx_logits  # noqa: E402
from _common import onnx_session  # noqa: E402

SEQUENCE_LENGTH = 128
VOCAB = SHARED / "vocab" / "uncased" / "vocab.txt"


def _folder_bytes(path):
    path = pathlib.Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _build(config, folder, threads):
    """The classifier, its exports, and one `run(sentences)` per peer."""
    import keras
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (the SavedModel's tokenizer ops)

    from keras_bert_impl.export import export
    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    keras.utils.set_random_seed(0)
    preprocessor = BertPreprocessor(BertTokenizer(str(VOCAB)), SEQUENCE_LENGTH)
    classifier = BertClassifier(
        BertBackbone(**config), num_classes=2, preprocessor=preprocessor
    )
    paths = {
        "saved_model": export(classifier, folder / "saved_model"),
        "litert": export(classifier, folder / "model.tflite", "litert"),
        "litert_static": export(
            classifier, folder / "static.tflite", "litert", pad_to_longest=False
        ),
        "litert_int8": export(
            classifier, folder / "int8.tflite", "litert", quantize="int8"
        ),
        "onnx": export(classifier, folder / "model.onnx", "onnx"),
        "onnx_int8": export(classifier, folder / "int8.onnx", "onnx", quantize="int8"),
        **_transformers_onnx(config, folder),
    }
    serve = tf.saved_model.load(str(paths["saved_model"])).signatures["serving_default"]

    runs = {
        "keras_predict": lambda texts: classifier.predict(
            texts, batch_size=len(texts), verbose=0
        ),
        "saved_model": lambda texts: serve(text=tf.constant(texts))["logits"].numpy(),
        "litert": litert_logits(threads=threads, path=paths["litert"]),
        "litert_static": litert_logits(threads=threads, path=paths["litert_static"]),
        "litert_int8": litert_logits(threads=threads, path=paths["litert_int8"]),
        "onnx": onnx_logits(threads=threads, path=paths["onnx"]),
        "onnx_int8": onnx_logits(threads=threads, path=paths["onnx_int8"]),
        "transformers": _transformers_runner(config, threads),
        "transformers_int8": _transformers_runner(config, threads, quantize="int8"),
        "transformers_onnx": _transformers_onnx_runner(
            paths["transformers_onnx"], threads
        ),
        "transformers_onnx_int8": _transformers_onnx_runner(
            paths["transformers_onnx_int8"], threads
        ),
    }
    sizes = {name: round(mib(_folder_bytes(p)), 1) for name, p in paths.items()}
    return runs, sizes


def _encode(tokenizer, texts, tensors):
    """transformers' tokenizer as its users call it: each batch padded to its
    longest text, cut at `SEQUENCE_LENGTH`."""
    return tokenizer(
        list(texts),
        truncation=True,
        max_length=SEQUENCE_LENGTH,
        padding=True,
        return_tensors=tensors,
    )


def _transformers_runner(config, threads, quantize=None):
    import torch
    import transformers

    torch.set_num_threads(threads)
    model = transformers.BertForSequenceClassification(peers._hf_config(config)).eval()
    if quantize == "int8":  # torch's dynamic int8 Linear, as peers.py
        model = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8
        )
    tokenizer = transformers.BertTokenizer(vocab=str(VOCAB))

    def run(texts):
        encoded = _encode(tokenizer, texts, "pt")
        with torch.inference_mode():
            return model(**encoded).logits.numpy()

    return run


def _transformers_onnx(config, folder):
    """transformers' classifier as ONNX files: `torch.onnx.export`'s
    TorchScript exporter, and ONNX Runtime's dynamic int8 of that file."""
    import numpy as np
    import torch
    import transformers
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic

    model = transformers.BertForSequenceClassification(peers._hf_config(config)).eval()
    tokenizer = transformers.BertTokenizer(vocab=str(VOCAB))
    sentences = peers.read_sst2("dev")[0]

    names = ["input_ids", "attention_mask", "token_type_ids"]  # forward's order
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    paths = {
        "transformers_onnx": folder / "transformers.onnx",
        "transformers_onnx_int8": folder / "transformers_int8.onnx",
    }
    example = _encode(tokenizer, sentences[:2], "pt")
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(example[name] for name in names),
            str(paths["transformers_onnx"]),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    # Another batch size and length than the example: the dynamic axes hold.
    encoded = _encode(tokenizer, sentences[2:10], "np")
    with torch.inference_mode():
        tensors = {name: torch.from_numpy(array) for name, array in encoded.items()}
        expected = model(**tensors).logits.numpy()
    session = onnx_session(paths["transformers_onnx"], threads=1)
    logits = session.run(["logits"], dict(encoded))[0]
    difference = float(np.abs(logits - expected).max())
    print(f"transformers_onnx: max |ONNX - torch| logit difference {difference:.2e}")
    if not difference < 1e-4:
        raise ValueError(f"transformers' ONNX logits are {difference} off torch's")
    # The call of our `export(..., "onnx", quantize="int8")`.
    quantize_dynamic(
        paths["transformers_onnx"],
        paths["transformers_onnx_int8"],
        weight_type=QuantType.QInt8,
    )
    return paths


def _transformers_onnx_runner(path, threads):
    import transformers

    session = onnx_session(path, threads)
    tokenizer = transformers.BertTokenizer(vocab=str(VOCAB))

    def run(texts):
        encoded = _encode(tokenizer, texts, "np")
        return session.run(["logits"], dict(encoded))[0]

    return run


def _workload(run, sentences, batch):
    start = time.perf_counter()
    for begin in range(0, len(sentences), batch):
        run(sentences[begin : begin + batch])
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="base", choices=sorted(CONFIGS))
    parser.add_argument("--latency_sentences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--peers",
        default=None,
        help="comma-separated subset of the rows (transformers is always run)",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sentences = peers.read_sst2("dev")[0]
    workloads = {
        "batch_1": (sentences[: args.latency_sentences], 1),
        "batch_32": (sentences, 32),
    }
    with tempfile.TemporaryDirectory() as folder:
        runs, sizes = _build(CONFIGS[args.config], pathlib.Path(folder), args.threads)
        if args.peers:
            wanted = {*args.peers.split(","), "transformers"}
            runs = {name: run for name, run in runs.items() if name in wanted}
        names = list(runs)
        results = {}
        for workload, (texts, batch) in workloads.items():
            first = {}
            for name in names:
                start = time.perf_counter()
                runs[name](texts[:batch])
                first[name] = round(time.perf_counter() - start, 3)
            seconds = {name: [] for name in names}
            for round_index in range(args.rounds):
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    seconds[name].append(_workload(runs[name], texts, batch))
                print(workload, {n: round(s[-1], 2) for n, s in seconds.items()})
            rows = {}
            for name in names:
                best = min(seconds[name])
                ratios = [t / s for t, s in zip(seconds["transformers"], seconds[name])]
                rows[name] = {
                    "first_call_seconds": first[name],
                    "seconds": [round(s, 3) for s in seconds[name]],
                    "ms_per_sentence": round(1000 * best / len(texts), 2),
                    "sentences_per_second": round(len(texts) / best, 1),
                    "vs_transformers": round(median(ratios), 2),
                }
            results[workload] = {"sentences": len(texts), "batch": batch, "peers": rows}
    result = {
        "machine": machine_info(),
        "workload": {
            "config": args.config,
            "sequence_length": SEQUENCE_LENGTH,
            "threads": args.threads,
            "rounds": args.rounds,
        },
        "file_mib": sizes,
        "results": results,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
