"""`run_pretraining`: BERT's masked-LM + next-sentence pretraining with `model.fit`.

The Keras 3 counterpart of google-research/bert's `run_pretraining.py`, with
the same parameter names. Running it again with the same arguments resumes
from the newest checkpoint in `output_dir/checkpoints` and stops at
`num_train_steps`.
"""

import glob
import json
import os
import pathlib

import keras

from keras_bert_impl.recipes.resumable_fit import fit_to_step
from keras_bert_impl.recipes.shipped_preset_conversion import ARCHITECTURE_KEYS
from keras_bert_impl.recipes.time_budget import TimeBudget
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.run_directory import check_run_config
from keras_bert_impl.utils.run_directory import guarded_run

# The masked-LM and NSP metrics as Keras names them (output name + metric name)
# and as the original tool reports them.
REPORTED_METRICS = {
    "loss": "loss",
    "mlm_logits_masked_lm_accuracy": "masked_lm_accuracy",
    "nsp_logits_next_sentence_accuracy": "next_sentence_accuracy",
    "mlm_logits_masked_lm_loss": "masked_lm_loss",
    "nsp_logits_next_sentence_loss": "next_sentence_loss",
}
PRETRAINING_DATA_DIR = "pretraining_data"
# What a rerun must share with the run whose checkpoints it resumes.
RESUME_KEYS = (
    "architecture",
    "max_seq_length",
    "max_predictions_per_seq",
    "packed_sequences",
)


def architecture_of(backbone):
    """The backbone config entries that decide its weights' shapes and meaning."""
    config = backbone.get_config()
    return {key: config[key] for key in (*ARCHITECTURE_KEYS, "activation")}


def reported_metrics(logs):
    """Keras' log names mapped to the original tool's metric names."""
    return {
        name: float(logs[key]) for key, name in REPORTED_METRICS.items() if key in logs
    }


def _backbone_from_google_config(path, dtype, packed_sequences):
    from keras_bert_impl.convert.google_checkpoint import backbone_config_from_google
    from keras_bert_impl.models.bert_backbone import BertBackbone

    if not os.path.isfile(path):
        found = "a folder" if os.path.isdir(path) else "nothing"
        raise ValueError(
            f"--bert_config_file={path}: expected a bert_config.json file, found "
            f"{found}; pass the JSON file of the architecture (or use --preset)."
        )
    return BertBackbone(
        **backbone_config_from_google(read_json(path)),
        dtype=dtype,
        packed_sequences=packed_sequences,
    )


def build_pretrainer(
    preset=None,
    bert_config_file=None,
    backbone_config=None,
    init_checkpoint=None,
    dtype=None,
    packed_sequences=False,
):
    """The pretrainer to train: an architecture, optionally with starting weights.

    `preset` names an architecture only (weights are not loaded: pretraining
    starts from scratch) unless `init_checkpoint` gives weights: a preset
    name or folder, a Hugging Face folder, a Google checkpoint or a
    `.weights.h5` file saved from a `BertPretrainer`. `packed_sequences`
    builds the backbone for packed rows (the weights are the same).
    """
    from keras_bert_impl.models.bert_backbone import BertBackbone
    from keras_bert_impl.models.bert_pretrainer import BertPretrainer

    if backbone_config is not None:
        backbone = BertBackbone(
            **{**backbone_config, "packed_sequences": packed_sequences}, dtype=dtype
        )
    elif bert_config_file is not None:
        backbone = _backbone_from_google_config(
            bert_config_file, dtype, packed_sequences
        )
    elif preset is not None:
        backbone = BertBackbone.from_preset(
            preset,
            load_weights=False,
            dtype=dtype,
            packed_sequences=packed_sequences,
        )
    else:
        raise ValueError("Give the architecture: --preset or --bert_config_file.")
    pretrainer = BertPretrainer(backbone)
    if init_checkpoint:
        initialize_from_checkpoint(pretrainer, init_checkpoint)
    return pretrainer


