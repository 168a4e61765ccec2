"""`predict` on preprocessed in-memory texts: packed or length-sorted batches.

`PipelineModel.predict(strings)` tokenizes every text before the model runs,
so it knows all lengths at once and forms the batches itself instead of
handing Keras one padded array: short texts are packed several to a row when
the task has a `packed_predictor` (`packed_prediction.PackedRows`), else the
texts are sorted by length and each batch trimmed to a length
`predict_by_length.LengthPlanner` picks. The batches run between Keras'
predict callbacks (progress bar included) and the outputs come back in input
order. `evaluate` on such texts scores those outputs
(`evaluate_from_predictions`).
"""

import functools

import keras

from keras_bert_impl.utils.packed_prediction import PACKABLE_KEYS
from keras_bert_impl.utils.packed_prediction import PackedRows
from keras_bert_impl.utils.predict_by_length import LengthPlanner
from keras_bert_impl.utils.predict_by_length import trace_for_every_shape
from keras_bert_impl.utils.string_batches import featurized


def is_distributed(model):
    """Whether `predict` must split its data between devices itself."""
    if keras.backend.backend() == "jax":
        return keras.distribution.distribution() is not None
    strategy = getattr(model, "_distribute_strategy", None)
    return strategy is not None and strategy.num_replicas_in_sync > 1


def predict_in_memory(model, features, batch_size, keras_predict, **kwargs):
    """`model`'s outputs on `features` (NumPy arrays of the backbone's inputs).

    Short texts are packed several to a row when `model.packed_predictor()`
    gives a model and `PackedRows.pays`. Otherwise the texts are sorted by
    length and cut into batches, each trimmed to one of the lengths
    `plan_bucket_lengths` picks: each batch's own longest text where shapes
    cost nothing (TF without XLA: its predict function is traced once, for
    `None` batch and sequence axes, by `trace_for_every_shape`; torch without
    `jit_compile`, which runs eagerly), else as many lengths as pay for their
    compile, measured on the first two batches (the longest) and remembered
    for the model's predict function. Outputs with a sequence axis are padded
    back to the preprocessor's `sequence_length` and are zero past each
    text's end. A distributed model predicts each length with
    `keras_predict(inputs, batch_size=..., **kwargs)` (Keras' own `predict`),
    which splits the batches between devices. `kwargs` are `predict`'s.
    """
    model.make_predict_function()
    compiles = keras.backend.backend() == "jax" or bool(model.jit_compile)
    # TF strategies and JAX distributions split whole datasets, not one batch.
    distributed = is_distributed(model)
    predictor = None
    if not distributed and sorted(features) == sorted(PACKABLE_KEYS):
        predictor = model.packed_predictor()
    if predictor is not None:
        packed = PackedRows(features, batch_size, fixed_shapes=compiles)
        if packed.pays:
            predictor.make_predict_function()
            _trace_once_for_every_shape(
                model, predictor, compiles, packed.example_batch()
            )
            steps = packed.steps(predictor.predict_on_batch)
            _run_predict_steps(model, steps, packed.num_batches, **kwargs)
            return packed.outputs()
    planner = LengthPlanner(
        model.predict_function,
        features["padding_mask"],
        batch_size,
        # torch runs eagerly (a new length is free) unless `jit_compile`.
        compiles=compiles,
    )
    if distributed:
        planner.predict_per_length(
            features,
            lambda inputs: keras_predict(inputs, batch_size=batch_size, **kwargs),
        )
        return planner.outputs(model.outputs)
    _trace_once_for_every_shape(model, model, compiles, features)
    steps = (
        functools.partial(planner.record, rows, length, batch, model.predict_on_batch)
        for rows, length, batch in planner.batches(features)
    )
    _run_predict_steps(model, steps, planner.num_batches, **kwargs)
    return planner.outputs(model.outputs)


def _trace_once_for_every_shape(model, predicting, compiles, features):
    """On TF without XLA, traces `predicting`'s predict function for any shape."""
    if (
        keras.backend.backend() == "tensorflow"
        and not (compiles or model.run_eagerly)
        and not predicting.predict_function.experimental_get_tracing_count()
    ):
        trace_for_every_shape(predicting.predict_function, features)


