"""Sequence packing for pretraining data: real tokens per row and per second.

For each corpus (the BERT sample text in ../shared/data, and the embedded default
demo corpus) at `--max_seq_length` 128: pretraining data with and without
`pack_sequences` (same seed, same instances), the fraction of real (non-padding)
tokens per row, and rows per epoch. Then a `BertPretrainer` (the suite's "small"
config by default: 4 layers, hidden 512) trains on batches of each (`train_on_batch`,
steps interleaved packed / unpacked in rounds so load from other processes hits
both alike) and the throughput in real tokens per second is compared.

    KERAS_BACKEND=jax python benchmarks/sequence_packing.py --out packing.json
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import CONFIGS  # noqa: E402
from benchmarks._common import SHARED  # noqa: E402
from benchmarks._common import backend_name  # noqa: E402
from benchmarks._common import median  # noqa: E402


def _corpora(directory):
    from keras_bert_impl.data import default_corpus_documents
    from keras_bert_impl.data import write_documents

    corpora = {}
    sample = SHARED / "bert_sample_text" / "sample_text.txt"
    if sample.is_file():
        corpora["bert_sample_text"] = str(sample)
    corpora["default_corpus"] = str(
        write_documents(default_corpus_documents(), directory / "default.txt")
    )
    return corpora


def _make_data(text, directory, name, args):
    from keras_bert_impl.data import create_pretraining_data

    vocab = SHARED / "vocab" / "uncased" / "vocab.txt"
    results = {}
    for packed in (False, True):
        path = directory / f"{name}_{'packed' if packed else 'unpacked'}.tfrecord"
        summary = create_pretraining_data(
            text,
            str(path),
            str(vocab),
            max_seq_length=args.max_seq_length,
            dupe_factor=args.dupe_factor,
            progress=False,
            pack_sequences=packed,
        )
        rows = summary.get("rows", summary["instances"])
        results["packed" if packed else "unpacked"] = {
            "path": str(path),
            "instances": summary["instances"],
            "rows": rows,
        }
    return results


def _batches(path, batch_size, count):
    import numpy as np

    from keras_bert_impl.data import pretraining_dataset

    dataset = pretraining_dataset(path, batch_size, repeat=True, seed=0)
    batches = []
    for x, y, sample_weight in dataset.take(count):
        to_numpy = {k: v.numpy() for k, v in x.items()}
        batches.append(
            (
                to_numpy,
                {k: v.numpy() for k, v in y.items()},
                {k: v.numpy() for k, v in sample_weight.items()},
                int(np.count_nonzero(to_numpy["padding_mask"])),
            )
        )
    return batches


def _real_token_fraction(path, max_seq_length):
    import numpy as np

    from keras_bert_impl.data import pretraining_dataset

    real = rows = 0
    for x, _, _ in pretraining_dataset(
        path, 256, shuffle=False, drop_remainder=False, prefetch=False
    ):
        mask = x["padding_mask"].numpy()
        real += int(np.count_nonzero(mask))
        rows += len(mask)
    return real / (rows * max_seq_length)


def _throughput(data, args):
    import keras

    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertPretrainer

    runs = {}
    for mode in ("unpacked", "packed"):
        keras.utils.set_random_seed(0)
        backbone = BertBackbone(
            **CONFIGS[args.config],
            max_sequence_length=args.max_seq_length,
            packed_sequences=mode == "packed",
        )
        model = BertPretrainer(backbone)
        batches = _batches(data[mode]["path"], args.batch_size, args.steps_per_round)
        for x, y, sample_weight, _ in batches[:2]:  # compile and warm up
            model.train_on_batch(x, y, sample_weight=sample_weight)
        runs[mode] = (model, batches)
    rates = {mode: [] for mode in runs}
    for round_index in range(args.rounds):
        order = list(runs) if round_index % 2 == 0 else list(runs)[::-1]
        for mode in order:
            model, batches = runs[mode]
            start = time.perf_counter()
            for x, y, sample_weight, _ in batches:
                model.train_on_batch(x, y, sample_weight=sample_weight)
            seconds = time.perf_counter() - start
            real_tokens = sum(batch[3] for batch in batches)
            rates[mode].append(real_tokens / seconds)
    ratios = [p / u for p, u in zip(rates["packed"], rates["unpacked"])]
    return {
        "real_tokens_per_second": {mode: median(r) for mode, r in rates.items()},
        "packed_over_unpacked": median(ratios),
        "steps_per_mode": args.rounds * args.steps_per_round,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--dupe_factor", type=int, default=5)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps_per_round", type=int, default=8)
    parser.add_argument(
        "--train_corpus", default="default_corpus", help="corpus for throughput"
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    results = {"backend": backend_name(), "config": args.config, "corpora": {}}
    with tempfile.TemporaryDirectory() as directory:
        directory = pathlib.Path(directory)
        for name, text in _corpora(directory).items():
            data = _make_data(text, directory, name, args)
            corpus = results["corpora"][name] = {}
            for mode, info in data.items():
                corpus[mode] = {
                    "instances": info["instances"],
                    "rows": info["rows"],
                    "real_token_fraction": _real_token_fraction(
                        info["path"], args.max_seq_length
                    ),
                }
            if name == args.train_corpus:
                corpus["training"] = _throughput(data, args)
    print(json.dumps(results, indent=2))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