def initialize_from_checkpoint(pretrainer, checkpoint):
    """Copies the weights of a checkpoint into `pretrainer`, shapes checked.

    `checkpoint` is a `.weights.h5` saved from a `BertPretrainer`, a preset
    name or folder of ours (or a run directory), or a Google, Hugging Face or
    keras-hub checkpoint folder. The pretraining heads are copied when the
    checkpoint has them; otherwise they keep their fresh initialisation.
    """
    from keras_bert_impl.convert.source_format import load_checkpoint
    from keras_bert_impl.models.bert_pretrainer import BertPretrainer
    from keras_bert_impl.models.bert_task import BertTask

    checkpoint = str(checkpoint)
    if checkpoint.endswith(".weights.h5"):
        pretrainer.load_weights(checkpoint)
        return
    source, _ = load_checkpoint(checkpoint)
    if isinstance(source, BertPretrainer):
        _copy_weights(source, pretrainer, checkpoint)
    else:
        # A fine-tuned task's head has no place in a pretrainer: its backbone does.
        backbone = source.backbone if isinstance(source, BertTask) else source
        _copy_weights(backbone, pretrainer.backbone, checkpoint)


def _copy_weights(source, target, checkpoint):
    mismatched = [
        f"{t.path}: checkpoint {tuple(s.shape)}, model {tuple(t.shape)}"
        for s, t in zip(source.weights, target.weights)
        if tuple(s.shape) != tuple(t.shape)
    ]
    if len(source.weights) != len(target.weights) or mismatched:
        raise ValueError(
            f"--init_checkpoint {checkpoint} does not fit the model: "
            + ("; ".join(mismatched) or "a different number of weights")
        )
    target.set_weights(source.get_weights())


def create_records_once(input_files, records, vocab_file, summary_file, **options):
    """Turns raw text into TFRecords once; a finished call's records are reused.

    Args:
        input_files: `create_pretraining_data`'s text files (list or globs).
        records: the TFRecord file to write.
        vocab_file: the WordPiece vocabulary.
        summary_file: where `create_pretraining_data`'s summary is written,
            last: its presence means the records are complete.
        **options: further `create_pretraining_data` arguments.

    Returns:
        The summary (as JSON reads it back).
    """
    from keras_bert_impl.data import create_pretraining_data

    summary_file = pathlib.Path(summary_file)
    if not summary_file.is_file():
        pathlib.Path(records).parent.mkdir(parents=True, exist_ok=True)
        summary = create_pretraining_data(
            input_files=input_files,
            output_files=str(records),
            vocab_file=str(vocab_file),
            **options,
        )
        summary_file.write_text(json.dumps(summary, indent=2, default=str))
    return read_json(summary_file)


def _prepare_corpus_data(corpus, vocab_file, output_dir, options):
    """The TFRecords of raw text files or folders, created on the first run."""
    if not vocab_file:
        raise ValueError("--corpus needs --vocab_file (the WordPiece vocabulary).")
    paths = []
    for item in str(corpus).split(","):
        if os.path.isdir(item):
            paths += sorted(
                glob.glob(os.path.join(item, "**", "*.txt"), recursive=True)
            )
        else:
            paths.append(item)
    data_dir = pathlib.Path(output_dir) / PRETRAINING_DATA_DIR
    records = data_dir / "train.tfrecord"
    create_records_once(
        paths, records, vocab_file, data_dir / "summary.json", **options
    )
    return str(records)


