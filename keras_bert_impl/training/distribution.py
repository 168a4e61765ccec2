"""Picking a distribution: tf.distribute strategies on TF, keras.distribution on JAX.

One entry point, `distribution_scope(strategy_name, tpu_name=None,
model_parallel=1)`, gives a context manager on either backend; build, compile
and fit the model inside it:

```python
with distribution_scope("mirrored") as distribution:
    batch_size = global_batch_size(256, distribution)  # checks divisibility
    model = BertPretrainer(BertBackbone(...))
    model.compile(optimizer=create_optimizer(...), ...)
    model.fit(dataset.batch(batch_size), ...)
```

Global batch size. On both backends the batch that `fit` receives (the
`tf.data` batch size, `--train_batch_size`) is the *global* batch, as in the
original `run_pretraining.py` on TPU: a TF strategy splits it over its
`num_replicas_in_sync` replicas, a JAX distribution shards it over the mesh's
batch axis (for several processes Keras splits the dataset between them
first). Each replica computes the loss of its share and the gradients are
averaged, so the loss and the update equal one device's on the same global
batch; learning rates therefore need no rescaling. The global batch must be a
multiple of the number of data replicas (`num_data_replicas`).
"""

import contextlib
import re

import keras

_TF_NAMES = {
    "cpu": "default",
    "default": "default",
    "none": "default",
    "one_device": "default",
    "gpu": "default",
    "mirrored": "mirrored",
    "data_parallel": "mirrored",
    "multiworker": "multiworker",
    "multi_worker": "multiworker",
    "multi_worker_mirrored": "multiworker",
    "tpu": "tpu",
}
_JAX_NAMES = {
    "cpu": "default",
    "default": "default",
    "none": "default",
    "one_device": "default",
    "gpu": "default",
    "mirrored": "data_parallel",
    "data_parallel": "data_parallel",
    "model_parallel": "data_parallel",
    "tpu": "data_parallel",
    "multiworker": "multiworker",
    "multi_worker": "multiworker",
    "multi_worker_mirrored": "multiworker",
}
# Created once per process: TPU systems initialise once, a multi-worker
# strategy (TF) or `keras.distribution.initialize` (JAX) must come before
# anything else starts the runtime, and neither can be repeated.
_PROCESS_DISTRIBUTIONS = {}


def bert_layout_map(device_mesh, model_axis="model"):
    """A `keras.distribution.LayoutMap` that shards BERT Megatron-style.

    Regexes over Keras variable paths (`transformer_layer_0/attention/query/
    kernel`, optionally behind a prefix): attention query/key/value kernels
    and the FFN intermediate kernel are split by output columns over
    `model_axis` (their biases with them), the attention output and FFN
    output kernels by input rows, so each block needs one all-reduce after
    attention and one after the FFN. The token, position and segment
    embeddings are split over the hidden dimension (the vocabulary, 30522 for
    the English models, divides by few mesh sizes). Everything else
    (LayerNorms, pooler, heads) is replicated.

    Args:
        device_mesh: `keras.distribution.DeviceMesh` with an axis named
            `model_axis`.
        model_axis: str. The mesh axis to shard over.

    Returns:
        A `keras.distribution.LayoutMap`.

    Example:
    ```python
    mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"))
    distribution = keras.distribution.ModelParallel(
        layout_map=bert_layout_map(mesh), batch_dim_name="batch"
    )
    ```
    """
    layout_map = keras.distribution.LayoutMap(device_mesh)
    prefix = r"(?:.*/)?"
    block = prefix + r"transformer_layer_\d+/"
    layout_map[block + r"attention/(?:query|key|value)/kernel"] = (None, model_axis)
    layout_map[block + r"attention/(?:query|key|value)/bias"] = (model_axis,)
    layout_map[block + r"attention/output/kernel"] = (model_axis, None)
    layout_map[block + r"intermediate/kernel"] = (None, model_axis)
    layout_map[block + r"intermediate/bias"] = (model_axis,)
    layout_map[block + r"output/kernel"] = (model_axis, None)
    layout_map[prefix + r"(?:token|position|segment)_embedding/embeddings"] = (
        None,
        model_axis,
    )
    return layout_map


