"""Pretraining data generation: the original `create_pretraining_data.py`, fast.

What it draws is google-research/bert's algorithm (`instances`): documents are
shuffled, each is visited `dupe_factor` times, every visit pairs, truncates and masks
its sentences; all instances are shuffled and written round-robin to the output files
as `tf.train.Example`s with the original feature names and layout
(`example_encoding`). Optionally (`pack_sequences=True`, not in the original) the
instances of each task are packed several to a row (`sequence_packing`) before the
shuffle; the instances themselves are the same as without packing.

What differs is how it runs, not what it draws from:

- Lines are tokenized in batches of thousands (`corpus`); the corpus is one flat
  id array.
- The work is cut into tasks (one dupe round over a fixed block of documents);
  each task has its own seeds derived from `random_seed` and its position, and
  tasks run in worker processes. Outputs are byte-identical for any number of
  workers.
- Masking and the `tf.train.Example` encoding are vectorized with numpy.
- Random draws come from per-task generators, so a seed gives other instances
  than the original tool's single `random.Random(seed)` does, with the same
  distribution.

No text at all is an error, so is a vocabulary without `[CLS]`, `[SEP]` or `[MASK]`.
"""

import gc
import math
import multiprocessing
import os
import random
import time
import warnings

import numpy as np

from keras_bert_impl.data.pretraining.chinese_words import word_segmenter
from keras_bert_impl.data.pretraining.corpus import make_tokenizer
from keras_bert_impl.data.pretraining.corpus import read_corpus
from keras_bert_impl.data.pretraining.example_encoding import encode_examples
from keras_bert_impl.data.pretraining.input_files import expand_input_files
from keras_bert_impl.data.pretraining.input_files import split_paths
from keras_bert_impl.data.pretraining.instances import INSTANCE_STATISTICS
from keras_bert_impl.data.pretraining.instances import create_instances
from keras_bert_impl.data.pretraining.pretraining_vocabulary import (
    read_pretraining_vocabulary,
)
from keras_bert_impl.data.pretraining.sequence_packing import pack_instances

# Tokens per task: a task is one dupe round over a block of documents holding about
# this many tokens. Fixed (not derived from the number of workers) so that outputs do
# not depend on it.
_TOKENS_PER_TASK = 1 << 16

# ----------------------------------------------------------------------------
# Tasks, run in worker processes.

_STATE = {}


def _init_worker(state):
    _STATE.clear()
    _STATE.update(state)


def _new_statistics():
    return dict.fromkeys(INSTANCE_STATISTICS + ("rows",), 0)


def _seed_words(random_seed):
    return int(random_seed) & 0xFFFFFFFFFFFFFFFF


def _task_generators(random_seed, dupe, block):
    seed = _seed_words(random_seed)
    py_rng = random.Random(f"keras_bert_impl/{seed}/{dupe}/{block}")
    np_rng = np.random.default_rng([seed, 1, dupe, block])
    return py_rng, np_rng


def _run_task(task):
    """One dupe round over one block of documents -> serialized examples + stats."""
    dupe, block, doc_range = task
    options = _STATE["options"]
    py_rng, np_rng = _task_generators(options["random_seed"], dupe, block)
    statistics = _new_statistics()
    features = create_instances(
        _STATE["tokens"],
        _STATE["lists"],
        doc_range,
        _STATE["num_docs"],
        options,
        py_rng,
        np_rng,
        statistics,
        _STATE["chinese_word_continuation"],
    )
    if features is None:
        return b"", np.zeros(1, np.int64), statistics, doc_range[1] - doc_range[0]
    if options["pack_sequences"]:
        # A generator of its own: the instances are those of the unpacked run.
        features = pack_instances(
            features,
            options["max_instances_per_row"],
            rng=np.random.default_rng(
                [_seed_words(options["random_seed"]), 2, dupe, block]
            ),
        )
    statistics["rows"] += len(features["input_ids"])
    blob, offsets = encode_examples(
        [
            (name, "float" if values.dtype == np.float32 else "int64", values)
            for name, values in features.items()
        ]
    )
    return blob, offsets, statistics, doc_range[1] - doc_range[0]


