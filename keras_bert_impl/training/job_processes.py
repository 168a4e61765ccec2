"""The processes of one job: which one writes, how many, what each reads.

A multi-process job (`create_distribution("multiworker")`: TF workers named
in `TF_CONFIG`, JAX processes from `KERAS_DISTRIBUTION_*`) has one chief,
which writes the run's files; every process reads its own share of the input.
One-process runs are their own chief and read everything.
"""

import contextlib
import os
import shutil
import tempfile

import keras


def _tf_cluster_resolver(distribution):
    """The cluster resolver of a TF strategy that has one; `None` otherwise
    (one process, a JAX distribution, or none)."""
    if not hasattr(distribution, "num_replicas_in_sync"):
        return None
    return getattr(distribution, "cluster_resolver", None)


def is_chief(distribution):
    """Whether this process writes the run's files (checkpoints, logs, results).

    One process per job does: TensorFlow's `chief` task, or worker 0 of a
    cluster without one; JAX's process 0. Single-process runs are their own
    chief.
    """
    if distribution is None:
        return True
    resolver = _tf_cluster_resolver(distribution)
    if resolver is not None:
        task_type, task_id = resolver.task_type, resolver.task_id
        if not task_type:
            return True
        if "chief" in resolver.cluster_spec().as_dict():
            return task_type == "chief"
        return task_type == "worker" and not task_id
    if keras.backend.backend() == "jax":
        import jax

        return jax.process_index() == 0
    return True


@contextlib.contextmanager
def process_log_dir(output_dir, distribution):
    """Where this process writes a run's logs and curves.

    The chief writes into `output_dir`; every other process of the job into a
    scratch folder of its own, deleted when the block ends (TensorBoard and
    Keras callbacks run on every process, and two writers would mix files).

    Yields:
        str: the folder.
    """
    if is_chief(distribution):
        yield os.fspath(output_dir)
        return
    scratch = tempfile.mkdtemp(prefix="keras_bert_impl-worker-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shard_by_process(dataset, files, distribution):
    """Makes each process of a TF multi-worker job read its own share of `files`.

    Whole files when there are at least as many as workers (each reads only
    its files), else every worker reads all records and keeps its 1/N of the
    batches; never the same example twice. `tf.distribute` applies the
    policy when `fit` distributes the dataset. On JAX, Keras' distribution
    shards a batched dataset between processes itself (per-process batch =
    global batch / processes), and one-process runs need nothing.

    Args:
        dataset: a batched `tf.data.Dataset` (global batches).
        files: list of str. The files `dataset` reads.
        distribution: what `create_distribution` returned.

    Returns:
        The dataset, with the sharding policy set where one applies.
    """
    if _tf_cluster_resolver(distribution) is None:
        return dataset
    import tensorflow as tf

    workers = num_processes(distribution)
    if workers < 2:
        return dataset
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        policy.FILE if len(files) >= workers else policy.DATA
    )
    return dataset.with_options(options)


def num_processes(distribution):
    """How many processes the job runs (TF workers, JAX processes); 1 alone."""
    resolver = _tf_cluster_resolver(distribution)
    if resolver is not None:
        cluster = resolver.cluster_spec().as_dict()
        return max(1, sum(len(cluster.get(job, ())) for job in ("chief", "worker")))
    if distribution is not None and keras.backend.backend() == "jax":
        import jax

        return jax.process_count()
    return 1


def undistributed_copy(model, distribution):
    """`model` itself on one device; otherwise a copy of it outside `distribution`.

    What a run does after training (evaluate the dev set with `predict`,
    save the model) needs no distribution, and several processes would split
    the data between them or wait for each other: every process predicts
    with its own copy, all of it, and gets the same results.
    """
    if distribution is None or num_processes(distribution) < 2:
        return model
    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy
