"""Pretraining-data generation throughput: instances per second, ours vs the original.

Corpora (`--corpus`), cut at about `--corpus_mb` MB, one sentence per line and a blank
line between documents:
- `sst2` (as issue 4 describes it): the SST-2 training sentences from ../shared/data, 12
  sentences per document (short movie-review lines, ~10 words);
- `conll2003`: the Reuters news articles of CoNLL-2003's training file, each article a
  document, its sentences' tokens joined by spaces (real documents of ~15-word lines).
Flags: seq 128, max_predictions_per_seq 20, dupe_factor 5, the rest the original tool's
defaults.

Runs:
- ours with `--workers` processes (default 2) and with 1 worker;
- the peer: google-research/bert's own `create_pretraining_data.py` + `tokenization.py`,
  run unmodified in a subprocess with `tensorflow` aliased to `tensorflow.compat.v1`
  (it is TF1 code: tf.flags, tf.gfile, tf.python_io). Its code is not part of this
  project: point `--original_dir` (or $BERT_ORIGINAL_DIR) at a checkout of
  github.com/google-research/bert. Without it, the peer is our own 1-worker run, and
  the JSON says so.

Timings exclude interpreter start and imports on both sides (ours: the function call
with TensorFlow imported; the original: its `main()`), and take the best of `--repeats`.

    python benchmarks/pretraining_data_throughput.py --original_dir ~/src/bert
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import machine_info  # noqa: E402

_ORIGINAL_RUNNER = r"""
import json, sys, time
import tensorflow.compat.v1 as tf1
sys.modules["tensorflow"] = tf1
sys.path.insert(0, sys.argv[1])
import create_pretraining_data as cpd
cpd.FLAGS(["create_pretraining_data.py"] + sys.argv[2:])
tf1.logging.set_verbosity(tf1.logging.WARN)
cpd.tf.logging.set_verbosity = lambda level: None  # keep main() quiet
start = time.perf_counter()
cpd.main(None)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _sst2_documents(sentences_per_doc=12):
    tsv = SHARED / "glue" / "SST-2" / "train.tsv"
    if not tsv.is_file():
        sys.exit(f"{tsv} is absent: the benchmark needs ../shared/data")
    lines = tsv.read_text(encoding="utf-8").splitlines()[1:]
    sentences = [line.split("\t")[0].strip() for line in lines if line.strip()]
    for start in range(0, len(sentences), sentences_per_doc):
        yield [s for s in sentences[start : start + sentences_per_doc] if s]


def _conll2003_documents():
    path = SHARED / "conll2003" / "train.txt"
    if not path.is_file():
        sys.exit(f"{path} is absent: the benchmark needs ../shared/data")
    document, sentence = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        token = line.split(" ")[0]
        if token and token != "-DOCSTART-":
            sentence.append(token)
            continue
        if sentence:
            document.append(" ".join(sentence))
            sentence = []
        if token == "-DOCSTART-" and document:
            yield document
            document = []
    if document:
        yield document


CORPORA = {
    "sst2": ("SST-2 train sentences, 12 per document", _sst2_documents),
    "conll2003": (
        "CoNLL-2003 train: Reuters articles as documents",
        _conll2003_documents,
    ),
}


def build_corpus(path, max_bytes, corpus="sst2"):
    out, size, docs, count = [], 0, 0, 0
    for doc in CORPORA[corpus][1]():
        text = "\n".join(doc) + "\n\n"
        if size + len(text.encode()) > max_bytes:
            break
        out.append(text)
        size += len(text.encode())
        docs += 1
        count += len(doc)
    pathlib.Path(path).write_text("".join(out), encoding="utf-8")
    return {"bytes": size, "documents": docs, "sentences": count}


