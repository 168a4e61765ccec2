"""Two gaps of Keras 3's TF trainer under `MultiWorkerMirroredStrategy`, closed.

With several worker processes (tensorflow/tensorflow#72388), every `fit` fails
before its first step:

- To learn the input shapes, the trainer all-reduces (MEAN) the first input
  batch across replicas. A multi-worker strategy cannot reduce a nest (its
  collective reduce converts the whole dict into one tensor); and a
  collective just to read shapes is wasted work. One replica's batch has the
  structure and dtypes that building needs: `first_replica_batch`.
- Each step's logs are reduced with `strategy.reduce("MEAN", value, axis=0)`,
  which fails on the scalar losses and metrics a step returns. Giving each a
  leading axis of 1 makes that reduction the mean over replicas:
  `reducible_logs`.
"""

import keras


def _is_multi_worker(strategy):
    if strategy is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and strategy.extended._in_multi_worker_mode()
    )


def first_replica_batch(epoch_iterator, strategy):
    """The first batch of `epoch_iterator`, each value from its first replica.

    Args:
        epoch_iterator: Keras' TF epoch iterator (yields `(begin, end,
            iterator)`), reset by `fit` afterwards.
        strategy: the model's `tf.distribute.Strategy`.

    Returns:
        The batch, with local tensors in place of distributed values.
    """
    import tensorflow as tf

    for _, _, iterator in epoch_iterator:
        batch = next(iterator)
        break
    else:
        return None

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return keras.tree.map_structure(local, batch)


def reducible_logs(logs, strategy):
    """A train/test step's logs, each scalar given a leading axis under a
    multi-worker strategy (see the module docstring); unchanged otherwise."""
    if not _is_multi_worker(strategy) or not isinstance(logs, dict):
        return logs
    return {
        name: keras.ops.expand_dims(value, 0) if len(value.shape) == 0 else value
        for name, value in logs.items()
    }
