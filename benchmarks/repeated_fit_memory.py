"""Memory over repeated fits in one process (k-fold, hyper-parameter search).

Each run: `--fits` fresh BERT-mini classifiers (L4/H256, vocabulary 30,522) fit
one epoch from strings (the first `--sentences` SST-2 train sentences, batch 32,
`BertPreprocessor` at 64), `keras.backend.clear_session()` + `gc.collect()`
after each; the process's RSS after each fit and, on TensorFlow, how many traced
graphs (`FuncGraph`) are still alive. One fresh process per optimizer:

- `ours`: the task's default compile (BERT's AdamW, `global_clipnorm=1.0`).
- `keras_adamw_clipnorm` (TensorFlow): plain `keras.optimizers.AdamW(
  global_clipnorm=1.0)`, whose dense-gradient all-reduce keeps every traced
  train step alive in TensorFlow's gradient registry (see
  `keras_bert_impl/optimizers/gradients.py`); use `run_isolated` with it.

    KERAS_BACKEND=tensorflow python benchmarks/repeated_fit_memory.py --out mem.json
"""

import argparse
import gc
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED  # noqa: E402
from benchmarks._common import current_rss  # noqa: E402
from benchmarks._common import machine_info  # noqa: E402
from benchmarks._common import mib  # noqa: E402


def _live_graphs():
    gc.collect()  # frees what the last collection's finalizers released
    return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())


def _fits(optimizer, fits, sentences):
    import keras
    import numpy as np

    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    lines = (SHARED / "glue" / "SST-2" / "train.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in lines[1 : sentences + 1]]
    texts = np.array([row[0] for row in rows])
    labels = np.array([int(row[1]) for row in rows])
    vocabulary = str(SHARED / "vocab" / "uncased" / "vocab.txt")
    rss, graphs = [], []
    for _ in range(fits):
        backbone = BertBackbone(
            vocabulary_size=30522,
            num_layers=4,
            num_heads=4,
            hidden_dim=256,
            intermediate_dim=1024,
        )
        preprocessor = BertPreprocessor(BertTokenizer(vocabulary), 64)
        model = BertClassifier(backbone, 2, preprocessor=preprocessor)
        if optimizer == "keras_adamw_clipnorm":
            model.compile(optimizer=keras.optimizers.AdamW(1e-4, global_clipnorm=1.0))
        model.fit(texts, labels, batch_size=32, epochs=1, verbose=0)
        del model, backbone, preprocessor
        keras.backend.clear_session()
        gc.collect()
        rss.append(mib(current_rss()))
        graphs.append(_live_graphs())
        print(f"{optimizer}: fit {len(rss)} RSS {rss[-1]} MiB", flush=True)
    growth = (rss[-1] - rss[1]) / (fits - 2) if fits > 2 else None
    return {
        "optimizer": optimizer,
        "rss_mib_after_each_fit": rss,
        "mib_per_fit_from_fit_2": None if growth is None else round(growth, 1),
        "live_traced_graphs_after_each_fit": graphs,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=6)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--out", default=None)
    parser.add_argument("--optimizer", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.optimizer:  # the child process: one optimizer, one JSON line
        print(json.dumps(_fits(args.optimizer, args.fits, args.sentences)))
        return
    import keras

    optimizers = ["ours"]
    if keras.backend.backend() == "tensorflow":
        optimizers.append("keras_adamw_clipnorm")
    runs = []
    for optimizer in optimizers:
        command = [sys.executable, __file__, "--optimizer", optimizer]
        command += ["--fits", str(args.fits), "--sentences", str(args.sentences)]
        output = subprocess.run(
            command, capture_output=True, text=True, env=os.environ, check=True
        ).stdout
        print(output.strip().splitlines()[-2], flush=True)
        runs.append(json.loads(output.strip().splitlines()[-1]))
    result = {"machine": machine_info(), "fits": args.fits, "runs": runs}
    print(json.dumps(result, indent=1))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