def _run_predict_steps(model, steps, num_batches, verbose="auto", callbacks=None, **_):
    """Runs each batch's step between Keras' predict callbacks (progress bar)."""
    callbacks = keras.callbacks.CallbackList(
        callbacks,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=1,
        steps=num_batches,
        model=model,
    )
    model.stop_predicting = False
    callbacks.on_predict_begin()
    for step, run in enumerate(steps):
        callbacks.on_predict_batch_begin(step)
        outputs = run()
        callbacks.on_predict_batch_end(step, {"outputs": outputs})
        if model.stop_predicting:
            break
    callbacks.on_predict_end()


def evaluate_from_predictions(
    model,
    x,
    y,
    batch_size,
    sample_weight,
    windows=False,
    verbose="auto",
    callbacks=None,
    return_dict=False,
    **kwargs,
):
    """`model.evaluate` on in-memory strings scored from `predict`'s outputs.

    The texts are featurized with their labels and weights once
    (`string_batches.featurized`), predicted as `predict` does and scored by
    `scored_predictions`; long documents read in windows (`windows`: the
    model's `_reads_windows(x)`) are predicted per document and scored
    against `document_targets`. Returns Keras' logs (a
    dict with `return_dict`, else the flat list), or None where the data is
    too large or ragged to featurize in memory (Keras' `evaluate` then runs).
    """
    if windows:
        features = None
    else:
        data = featurized(
            model, keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        )
        if data is None:
            return None
        features, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    # Inside `fit`, Keras passes its own callback list and shows no progress
    # of its own for validation.
    within_fit = isinstance(callbacks, keras.callbacks.CallbackList)
    if not within_fit:
        callbacks = keras.callbacks.CallbackList(callbacks, model=model)
    callbacks.on_test_begin()
    verbose = 0 if within_fit else verbose
    if features is None:  # long documents, read in windows
        y_pred = model.predict(x, batch_size=batch_size, verbose=verbose)
        y = model.document_targets(y, y_pred)
    else:
        y_pred = model._predict_features(features, batch_size, verbose=verbose)
    logs = scored_predictions(model, y, y_pred, sample_weight)
    callbacks.on_test_end(logs)
    return logs if return_dict else model._flatten_metrics_in_order(logs)


def scored_predictions(model, y, y_pred, sample_weight=None):
    """`evaluate`'s logs for outputs `y_pred` of all examples at once.

    Keras' `evaluate` averages each batch's loss weighted by its size, which
    for a loss averaged over the batch is the loss over all examples; its
    metrics accumulate over batches, as they do over one update with all.
    On JAX the loss and metrics run as one jitted function: eagerly, each of
    their few dozen ops would be a compile of its own for every new number
    of examples (0.5-0.7 s; jitted 0.1 s).
    """

    def convert(value):
        return None if value is None else keras.ops.convert_to_tensor(value)

    y, y_pred, sample_weight = keras.tree.map_structure(
        convert, (y, y_pred, sample_weight)
    )
    model.reset_metrics()
    if keras.backend.backend() == "jax":
        logs = _jitted_scoring(model)(y, y_pred, sample_weight)
    else:
        logs = _score(model, y, y_pred, sample_weight)
    return {name: float(value) for name, value in logs.items()}


def _score(model, y, y_pred, sample_weight):
    loss = model.compute_loss(
        y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
    )
    model._loss_tracker.update_state(
        loss, sample_weight=keras.tree.flatten(y)[0].shape[0]
    )
    return model.compute_metrics(None, y, y_pred, sample_weight)


def _jitted_scoring(model):
    """`_score` as a jitted function of the metrics' state (JAX), kept for
    as long as the model's compiled loss and metrics are the same."""
    import jax

    compiled = (model._compile_loss, model._compile_metrics)
    built_for, scoring = getattr(model, "_jitted_scoring_cache", ((None, None), None))
    if scoring is None or any(a is not b for a, b in zip(built_for, compiled)):
        variables = model.metrics_variables

        def stateless_score(values, y, y_pred, sample_weight):
            with keras.StatelessScope(
                state_mapping=list(zip(variables, values))
            ) as scope:
                logs = _score(model, y, y_pred, sample_weight)
            return logs, [scope.get_current_value(v) for v in variables]

        jitted = jax.jit(stateless_score)

        def scoring(y, y_pred, sample_weight):
            logs, values = jitted(
                [v.value for v in variables], y, y_pred, sample_weight
            )
            for variable, value in zip(variables, values):
                variable.assign(value)
            return logs

        # Kept out of Keras' attribute tracking (not state of the model).
        object.__setattr__(model, "_jitted_scoring_cache", (compiled, scoring))
    return scoring