@guarded_run("pretrain", recognized=("checkpoints", "eval_results.json"))
def run_pretraining(
    output_dir,
    input_file=None,
    corpus=None,
    vocab_file=None,
    do_lower_case=True,
    do_whole_word_mask=False,
    chinese_word_segmenter=None,
    eval_input_file=None,
    preset=None,
    bert_config_file=None,
    backbone_config=None,
    init_checkpoint=None,
    train_batch_size=32,
    eval_batch_size=8,
    max_seq_length=128,
    max_predictions_per_seq=20,
    num_train_steps=100000,
    num_warmup_steps=10000,
    max_eval_steps=100,
    learning_rate=5e-5,
    optimizer="adamw",
    gradient_accumulation_steps=None,
    save_checkpoints_steps=1000,
    iterations_per_loop=1,
    strategy="default",
    tpu_name=None,
    model_parallel=1,
    dtype=None,
    random_seed=12345,
    time_budget_seconds=None,
    dynamic_masking=False,
    verbose="auto",
):
    """Pretrains (or resumes pretraining) a `BertPretrainer` and evaluates it.

    Packed files (`create_pretraining_data(pack_sequences=True)`) are
    recognized from their features and train a backbone built with
    `packed_sequences=True`; `eval_input_file` must then be packed too.

    `corpus` (raw text) is turned into records once, by `create_pretraining_data`
    with `do_lower_case`, `do_whole_word_mask` and `chinese_word_segmenter`.

    `output_dir` must be new, empty or an earlier run of this function (else
    pass `overwrite=True`); it is locked while the run lasts, and a rerun
    whose architecture, sequence length, predictions per sequence or packing
    differs from the run it would resume is refused, naming the differences.

    Writes into `output_dir`: `checkpoints/` (resumable), `logs/`
    (TensorBoard), `training_curves.png`, `model/` (the final pretrainer as a
    preset folder, which `--init_checkpoint` and `from_preset` accept) and
    `eval_results.json`.

    Returns:
        dict with `global_step`, `masked_lm_accuracy`, `next_sentence_accuracy`,
        `loss` (and the two losses) on the evaluation data (`eval_input_file`,
        else the first `max_eval_steps` batches of the training data, as the
        original tool does).
    """
    from keras_bert_impl.data import pretraining_dataset
    from keras_bert_impl.data.pretraining.pretraining_dataset import check_record_layout
    from keras_bert_impl.data.pretraining.pretraining_dataset import expand_files
    from keras_bert_impl.data.pretraining.pretraining_dataset import (
        packed_instances_per_row,
    )
    from keras_bert_impl.data.pretraining.pretraining_dataset import record_errors_named
    from keras_bert_impl.data.pretraining.pretraining_vocabulary import (
        read_pretraining_vocabulary,
    )
    from keras_bert_impl.optimizers.create_optimizer import create_optimizer
    from keras_bert_impl.optimizers.create_optimizer import needs_loss_scaling
    from keras_bert_impl.training.callbacks import default_callbacks
    from keras_bert_impl.training.distribution import check_layout_map
    from keras_bert_impl.training.distribution import create_distribution
    from keras_bert_impl.training.distribution import global_batch_size
    from keras_bert_impl.training.distribution import scope_of
    from keras_bert_impl.training.job_processes import is_chief
    from keras_bert_impl.training.job_processes import num_processes
    from keras_bert_impl.training.job_processes import process_log_dir
    from keras_bert_impl.training.job_processes import shard_by_process

    # First: a multi-worker strategy must exist before TF's runtime starts.
    distribution = create_distribution(strategy, tpu_name, model_parallel)
    chief = is_chief(distribution)
    if bool(input_file) == bool(corpus):
        raise ValueError("Give the training data: --input_file or --corpus, not both.")
    if corpus and num_processes(distribution) > 1:
        raise ValueError(
            f"--corpus with {num_processes(distribution)} processes: each would "
            "write the records into --output_dir. Create them once with "
            "`keras-bert create-pretraining-data` and pass --input_file=... ."
        )
    if dynamic_masking:
        # Checked before the model builds: masking needs [MASK] and the specials.
        if not vocab_file:
            raise ValueError(
                "dynamic_masking=True: expected vocab_file (the records' vocab.txt), "
                "got none; pass vocab_file=... ."
            )
        read_pretraining_vocabulary(vocab_file, purpose="dynamic masking")
    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(random_seed)
    if corpus:
        input_file = _prepare_corpus_data(
            corpus,
            vocab_file,
            output_dir,
            dict(
                do_lower_case=do_lower_case,
                do_whole_word_mask=do_whole_word_mask,
                chinese_word_segmenter=chinese_word_segmenter,
                max_seq_length=max_seq_length,
                max_predictions_per_seq=max_predictions_per_seq,
                random_seed=random_seed,
            ),
        )

    # Records of other lengths than the flags are refused before anything builds.
    for files in filter(None, (input_file, eval_input_file)):
        check_record_layout(
            expand_files(files), max_seq_length, max_predictions_per_seq
        )
    packed_sequences = packed_instances_per_row(expand_files(input_file)) is not None
    if eval_input_file and packed_sequences != (
        packed_instances_per_row(expand_files(eval_input_file)) is not None
    ):
        raise ValueError(
            f"--eval_input_file {eval_input_file} and --input_file {input_file} "
            "must be both packed (create-pretraining-data --pack_sequences) or both "
            f"not; the training files are {'' if packed_sequences else 'not '}packed."
        )

    with scope_of(distribution), process_log_dir(output_dir, distribution) as log_dir:
        pretrainer = build_pretrainer(
            preset,
            bert_config_file,
            backbone_config,
            init_checkpoint,
            dtype,
            packed_sequences=packed_sequences,
        )
        check_layout_map(distribution, pretrainer)
        check_run_config(
            output_dir,
            {
                "architecture": architecture_of(pretrainer.backbone),
                "max_seq_length": max_seq_length,
                "max_predictions_per_seq": max_predictions_per_seq,
                "packed_sequences": packed_sequences,
            },
            RESUME_KEYS,
        )
        limit = pretrainer.backbone.max_sequence_length
        if max_seq_length > limit:
            raise ValueError(
                f"--max_seq_length={max_seq_length} is longer than the model "
                f"allows (max_sequence_length={limit}); pass --max_seq_length="
                f"{limit} or less."
            )
        pretrainer.compile(
            optimizer=create_optimizer(
                optimizer,
                learning_rate=learning_rate,
                # 0 steps evaluates the starting point (no schedule to build).
                num_train_steps=num_train_steps or None,
                num_warmup_steps=num_warmup_steps if num_train_steps else 0,
                gradient_accumulation_steps=gradient_accumulation_steps,
                dynamic_loss_scale=needs_loss_scaling(dtype),
            ),
            steps_per_execution=iterations_per_loop,
        )
        callbacks = default_callbacks(
            output_dir,
            save_checkpoints_steps=save_checkpoints_steps,
            num_train_steps=num_train_steps,
            log_every_steps=max(1, min(100, save_checkpoints_steps)),
            chief=chief,
            log_dir=log_dir,
        )
        if time_budget_seconds:
            callbacks.append(TimeBudget(time_budget_seconds))
        batch_size = global_batch_size(train_batch_size, distribution)
        dataset = pretraining_dataset(
            input_file,
            batch_size,
            max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq,
            repeat=True,
            seed=random_seed,
            dynamic_masking=dynamic_masking,
            vocabulary=vocab_file if dynamic_masking else None,
            do_whole_word_mask=do_whole_word_mask,
        )
        dataset = shard_by_process(dataset, expand_files(input_file), distribution)
        with record_errors_named(input_file, max_seq_length, max_predictions_per_seq):
            global_step = fit_to_step(
                pretrainer,
                dataset,
                num_train_steps,
                min(save_checkpoints_steps, num_train_steps),
                callbacks,
                verbose,
            )
        eval_dataset = pretraining_dataset(
            eval_input_file or input_file,
            global_batch_size(eval_batch_size, distribution),
            max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq,
            shuffle=False,
            # Processes split whole batches (as on the original's TPU path).
            drop_remainder=num_processes(distribution) > 1,
        ).take(max_eval_steps)
        eval_dataset = shard_by_process(
            eval_dataset, expand_files(eval_input_file or input_file), distribution
        )
        with record_errors_named(
            eval_input_file or input_file, max_seq_length, max_predictions_per_seq
        ):
            logs = pretrainer.evaluate(eval_dataset, return_dict=True, verbose=0)

    results = {"global_step": global_step, **reported_metrics(logs)}
    if chief:
        pretrainer.save_to_preset(pathlib.Path(output_dir) / RUN_MODEL_DIR)
        write_json(pathlib.Path(output_dir) / "eval_results.json", results)
    return results