def _make_tasks(corpus, dupe_factor):
    """Blocks of consecutive documents with about `_TOKENS_PER_TASK` tokens each."""
    doc_tokens = np.add.reduceat(corpus.sent_len, corpus.doc_sent_start[:-1])
    blocks, start, total = [], 0, 0
    for d, count in enumerate(doc_tokens.tolist()):
        total += count
        if total >= _TOKENS_PER_TASK:
            blocks.append((start, d + 1))
            start, total = d + 1, 0
    if start < corpus.num_documents:
        blocks.append((start, corpus.num_documents))
    return [(dupe, b, r) for dupe in range(dupe_factor) for b, r in enumerate(blocks)]


def _run_tasks(state, tasks, workers, collect):
    """Runs `tasks` in order (in `workers` processes), passing each result to
    `collect`."""
    if workers <= 1:
        _init_worker(state)
        try:
            for task in tasks:
                collect(_run_task(task))
        finally:
            _STATE.clear()
        return
    methods = multiprocessing.get_all_start_methods()
    # fork shares the corpus without copying it; the workers run numpy only.
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # Objects that exist now are never collected in the workers: without this
    # their garbage collector walks (and so copies) the parent's whole heap.
    gc.freeze()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fork.*")
            pool = context.Pool(workers, initializer=_init_worker, initargs=(state,))
    finally:
        gc.unfreeze()
    try:
        for result in pool.imap(_run_task, tasks, chunksize=1):
            collect(result)
    finally:
        pool.close()
        pool.join()


def _write_shuffled(blobs, offsets, outputs, rng):
    """Writes all examples in an order drawn from `rng`, round-robin to `outputs`
    (the original's order of work)."""
    import tensorflow as tf

    sizes = [len(o) - 1 for o in offsets]
    bases = np.concatenate([[0], np.cumsum([len(b) for b in blobs])])
    starts = np.concatenate(
        [o[:-1] + base for o, base in zip(offsets, bases[:-1])] or [np.zeros(0)]
    ).astype(np.int64)
    ends = np.concatenate(
        [o[1:] + base for o, base in zip(offsets, bases[:-1])] or [np.zeros(0)]
    ).astype(np.int64)
    buffer = memoryview(b"".join(blobs))
    order = rng.permutation(int(sum(sizes)))
    for path in outputs:
        parent = os.path.dirname(path)
        if parent:
            tf.io.gfile.makedirs(parent)
    # Records go to temporary files renamed over the outputs only once every
    # file is complete, so a failure never truncates a user's existing file.
    temporaries = [f"{path}.partial-{os.getpid()}" for path in outputs]
    writers = [tf.io.TFRecordWriter(path) for path in temporaries]
    try:
        n_writers = len(writers)
        starts, ends = starts.tolist(), ends.tolist()
        for k, idx in enumerate(order.tolist()):
            writers[k % n_writers].write(bytes(buffer[starts[idx] : ends[idx]]))
        for writer in writers:
            writer.close()
        for temporary, path in zip(temporaries, outputs):
            tf.io.gfile.rename(temporary, path, overwrite=True)
    finally:
        for writer in writers:
            writer.close()
        for temporary in temporaries:
            if tf.io.gfile.exists(temporary):
                tf.io.gfile.remove(temporary)


def _check_outputs(outputs):
    import tensorflow as tf

    for path in outputs:
        if tf.io.gfile.isdir(path):
            raise ValueError(
                f"--output_file {path} is a directory, expected a file path: "
                "name a file inside it, e.g. "
                f"{os.path.join(path, 'pretraining.tfrecord')}"
            )


def _progress_bar(enabled, total, desc, unit):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)


def _segmenter_name(segmenter):
    if segmenter is None or isinstance(segmenter, str):
        return segmenter
    return getattr(segmenter, "__qualname__", type(segmenter).__name__)


def _default_workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------
# Entry point.


