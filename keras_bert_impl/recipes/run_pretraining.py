"""`run_pretraining`: BERT's masked-LM + next-sentence pretraining with `model.fit`.

The Keras 3 counterpart of google-research/bert's `run_pretraining.py`, with
the same parameter names. Running it again with the same arguments resumes
from the newest checkpoint in `output_dir/checkpoints` and stops at
`num_train_steps`.
"""

import glob
import json
import math
import os
import pathlib
import time

import keras

from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR

# The masked-LM and NSP metrics as Keras names them (output name + metric name)
# and as the original tool reports them.
REPORTED_METRICS = {
    "loss": "loss",
    "mlm_logits_masked_lm_accuracy": "masked_lm_accuracy",
    "nsp_logits_next_sentence_accuracy": "next_sentence_accuracy",
    "mlm_logits_loss": "masked_lm_loss",
    "nsp_logits_loss": "next_sentence_loss",
}
PRETRAINING_DATA_DIR = "pretraining_data"


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` once a wall-clock budget is spent (the demo's few minutes)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.seconds:
            self.model.stop_training = True


def reported_metrics(logs):
    """Keras' log names mapped to the original tool's metric names."""
    return {
        name: float(logs[key]) for key, name in REPORTED_METRICS.items() if key in logs
    }


def _backbone_from_google_config(path, dtype, packed_sequences):
    from keras_bert_impl.convert.google_checkpoint import backbone_config_from_google
    from keras_bert_impl.models.bert_backbone import BertBackbone

    with open(path, encoding="utf-8") as file:
        return BertBackbone(
            **backbone_config_from_google(json.load(file)),
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
    name or folder of ours, or a Google, Hugging Face or keras-hub checkpoint
    folder. The pretraining heads are copied when the checkpoint has them;
    otherwise they keep their fresh initialisation.
    """
    from keras_bert_impl.convert import from_google_checkpoint
    from keras_bert_impl.convert import from_huggingface
    from keras_bert_impl.convert import from_keras_hub
    from keras_bert_impl.models.bert_backbone import BertBackbone
    from keras_bert_impl.models.bert_pretrainer import BertPretrainer
    from keras_bert_impl.recipes.convert_to_preset import detect_source_format
    from keras_bert_impl.utils.preset_files import CONFIG_FILE
    from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
    from keras_bert_impl.utils.preset_files import resolve_preset

    checkpoint = str(checkpoint)
    if checkpoint.endswith(".weights.h5"):
        pretrainer.load_weights(checkpoint)
        return
    path = pathlib.Path(checkpoint).expanduser()
    if not path.exists() or "keras_bert_impl" in _read_text(path / CONFIG_FILE):
        # A preset of ours: take the heads too when it is a saved pretrainer.
        task_config = _read_text(resolve_preset(checkpoint) / TASK_CONFIG_FILE)
        preset_class = (
            BertPretrainer if "BertPretrainer" in task_config else BertBackbone
        )
        source = preset_class.from_preset(checkpoint)
    else:
        converters = {
            "google": from_google_checkpoint,
            "huggingface": from_huggingface,
            "keras_hub": from_keras_hub,
        }
        source = converters[detect_source_format(checkpoint)](checkpoint)
    if isinstance(source, BertPretrainer):
        _copy_weights(source, pretrainer, checkpoint)
    else:
        _copy_weights(source, pretrainer.backbone, checkpoint)


def _read_text(path):
    return path.read_text(encoding="utf-8") if path.is_file() else ""


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


def _prepare_corpus_data(corpus, vocab_file, output_dir, options):
    """Turns raw text into TFRecords once; a finished run's files are reused."""
    from keras_bert_impl.data.pretraining_data import create_pretraining_data

    if not vocab_file:
        raise ValueError("--corpus needs --vocab_file (the WordPiece vocabulary).")
    data_dir = pathlib.Path(output_dir) / PRETRAINING_DATA_DIR
    summary_file = data_dir / "summary.json"
    records = data_dir / "train.tfrecord"
    if summary_file.is_file():
        return str(records)
    paths = []
    for item in str(corpus).split(","):
        if os.path.isdir(item):
            paths += sorted(
                glob.glob(os.path.join(item, "**", "*.txt"), recursive=True)
            )
        else:
            paths.append(item)
    data_dir.mkdir(parents=True, exist_ok=True)
    summary = create_pretraining_data(
        input_files=paths, output_files=str(records), vocab_file=vocab_file, **options
    )
    # Written last: its presence means the records are complete.
    summary_file.write_text(json.dumps(summary, indent=2, default=str))
    return str(records)


def run_pretraining(
    output_dir,
    input_file=None,
    corpus=None,
    vocab_file=None,
    do_lower_case=True,
    do_whole_word_mask=False,
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
    from keras_bert_impl.data.pretraining_dataset import expand_files
    from keras_bert_impl.data.pretraining_dataset import packed_instances_per_row
    from keras_bert_impl.data.pretraining_dataset import pretraining_dataset
    from keras_bert_impl.optimizers.create_optimizer import create_optimizer
    from keras_bert_impl.training.callbacks import default_callbacks
    from keras_bert_impl.training.distribution import distribution_scope
    from keras_bert_impl.training.distribution import global_batch_size

    if bool(input_file) == bool(corpus):
        raise ValueError("Give the training data: --input_file or --corpus, not both.")
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
                max_seq_length=max_seq_length,
                max_predictions_per_seq=max_predictions_per_seq,
                random_seed=random_seed,
            ),
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

    with distribution_scope(strategy, tpu_name, model_parallel) as distribution:
        pretrainer = build_pretrainer(
            preset,
            bert_config_file,
            backbone_config,
            init_checkpoint,
            dtype,
            packed_sequences=packed_sequences,
        )
        limit = pretrainer.backbone.max_sequence_length
        if max_seq_length > limit:
            raise ValueError(
                f"max_seq_length={max_seq_length} is longer than the model allows "
                f"(max_sequence_length={limit})."
            )
        pretrainer.compile(
            optimizer=create_optimizer(
                optimizer,
                learning_rate=learning_rate,
                # 0 steps evaluates the starting point (no schedule to build).
                num_train_steps=num_train_steps or None,
                num_warmup_steps=num_warmup_steps if num_train_steps else 0,
                gradient_accumulation_steps=gradient_accumulation_steps,
            ),
            steps_per_execution=iterations_per_loop,
        )
        callbacks = default_callbacks(
            output_dir,
            save_checkpoints_steps=save_checkpoints_steps,
            num_train_steps=num_train_steps,
            log_every_steps=max(1, min(100, save_checkpoints_steps)),
        )
        if time_budget_seconds:
            callbacks.append(TimeBudget(time_budget_seconds))
        checkpoint = callbacks[0]
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
        ).skip(checkpoint.initial_step)
        steps_per_epoch = min(save_checkpoints_steps, num_train_steps)
        if checkpoint.initial_step < num_train_steps:
            pretrainer.fit(
                dataset,
                epochs=math.ceil(num_train_steps / steps_per_epoch),
                steps_per_epoch=steps_per_epoch,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=False,  # the pipeline shuffles; Keras cannot
            )
        eval_dataset = pretraining_dataset(
            eval_input_file or input_file,
            eval_batch_size,
            max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq,
            shuffle=False,
            drop_remainder=False,
        ).take(max_eval_steps)
        logs = pretrainer.evaluate(eval_dataset, return_dict=True, verbose=0)

    pretrainer.save_to_preset(pathlib.Path(output_dir) / RUN_MODEL_DIR)
    global_step = max(checkpoint.step, checkpoint.initial_step)
    results = {"global_step": int(global_step), **reported_metrics(logs)}
    with open(os.path.join(output_dir, "eval_results.json"), "w") as file:
        json.dump(results, file, indent=2)
    return results