def file_stats(paths, seq, pred):
    """Recipe statistics measured on written files (ours and the original's alike)."""
    import numpy as np
    import tensorflow as tf

    spec = {
        "input_mask": tf.io.FixedLenFeature([seq], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([pred], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }
    lengths, masked, nsp = [], [], []
    for batch in tf.data.TFRecordDataset(paths).batch(4096):
        parsed = tf.io.parse_example(batch, spec)
        lengths.append(parsed["input_mask"].numpy().sum(axis=1))
        masked.append(parsed["masked_lm_weights"].numpy().sum(axis=1))
        nsp.append(parsed["next_sentence_labels"].numpy()[:, 0])
    lengths, masked, nsp = map(np.concatenate, (lengths, masked, nsp))
    return {
        "instances": int(len(lengths)),
        "masked_fraction": float(masked.sum() / lengths.sum()),
        "random_next_fraction": float(nsp.mean()),
        "mean_length": float(lengths.mean()),
        "shorter_than_max_fraction": float((lengths < seq).mean()),
    }


def run_ours(corpus, vocab, out_dir, flags, workers, repeats):
    from keras_bert_impl.data import create_pretraining_data

    best = None
    for r in range(repeats):
        outputs = [str(out_dir / f"ours_w{workers}_{r}_{k}.tfrecord") for k in range(2)]
        summary = create_pretraining_data(
            str(corpus),
            outputs,
            str(vocab),
            num_workers=workers,
            progress=False,
            **flags,
        )
        if best is None or summary["seconds"] < best["seconds"]:
            best = {
                "instances": summary["instances"],
                "seconds": summary["seconds"],
                "instances_per_second": summary["instances"] / summary["seconds"],
                "phase_seconds": summary["phase_seconds"],
                "workers": summary["num_workers"],
                "file_stats": file_stats(
                    outputs, flags["max_seq_length"], flags["max_predictions_per_seq"]
                ),
            }
        for path in outputs:
            os.remove(path)
    return best


def run_original(original_dir, corpus, vocab, out_dir, flags, repeats):
    best = None
    for r in range(repeats):
        outputs = [str(out_dir / f"orig_{r}_{k}.tfrecord") for k in range(2)]
        args = [
            f"--input_file={corpus}",
            f"--output_file={','.join(outputs)}",
            f"--vocab_file={vocab}",
        ] + [f"--{k}={v}" for k, v in flags.items()]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        done = subprocess.run(
            [sys.executable, "-c", _ORIGINAL_RUNNER, str(original_dir), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the original tool failed:\n{done.stderr[-4000:]}")
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        stats = file_stats(
            outputs, flags["max_seq_length"], flags["max_predictions_per_seq"]
        )
        if best is None or seconds < best["seconds"]:
            best = {
                "instances": stats["instances"],
                "seconds": seconds,
                "instances_per_second": stats["instances"] / seconds,
                "workers": 1,
                "file_stats": stats,
            }
        for path in outputs:
            os.remove(path)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--output",
        help="JSON path (default: results/pretraining_data_throughput.json, "
        "with _CORPUS before .json for corpora other than sst2)",
    )
    parser.add_argument("--original_dir", default=os.environ.get("BERT_ORIGINAL_DIR"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--original_repeats", type=int, default=1)
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="sst2")
    parser.add_argument("--corpus_mb", type=float, default=3.0)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--dupe_factor", type=int, default=5)
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # noqa: F401  (imported before timing, as the peer's)

    vocab = SHARED / "vocab" / "uncased" / "vocab.txt"
    flags = {
        "max_seq_length": args.max_seq_length,
        "max_predictions_per_seq": 20,
        "masked_lm_prob": 0.15,
        "short_seq_prob": 0.1,
        "dupe_factor": args.dupe_factor,
        "random_seed": 12345,
        "do_lower_case": True,
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        corpus = tmp / f"{args.corpus}_docs.txt"
        corpus_info = build_corpus(corpus, int(args.corpus_mb * 1e6), args.corpus)
        runs = {}
        runs[f"ours_workers{args.workers}"] = run_ours(
            corpus, vocab, tmp, flags, args.workers, args.repeats
        )
        runs["ours_workers1"] = run_ours(corpus, vocab, tmp, flags, 1, args.repeats)
        if args.original_dir:
            runs["original"] = run_original(
                pathlib.Path(args.original_dir).resolve(),
                corpus,
                vocab,
                tmp,
                flags,
                args.original_repeats,
            )
            peer, peer_note = (
                "original",
                (
                    "google-research/bert create_pretraining_data.py, unmodified, "
                    "single process, tensorflow aliased to tensorflow.compat.v1"
                ),
            )
        else:
            peer, peer_note = (
                "ours_workers1",
                (
                    "the original tool was not given (--original_dir): the peer is our "
                    "own single-worker run, NOT the original"
                ),
            )

    ours = runs[f"ours_workers{args.workers}"]
    ratios = {
        f"ours_workers{args.workers}_vs_{peer}": ours["instances_per_second"]
        / runs[peer]["instances_per_second"],
        f"ours_workers{args.workers}_vs_ours_workers1": ours["instances_per_second"]
        / runs["ours_workers1"]["instances_per_second"],
    }
    if "original" in runs:
        ratios["ours_workers1_vs_original"] = (
            runs["ours_workers1"]["instances_per_second"]
            / runs["original"]["instances_per_second"]
        )
    result = {
        "benchmark": "pretraining_data_throughput",
        "unit": "instances/s",
        "target": "ours (2 workers) >= 5x the original single-process tool",
        "corpus": {"source": CORPORA[args.corpus][0], **corpus_info},
        "flags": flags,
        "peer": peer,
        "peer_note": peer_note,
        "runs": runs,
        "ratios": ratios,
        "machine": {
            **machine_info(),
            "load_average_1_5_15min_at_end": list(os.getloadavg()),
            "note": "2 cores shared with other users' jobs: timings are best-of-N",
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = [
        "| run | workers | instances | seconds | instances/s | vs peer "
        "| masked | random next | shorter than max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, run in runs.items():
        ratio = run["instances_per_second"] / runs[peer]["instances_per_second"]
        st = run["file_stats"]
        rows.append(
            f"| {name} | {run['workers']} | {run['instances']} | {run['seconds']:.2f} "
            f"| {run['instances_per_second']:.0f} | {ratio:.2f}x "
            f"| {st['masked_fraction']:.4f} | {st['random_next_fraction']:.4f} "
            f"| {st['shorter_than_max_fraction']:.4f} |"
        )
    table = "\n".join(rows)
    suffix = "" if args.corpus == "sst2" else f"_{args.corpus}"
    output = pathlib.Path(
        args.output
        or ROOT / "benchmarks" / "results" / f"pretraining_data_throughput{suffix}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(
        f"# Pretraining data throughput\n\nCorpus: {CORPORA[args.corpus][0]}. "
        f"Peer: {peer_note}.\n\n{table}\n"
    )
    print(table)
    print(json.dumps(ratios))
    return result


if __name__ == "__main__":
    main()