def check_layout_map(distribution, model):
    """Fails when a `ModelParallel` layout rule matches no variable of `model`.

    Keras replicates every variable that no rule matches, silently: a layout
    map written for another architecture, or a renamed layer, would train
    fully replicated on every device (and run out of memory where sharding
    was the point). Every rule must match at least one variable path (as
    Keras matches: the whole path, as a regex).

    Args:
        distribution: what `create_distribution` returned; only a
            `keras.distribution.ModelParallel` is checked.
        model: the built model the distribution will train.

    Raises:
        ValueError: naming the rules that match nothing and a few of the
            model's variable paths.
    """
    if not isinstance(distribution, keras.distribution.ModelParallel):
        return
    layout_map = distribution._layout_map
    paths = [variable.path for variable in model.variables]
    unmatched = [
        rule
        for rule in layout_map.keys()
        if not any(rule == path or re.fullmatch(rule, path) for path in paths)
    ]
    if unmatched:
        raise ValueError(
            f"The layout map's rules {unmatched} match no variable of "
            f"{type(model).__name__} (paths look like {paths[:3]}); the "
            "model would be fully replicated. Fix the rules or the layer names."
        )


def create_distribution(strategy_name="default", tpu_name=None, model_parallel=1):
    """The distribution object for `strategy_name` on the current backend.

    TensorFlow: `"cpu"`/`"default"` gives the default strategy (one device),
    `"mirrored"` a `MirroredStrategy` over the GPUs (or, without GPUs, over
    every logical CPU device), `"multiworker"` a `MultiWorkerMirroredStrategy`
    (cluster from `TF_CONFIG`), `"tpu"` a `TPUStrategy` reached through
    `TPUClusterResolver(tpu=tpu_name)` (`"local"` on a TPU VM; the TPU
    system is initialised once per process). `model_parallel > 1` is not
    supported on TensorFlow.

    JAX: `"cpu"`/`"default"` gives `None` (no distribution: one device)
    unless `model_parallel > 1`; `"mirrored"`/`"data_parallel"`/`"tpu"` give
    `keras.distribution.DataParallel` over all devices JAX sees (TPU cores
    included), or with `model_parallel=k > 1` a `ModelParallel` on a
    `(devices / k, k)` mesh with axes `("batch", "model")` and
    `bert_layout_map`; `"multiworker"` first calls
    `keras.distribution.initialize()` (coordinator, process count and id from
    `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `..._NUM_PROCESSES`,
    `..._PROCESS_ID`, or discovered on Cloud TPU) and then does the same over
    the devices of all processes.

    Args:
        strategy_name: str. See above; case and `-`/`_` are ignored.
        tpu_name: str or `None`. TPU name or address (TensorFlow `"tpu"`).
        model_parallel: int. Devices per model replica along the `"model"`
            mesh axis (JAX).

    Returns:
        A `tf.distribute.Strategy`, a `keras.distribution.Distribution`, or
        `None`.

    Example:
    ```python
    strategy = create_distribution("mirrored")
    ```
    """
    key = strategy_name.lower().replace("-", "_")
    backend = keras.backend.backend()
    if model_parallel < 1:
        raise ValueError(f"`model_parallel` must be >= 1. Received: {model_parallel}")
    if backend == "tensorflow":
        if key not in _TF_NAMES:
            raise ValueError(
                f"Unknown strategy {strategy_name!r} for TensorFlow: expected one "
                f"of {sorted(_TF_NAMES)}."
            )
        if model_parallel != 1:
            raise ValueError(
                "`model_parallel > 1` needs the JAX backend (keras.distribution)."
            )
        return _tf_strategy(_TF_NAMES[key], tpu_name)
    if backend == "jax":
        if key not in _JAX_NAMES:
            raise ValueError(
                f"Unknown strategy {strategy_name!r} for JAX: expected one of "
                f"{sorted(_JAX_NAMES)}."
            )
        return _jax_distribution(_JAX_NAMES[key], model_parallel)
    if _TF_NAMES.get(key) == "default" and model_parallel == 1:
        return None
    raise ValueError(
        f"Strategy {strategy_name!r} is not supported on the {backend} backend; "
        "use TensorFlow or JAX."
    )


