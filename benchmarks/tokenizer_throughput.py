"""Tokenizer throughput: sentences/s on the SST-2 training sentences.

Ours (`keras_bert_impl.tokenizers.BertTokenizer`) side by side, in one run,
with Hugging Face's `BertTokenizerFast` (Rust), Hugging Face's pure-Python
reference `BertTokenizerLegacy`, keras-hub's `BertTokenizer` (when importable)
and tensorflow-text's `FastBertTokenizer` (fast, but not the reference
normalisation). Every tokenizer gets the whole list of sentences in one call
(batched), uncased vocabulary, no [CLS]/[SEP]; each timing is the best of
`--repeats` runs after a warm-up run. Also checks that our ids equal the
reference's on every sentence.

Usage:
    python benchmarks/tokenizer_throughput.py [--output PATH] [--data DIR]
"""

import argparse
import csv
import json
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _sentences(data):
    path = data / "glue" / "SST-2" / "train.tsv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r[0] for r in rows[1:]]


def _best_time(fn, repeats):
    fn()  # warm-up (tracing, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--output", default=str(ROOT / "benchmarks/results/tokenizer_throughput.json")
    )
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--legacy_sentences",
        type=int,
        default=10000,
        help="sentences timed for the (slow) pure-Python reference",
    )
    args = parser.parse_args(argv)

    import tensorflow as tf
    import transformers
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    from keras_bert_impl.tokenizers import BertTokenizer

    transformers.logging.set_verbosity_error()
    data = pathlib.Path(args.data)
    vocab_file = str(data / "vocab" / "uncased" / "vocab.txt")
    sentences = _sentences(data)
    n = len(sentences)
    results = []

    def record(name, seconds, count=n, note=""):
        results.append(
            {
                "name": name,
                "sentences": count,
                "seconds": round(seconds, 4),
                "sentences_per_second": round(count / seconds, 1),
                "note": note,
            }
        )
        print(f"  {name}: {count / seconds:,.0f} sentences/s", file=sys.stderr)

    ours = BertTokenizer(vocab_file)
    batch = tf.constant(sentences)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def ours_graph(x):
        return ours(x)

    record(
        "ours (tf.function, ragged tf output)",
        _best_time(lambda: ours_graph(batch).flat_values.numpy(), args.repeats),
        note="what tf.data / SavedModel run",
    )
    record(
        "ours (eager call, Python lists out)",
        _best_time(lambda: ours(sentences), args.repeats),
        note="same output type as Hugging Face",
    )
    general = BertTokenizer(vocab_file)
    general._use_fast_path = False

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def general_graph(x):
        return general(x)

    record(
        "ours, general path only (tf.function)",
        _best_time(lambda: general_graph(batch).flat_values.numpy(), args.repeats),
        note="the path non-ASCII strings take",
    )
    dataset = tf.data.Dataset.from_tensor_slices(sentences).batch(1024).map(ours)
    record(
        "ours (tf.data, batch 1024)",
        _best_time(lambda: [None for _ in dataset], args.repeats),
    )

    fast = transformers.BertTokenizerFast(vocab_file, do_lower_case=True)
    record(
        "HF BertTokenizerFast",
        _best_time(
            lambda: fast(sentences, add_special_tokens=False)["input_ids"],
            args.repeats,
        ),
        note="Rust, batched",
    )
    legacy = BertTokenizerLegacy(vocab_file, do_lower_case=True)
    subset = sentences[: args.legacy_sentences]
    record(
        "HF BertTokenizerLegacy (reference)",
        _best_time(lambda: legacy(subset, add_special_tokens=False)["input_ids"], 1),
        count=len(subset),
        note="pure Python",
    )
    try:
        import keras_hub
    except ImportError:
        keras_hub = None
    if keras_hub is not None:
        vocabulary = ours.vocabulary
        hub = keras_hub.tokenizers.BertTokenizer(vocabulary=vocabulary, lowercase=True)
        record(
            "keras-hub BertTokenizer (eager call)",
            _best_time(lambda: hub(sentences), args.repeats),
            note=f"keras-hub {keras_hub.__version__}, its default eager path",
        )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def hub_graph(x):
            return hub(x)

        record(
            "keras-hub BertTokenizer (tf.function)",
            _best_time(lambda: hub_graph(batch).flat_values.numpy(), args.repeats),
            note="NFKC case folding: not the reference",
        )
    import tensorflow_text as tf_text

    fast_bert = tf_text.FastBertTokenizer(
        ours.vocabulary, token_out_type=tf.int32, lower_case_nfd_strip_accents=True
    )
    record(
        "tensorflow-text FastBertTokenizer",
        _best_time(lambda: fast_bert.tokenize(batch).flat_values.numpy(), 3),
        note="not the reference normalisation",
    )

    # Correctness on the same sentences.
    our_ids = ours(sentences)
    basic, wordpiece, vocab = (
        legacy.basic_tokenizer,
        legacy.wordpiece_tokenizer,
        legacy.vocab,
    )
    reference = [
        [
            vocab.get(p, vocab["[UNK]"])
            for w in basic.tokenize(s)
            for p in wordpiece.tokenize(w)
        ]
        for s in sentences
    ]
    mismatches = sum(a != b for a, b in zip(our_ids, reference))
    fast_ids = fast(sentences, add_special_tokens=False)["input_ids"]
    fast_mismatches = sum(a != b for a, b in zip(fast_ids, reference))

    base = next(r for r in results if r["name"] == "HF BertTokenizerFast")
    for r in results:
        r["ratio_vs_hf_fast"] = round(
            r["sentences_per_second"] / base["sentences_per_second"], 2
        )
    report = {
        "benchmark": "tokenizer_throughput",
        "data": "SST-2 train sentences (glue/SST-2/train.tsv)",
        "sentences": n,
        "vocabulary": "uncased (30522)",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": {
            "tensorflow": tf.__version__,
            "tensorflow_text": tf_text.__version__
            if hasattr(tf_text, "__version__")
            else None,
            "transformers": transformers.__version__,
            "keras_hub": getattr(keras_hub, "__version__", None),
        },
        "identical_to_reference": {
            "reference": "transformers BertTokenizerLegacy (BasicTokenizer + "
            "WordpieceTokenizer)",
            "ours_mismatching_sentences": mismatches,
            "hf_fast_mismatching_sentences": fast_mismatches,
        },
        "results": results,
    }
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")

    print(f"Tokenizer throughput, {n:,} SST-2 train sentences (best of runs)\n")
    print("| tokenizer | sentences/s | × HF BertTokenizerFast | note |")
    print("|---|---:|---:|---|")
    for r in results:
        print(
            f"| {r['name']} | {r['sentences_per_second']:,.0f} "
            f"| {r['ratio_vs_hf_fast']:.2f} | {r['note']} |"
        )
    print(
        f"\nIds identical to the reference on {n - mismatches:,}/{n:,} sentences "
        f"(HF BertTokenizerFast: {n - fast_mismatches:,}/{n:,}). JSON: {output}"
    )
    return report


if __name__ == "__main__":
    main()