def create_pretraining_data(
    input_files,
    output_files,
    vocab_file,
    do_lower_case=True,
    do_whole_word_mask=False,
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    short_seq_prob=0.1,
    dupe_factor=10,
    random_seed=12345,
    num_workers=None,
    progress=True,
    *,
    tokenizer=None,
    invalid_lines="skip",
    max_line_chars=100_000,
    pack_sequences=False,
    max_instances_per_row=8,
    chinese_word_segmenter=None,
):
    """Writes masked-LM / next-sentence TFRecords from raw text, as the original tool.

    Parameter names are the original `create_pretraining_data.py` flags. The algorithm
    is in `keras_bert_impl.data.pretraining.instances`; what input is skipped, in
    `keras_bert_impl.data.pretraining.corpus`.

    Args:
        input_files: comma-separated paths/globs (the original flag) or a list of them.
            One sentence per line, a blank line between documents, UTF-8.
        output_files: comma-separated paths or a list; instances go round-robin.
        vocab_file: WordPiece vocabulary file (or a list of tokens); needs `[CLS]`,
            `[SEP]`, `[MASK]` (and `[UNK]` for the tokenizer).
        do_lower_case: lower-case (and strip accents) before WordPiece.
        do_whole_word_mask: mask whole words (all `##` pieces of a word together).
        max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob,
            dupe_factor, random_seed: as the original flags.
        num_workers: worker processes (default: the CPUs this process may use). The
            output does not depend on it.
        progress: show progress bars (tqdm, on stderr).
        tokenizer: optional callable mapping a list of strings to ragged token ids
            consistent with `vocab_file` (default:
            `BertTokenizer(vocab, do_lower_case)`).
        invalid_lines: "skip" (count and go on) or "error" (`DataFormatError` naming the
            file and line) for lines that are not valid UTF-8.
        max_line_chars: lines longer than this (after stripping) are skipped.
        pack_sequences: write rows of several instances each (see
            `keras_bert_impl.data.pretraining.sequence_packing`; the instances are
            the same as without packing), for `BertBackbone(packed_sequences=True)`.
        max_instances_per_row: K, the most instances in a packed row.
        chinese_word_segmenter: `"jieba"` (needs `pip install jieba`) or a callable
            (str -> the line's words, in order): whole-word masking then masks
            whole segmenter words of Chinese text (Chinese BERT-wwm), other text as
            before; the records gain a `word_continuation` feature that dynamic
            masking uses. Needs `do_whole_word_mask`. See
            `keras_bert_impl.data.pretraining.chinese_words`.

    Returns:
        dict summary: `instances`, `documents`, `sentences`, `tokens` (corpus),
        `single_sentence_documents`, `skipped_lines` ({reason: count}),
        `skipped_examples` (first `file:line: reason`s), `empty_files`,
        `masked_fraction` (masked / non-padding tokens), `mask_token_fraction`,
        `kept_fraction`, `random_token_fraction` (shares of the masked tokens),
        `random_next_fraction`, `short_target_fraction` (document visits with a short
        target), `input_files`, `output_files`, `num_workers`,
        `chinese_word_segmenter` (its name, or None), `seconds`,
        `phase_seconds`, `instances_per_second`; with `pack_sequences`, also
        `rows` and `real_token_fraction` (real tokens / row positions).
    """
    start_time = time.perf_counter()
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length must be at least 5, got {max_seq_length}")
    if max_predictions_per_seq < 1:
        raise ValueError("max_predictions_per_seq must be at least 1")
    if not 0.0 < masked_lm_prob <= 1.0:
        raise ValueError(f"masked_lm_prob must be in (0, 1], got {masked_lm_prob}")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be in [0, 1], got {short_seq_prob}")
    if dupe_factor < 1:
        raise ValueError(f"dupe_factor must be at least 1, got {dupe_factor}")
    if invalid_lines not in ("skip", "error"):
        raise ValueError(
            f"invalid_lines must be 'skip' or 'error', got {invalid_lines!r}"
        )
    if chinese_word_segmenter is not None and not do_whole_word_mask:
        raise ValueError(
            f"chinese_word_segmenter={chinese_word_segmenter!r} needs "
            "do_whole_word_mask=True (--do_whole_word_mask=true): the segmenter's "
            "words are what whole-word masking masks"
        )
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    if pack_sequences and max_instances_per_row < 1:
        raise ValueError(
            f"max_instances_per_row must be at least 1, got {max_instances_per_row}"
        )
    files = expand_input_files(input_files)
    outputs = split_paths(output_files)
    if not outputs:
        raise ValueError("no output file given")
    _check_outputs(outputs)
    vocab = read_pretraining_vocabulary(vocab_file)
    if tokenizer is None:
        tokenizer = make_tokenizer(vocab, do_lower_case)
    segment = None
    if chinese_word_segmenter is not None:
        segment = word_segmenter(chinese_word_segmenter)

    bar = _progress_bar(progress, None, "reading and tokenizing", "line")
    corpus, input_report = read_corpus(
        files,
        tokenizer,
        invalid_lines,
        max_line_chars,
        bar=bar,
        word_segmenter=segment,
    )
    bar.close()
    tokenized_time = time.perf_counter()
    if corpus.num_documents == 0:
        raise ValueError(
            f"no text in the input files ({', '.join(files)}): nothing to make "
            "pretraining data from"
        )
    seed = _seed_words(random_seed)
    corpus = corpus.shuffled_documents(np.random.default_rng([seed, 0xD0C5]))
    sentences_per_doc = np.diff(corpus.doc_sent_start)

    options = {
        "random_seed": random_seed,
        "max_seq_length": int(max_seq_length),
        "max_predictions_per_seq": int(max_predictions_per_seq),
        "masked_lm_prob": float(masked_lm_prob),
        "short_seq_prob": float(short_seq_prob),
        "do_whole_word_mask": bool(do_whole_word_mask),
        "vocab_size": len(vocab),
        "cls_id": vocab.index("[CLS]"),
        "sep_id": vocab.index("[SEP]"),
        "mask_id": vocab.index("[MASK]"),
        "is_continuation": np.array([t.startswith("##") for t in vocab]),
        "pack_sequences": bool(pack_sequences),
        "max_instances_per_row": int(max_instances_per_row),
    }
    state = {
        "options": options,
        "tokens": corpus.tokens,
        "num_docs": corpus.num_documents,
        "lists": corpus.index_lists(),
        "chinese_word_continuation": corpus.chinese_word_continuation,
    }
    tasks = _make_tasks(corpus, int(dupe_factor))
    workers = min(num_workers or _default_workers(), len(tasks))

    bar = _progress_bar(
        progress, int(dupe_factor) * corpus.num_documents, "creating instances", "doc"
    )
    blobs, offsets, totals = [], [], _new_statistics()

    def collect(result):
        blob, offs, statistics, docs = result
        blobs.append(blob)
        offsets.append(offs)
        for k, v in statistics.items():
            totals[k] += v
        bar.update(docs)

    _run_tasks(state, tasks, workers, collect)
    bar.close()
    generated_time = time.perf_counter()
    _write_shuffled(blobs, offsets, outputs, np.random.default_rng([seed, 0x5A0F]))

    end_time = time.perf_counter()
    seconds = end_time - start_time
    masked = max(totals["masked"], 1)
    instances = totals["instances"]
    summary = {
        "instances": instances,
        "documents": corpus.num_documents,
        "sentences": int(len(corpus.sent_len)),
        "tokens": int(corpus.sent_len.sum()),
        "single_sentence_documents": int((sentences_per_doc == 1).sum()),
        **input_report,
        "masked_fraction": totals["masked"] / max(totals["tokens"], 1),
        "mask_token_fraction": totals["mask_token"] / masked,
        "kept_fraction": totals["kept"] / masked,
        "random_token_fraction": totals["random_token"] / masked,
        "random_next_fraction": totals["random_next"] / max(instances, 1),
        "short_target_fraction": totals["short_passes"] / max(totals["passes"], 1),
        "input_files": files,
        "output_files": outputs,
        "num_workers": workers,
        "chinese_word_segmenter": _segmenter_name(chinese_word_segmenter),
        "seconds": seconds,
        "phase_seconds": {
            "read_and_tokenize": tokenized_time - start_time,
            "create_instances": generated_time - tokenized_time,
            "shuffle_and_write": end_time - generated_time,
        },
        "instances_per_second": instances / seconds if seconds > 0 else math.inf,
    }
    if pack_sequences:
        summary["rows"] = totals["rows"]
        summary["real_token_fraction"] = totals["tokens"] / max(
            totals["rows"] * int(max_seq_length), 1
        )
    return summary
