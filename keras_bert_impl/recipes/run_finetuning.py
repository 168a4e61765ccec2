"""Fine-tuning and evaluation runs behind `keras-bert finetune` and `evaluate`:
the paper's tasks with the paper's recipe.

A run directory holds everything `predict` and `export` need: `model/` (the
fine-tuned task model as a preset folder, preprocessor included),
`run_config.json` (task, labels, sequence length), checkpoints to resume
from, TensorBoard logs, `training_curves.png` and `eval_results.json`. What
differs between tasks lives in their spec (`finetuning_tasks/`).
"""

import os
import pathlib

from keras_bert_impl.recipes.finetuning_tasks import task_kind
from keras_bert_impl.recipes.finetuning_tasks import task_spec
from keras_bert_impl.recipes.finetuning_tasks import task_spec_class
from keras_bert_impl.recipes.resumable_fit import fit_to_step
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.inference_process import cache_weights_for_inference
from keras_bert_impl.utils.preset_files import RUN_CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_io import load_preset_model
from keras_bert_impl.utils.run_directory import guarded_run

# `task_kind` stays importable from here, where it was.
__all__ = [
    "load_run",
    "run_evaluation",
    "run_export_options",
    "run_finetuning",
    "task_kind",
]


def _training_dataset(x, y, batch_size, seed, by_length):
    """Shuffled, repeated training batches whose order is a function of `seed`.

    Each epoch is a new permutation, `stateless_shuffle` of the example
    indices with the seed `(seed, epoch)`. A seeded `Dataset.shuffle` that
    reshuffles each iteration is not enough: its order depends on how often
    the dataset object was iterated before (a first-batch peek moves it on),
    which differed between a one-process and a multi-process `fit`, so the
    two took different batches. A resumed run relies on skipping exactly the
    batches it already took.

    With `by_length` (sentence-level labels), batches group examples of similar
    length and are padded to the smallest of a few lengths that holds them
    (`bucket_by_length`), not to `max_seq_length`.
    """
    import tensorflow as tf

    from keras_bert_impl.utils.length_bucketing import bucket_by_length
    from keras_bert_impl.utils.length_bucketing import bucket_lengths_for

    examples = tf.nest.map_structure(tf.convert_to_tensor, (x, y))
    num_examples = int(tf.nest.flatten(examples)[0].shape[0])

    def permutation(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_examples), seed=tf.stack([tf.cast(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    def take(indices):
        return tf.nest.map_structure(lambda t: tf.gather(t, indices), examples)

    indices = tf.data.Dataset.counter().flat_map(permutation)
    if not by_length:
        batches = indices.batch(batch_size, drop_remainder=True)
        return batches.map(take, num_parallel_calls=tf.data.AUTOTUNE)
    sequence_length = x["padding_mask"].shape[1]
    return bucket_by_length(
        indices.map(take, num_parallel_calls=tf.data.AUTOTUNE),
        batch_size,
        bucket_lengths_for(sequence_length),
        drop_remainder=True,
    )


@guarded_run("finetune", recognized=("checkpoints", "run_config.json"))
def run_finetuning(
    task_name,
    data_dir,
    output_dir,
    preset,
    max_seq_length=128,
    train_batch_size=32,
    eval_batch_size=32,
    learning_rate=5e-5,
    num_train_epochs=3.0,
    warmup_proportion=0.1,
    save_checkpoints_steps=1000,
    vocab_file=None,
    feature_layers=None,
    random_seed=12345,
    doc_stride=128,
    max_query_length=None,
    dtype=None,
    strategy="default",
    tpu_name=None,
    verbose="auto",
):
    """Fine-tunes a preset on a task and evaluates it on the dev split.

    `dtype` is the model's dtype policy (e.g. `"mixed_bfloat16"`;
    `"mixed_float16"` also scales the loss dynamically); weights, checkpoints
    and the saved model stay float32.

    `strategy` (and `tpu_name`) distribute training as `create_distribution`
    says; `train_batch_size` is the global batch. With `"multiworker"` the
    same call runs on every process of the job: each trains on its share of
    every global batch, the chief alone writes the run directory, and every
    process evaluates the whole dev set and returns the same metrics.

    Running it again with the same arguments resumes from the newest
    checkpoint and stops at the planned step. `output_dir` must be new, empty
    or an earlier run of this function (else pass `overwrite=True`); it is
    locked while the run lasts.

    Returns:
        dict: `task`, `global_step` and the task's dev metrics.
    """
    import keras

    from keras_bert_impl.optimizers.create_optimizer import create_optimizer
    from keras_bert_impl.optimizers.create_optimizer import needs_loss_scaling
    from keras_bert_impl.presets import tokenizer_from_preset
    from keras_bert_impl.training.callbacks import default_callbacks
    from keras_bert_impl.training.distribution import create_distribution
    from keras_bert_impl.training.distribution import global_batch_size
    from keras_bert_impl.training.distribution import scope_of
    from keras_bert_impl.training.job_processes import is_chief
    from keras_bert_impl.training.job_processes import process_log_dir
    from keras_bert_impl.training.job_processes import shard_by_process
    from keras_bert_impl.training.job_processes import undistributed_copy

    # First: a multi-worker strategy must exist before TF's runtime starts.
    distribution = create_distribution(strategy, tpu_name)
    chief = is_chief(distribution)
    _check_data_dir(data_dir)
    keras.utils.set_random_seed(random_seed)
    os.makedirs(output_dir, exist_ok=True)
    tokenizer = tokenizer_from_preset(preset, vocabulary=vocab_file)
    task = task_spec(task_name, tokenizer, max_seq_length, doc_stride, max_query_length)
    # Every file the run reads is found before training, not after it.
    for split in ("train", "dev"):
        task.data_file(data_dir, split)
    x, y, _ = task.read(data_dir, "train")
    num_examples = len(y) if not isinstance(y, dict) else len(next(iter(y.values())))
    if num_examples < train_batch_size:
        raise ValueError(
            f"{data_dir} has {num_examples} training examples, fewer than "
            f"--train_batch_size={train_batch_size}."
        )
    steps_per_epoch = num_examples // train_batch_size
    num_train_steps = max(1, int(steps_per_epoch * num_train_epochs))

    with scope_of(distribution), process_log_dir(output_dir, distribution) as log_dir:
        model = task.build_model(preset, feature_layers, dtype)
        limit = model.backbone.max_sequence_length
        if max_seq_length > limit:
            raise ValueError(
                f"--max_seq_length={max_seq_length} is longer than the model "
                f"allows (max_sequence_length={limit} in --preset={preset}); "
                f"pass --max_seq_length={limit} or less."
            )
        model.compile(
            optimizer=create_optimizer(
                "adamw",
                learning_rate=learning_rate,
                num_train_steps=num_train_steps,
                num_warmup_steps=int(num_train_steps * warmup_proportion),
                dynamic_loss_scale=needs_loss_scaling(dtype),
            )
        )
        callbacks = default_callbacks(
            output_dir,
            save_checkpoints_steps=min(save_checkpoints_steps, num_train_steps),
            num_train_steps=num_train_steps,
            log_every_steps=max(1, min(100, steps_per_epoch)),
            chief=chief,
            log_dir=log_dir,
        )
        dataset = _training_dataset(
            x,
            y,
            global_batch_size(train_batch_size, distribution),
            random_seed,
            # TPUs compile one program for fixed shapes: no length buckets.
            by_length=task.buckets_by_length and not _is_tpu(distribution),
        )
        # Each process trains on its share of every global batch.
        dataset = shard_by_process(dataset, [], distribution)
        global_step = fit_to_step(
            model, dataset, num_train_steps, steps_per_epoch, callbacks, verbose
        )
    model = undistributed_copy(model, distribution)
    if chief:
        _save_run(output_dir, model, task, preset, tokenizer)
    results = run_evaluation(output_dir, data_dir, eval_batch_size, (model, task))
    results["global_step"] = global_step
    if chief:
        write_json(pathlib.Path(output_dir) / "eval_results.json", results)
    return results


def _save_run(output_dir, model, task, preset, tokenizer):
    """What `predict`, `evaluate` and `export` read from a run directory."""
    model.save_to_preset(pathlib.Path(output_dir) / RUN_MODEL_DIR)
    run_config = {
        **task.run_config(),
        "preset": str(preset),
        "lowercase": tokenizer.lowercase,
    }
    write_json(pathlib.Path(output_dir) / RUN_CONFIG_FILE, run_config)
    # The vocabulary beside the model: predict and export need no preset.
    vocabulary_path = pathlib.Path(output_dir) / VOCABULARY_FILE
    vocabulary_path.write_text("\n".join(tokenizer.get_vocabulary()) + "\n")


def _is_tpu(distribution):
    import tensorflow as tf

    return isinstance(distribution, tf.distribute.TPUStrategy)


def _check_data_dir(data_dir):
    if not os.path.isdir(data_dir):
        what = "a file" if os.path.exists(data_dir) else "nothing"
        raise ValueError(
            f"--data_dir={data_dir}: expected the folder of the task's files, "
            f"found {what}; pass the folder that holds them."
        )


def _read_run_config(run_dir):
    config_file = pathlib.Path(run_dir) / RUN_CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a fine-tuning run directory: no {RUN_CONFIG_FILE}."
        )
    return read_json(config_file)


def load_run_task(run_dir):
    """The task spec and run config of a run directory, without its model.

    The spec's labels, regression flag and input arity are the run's, as
    run_config.json records them.
    """
    from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer

    run_dir = pathlib.Path(run_dir)
    config = _read_run_config(run_dir)
    tokenizer = BertTokenizer(
        str(run_dir / VOCABULARY_FILE), lowercase=config["lowercase"]
    )
    task = task_spec(
        config["task_name"],
        tokenizer,
        config["max_seq_length"],
        config.get("doc_stride", 128),
        config.get("max_query_length"),
    )
    for key in ("label_list", "is_regression", "text_pair"):
        if key in config:
            setattr(task, key, config[key])
    return task, config


def load_run(run_dir, dtype=None):
    """The fine-tuned model, its task spec and run config of a run directory.

    `dtype`: the dtype policy the model computes in (None: as saved, float32).
    """
    task, config = load_run_task(run_dir)
    # Whichever task class the run trained, as its task.json names it.
    model = load_preset_model(pathlib.Path(run_dir) / RUN_MODEL_DIR, dtype)
    return model, task, config


def run_export_options(run_dir):
    """`export_saved_model` arguments a fine-tuning run directory implies.

    A finetune run knows its labels, input arity, sequence length and (SQuAD)
    windows; anything else (a preset folder or name) implies none: `{}`.
    """
    if not (pathlib.Path(run_dir) / RUN_CONFIG_FILE).is_file():
        return {}
    config = _read_run_config(run_dir)
    return task_spec_class(config["task_name"]).export_options(config)


def run_evaluation(
    run_dir,
    data_dir,
    eval_batch_size=32,
    loaded=None,
    dtype=None,
    inference_only_process=False,
):
    """Dev metrics of a fine-tuned run on `data_dir`'s dev split.

    Args:
        run_dir: the run directory `run_finetuning` wrote.
        data_dir: the task's data folder.
        eval_batch_size: int.
        loaded: optional `(model, task spec)` already in memory.
        dtype: the dtype policy the loaded model computes in (e.g.
            `"mixed_bfloat16"`); None: as saved (float32).
        inference_only_process: bool. True where this process runs nothing
            else (the `evaluate` command): TF may then keep a bfloat16 model's
            weights in oneDNN's AMX layout (`cache_weights_for_inference`).
    """
    _check_data_dir(data_dir)
    model, task = loaded if loaded is not None else load_run(run_dir, dtype)[:2]
    if inference_only_process:
        cache_weights_for_inference(model)
    x, y, examples = task.read(data_dir, "dev")
    metrics = task.metrics(model, x, y, examples, eval_batch_size)
    return {"task": task.task_name, **{k: float(v) for k, v in metrics.items()}}


def __getattr__(name):
    # `predict`'s functions lived here; the old names keep working for one release.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