def _tf_strategy(kind, tpu_name):
    import tensorflow as tf

    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if kind == "multiworker":
        if kind not in _PROCESS_DISTRIBUTIONS:
            try:
                strategy = tf.distribute.MultiWorkerMirroredStrategy()
            except RuntimeError as error:
                raise RuntimeError(
                    "--strategy=multiworker: TensorFlow's runtime had started "
                    "before the strategy was created; create it first "
                    "(`create_distribution('multiworker')` before any TF op, "
                    "dataset or model)."
                ) from error
            _PROCESS_DISTRIBUTIONS[kind] = strategy
        return _PROCESS_DISTRIBUTIONS[kind]
    key = ("tpu", tpu_name or "")
    if key not in _PROCESS_DISTRIBUTIONS:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=key[1])
        if key[1] != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        _PROCESS_DISTRIBUTIONS[key] = tf.distribute.TPUStrategy(resolver)
    return _PROCESS_DISTRIBUTIONS[key]


def _jax_distribution(kind, model_parallel):
    if kind == "default" and model_parallel == 1:
        return None
    if kind == "multiworker":
        _initialize_jax_processes()
    devices = keras.distribution.list_devices()
    if model_parallel == 1:
        return keras.distribution.DataParallel(devices=devices)
    if len(devices) % model_parallel:
        raise ValueError(
            f"model_parallel={model_parallel} does not divide the "
            f"{len(devices)} devices."
        )
    mesh = keras.distribution.DeviceMesh(
        shape=(len(devices) // model_parallel, model_parallel),
        axis_names=("batch", "model"),
        devices=devices,
    )
    return keras.distribution.ModelParallel(
        layout_map=bert_layout_map(mesh), batch_dim_name="batch"
    )


def _initialize_jax_processes():
    """`keras.distribution.initialize()` once per process, with CPU collectives.

    Coordinator, process count and id come from `KERAS_DISTRIBUTION_*` (or
    are discovered on a Cloud TPU VM). On CPUs JAX has no cross-process
    collectives unless an implementation is named: gloo ships with jaxlib
    (the setting touches only the CPU client, so GPUs and TPUs are unchanged;
    asking JAX which devices it has would start the runtime too early).
    """
    if "jax_processes" in _PROCESS_DISTRIBUTIONS:
        return
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize()
    _PROCESS_DISTRIBUTIONS["jax_processes"] = True


def num_data_replicas(distribution):
    """How many ways the global batch is split: TF replicas or the JAX batch axis.

    Args:
        distribution: what `create_distribution` returned.

    Returns:
        int.
    """
    if distribution is None:
        return 1
    if hasattr(distribution, "num_replicas_in_sync"):
        return int(distribution.num_replicas_in_sync)
    mesh = distribution.device_mesh
    return int(mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)])


def global_batch_size(batch_size, distribution):
    """Check that the global `batch_size` splits evenly over the data replicas.

    Args:
        batch_size: int. The global batch size (what `fit` receives).
        distribution: what `create_distribution` returned.

    Returns:
        `batch_size`, unchanged.

    Example:
    ```python
    with distribution_scope("mirrored") as distribution:
        dataset = dataset.batch(global_batch_size(256, distribution))
    ```
    """
    replicas = num_data_replicas(distribution)
    if batch_size % replicas:
        raise ValueError(
            f"The global batch size {batch_size} must be a multiple of the "
            f"{replicas} data replicas."
        )
    return batch_size


@contextlib.contextmanager
def distribution_scope(strategy_name="default", tpu_name=None, model_parallel=1):
    """A context manager that distributes what is built, compiled and fit in it.

    Enters `strategy.scope()` (TensorFlow) or `distribution.scope()` (JAX) of
    `create_distribution(strategy_name, tpu_name, model_parallel)` and yields
    that object (`None` for one device on JAX). Create the model, compile it
    and call `fit`/`evaluate` inside the block: on TensorFlow a model compiled
    outside `strategy.scope()` breaks `tf.distribute`; on JAX the data is
    sharded by the distribution active when `fit` runs.

    Args:
        strategy_name: str. See `create_distribution`.
        tpu_name: str or `None`. TPU name (TensorFlow `"tpu"`).
        model_parallel: int. Model-axis size (JAX).

    Example:
    ```python
    with distribution_scope("data_parallel") as distribution:
        model = build_and_compile()
        model.fit(dataset)
    ```
    """
    distribution = create_distribution(strategy_name, tpu_name, model_parallel)
    with scope_of(distribution):
        yield distribution


def scope_of(distribution):
    """`distribution.scope()`, or no scope for `None` (one device on JAX)."""
    if distribution is None:
        return contextlib.nullcontext()
    return distribution.scope()
