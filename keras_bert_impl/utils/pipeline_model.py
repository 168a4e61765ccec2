"""A `keras.Model` whose `fit`, `evaluate` and `predict` also take raw inputs.

keras-hub's `PipelineModel` idea: the model owns a preprocessing step
(`preprocess_samples`) that `fit`, `evaluate` and `predict` run whenever the
data holds strings, so that

    model.fit(["a great movie", "a dull movie"], [1, 0])
    model.predict(["what a film"])

work as well as feeding the model's own (already tokenized) inputs, which go
straight to Keras. In-memory strings are tokenized before the model runs (up
to `EAGER_TOKEN_SLOTS`; larger data and datasets in `tf.data`) and batched by
length (`length_bucketing`): each batch is padded only to the smallest of a
few lengths that holds its longest member, and `predict` returns the outputs
in input order.

TensorFlow is imported on first use only: a model built on this class runs on
JAX without loading it until strings come.
"""

import functools
import inspect
from contextlib import nullcontext

import keras
import numpy as np

from keras_bert_impl.utils.inference_process import refuse_training_under_frozen_weights
from keras_bert_impl.utils.multi_worker_steps import first_replica_batch
from keras_bert_impl.utils.multi_worker_steps import reducible_logs
from keras_bert_impl.utils.printable_ascii import printable_ascii_tracing
from keras_bert_impl.utils.torch_backend_model import TorchBackendModel

# In-memory data of up to this many token slots (examples x sequence_length)
# is tokenized before `tf.data` starts: its padded int32 features (three of
# them) then take at most 200 MB. SST-2's 67,349 texts at 128 fit.
EAGER_TOKEN_SLOTS = 2**24


def _has_strings(value):
    """Whether a leaf of `value` (nested tuples/dicts/lists) holds strings."""
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, dict):
        return any(_has_strings(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return bool(value) and any(_has_strings(v) for v in value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    kind = getattr(dtype, "kind", None)
    if kind in ("U", "S"):
        return True
    if kind == "O":
        return any(isinstance(item, (str, bytes)) for item in value.flat)
    return "string" in str(getattr(dtype, "name", dtype))


def is_dataset(value):
    """Whether `value` is a `tf.data.Dataset` (checked without importing tf)."""
    return hasattr(value, "element_spec") and hasattr(value, "map")


def _num_examples(x):
    """Length of the first array-like leaf of `x`, or None."""
    for leaf in keras.tree.flatten(x):
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) and shape[0] is not None:
            return int(shape[0])
        if isinstance(leaf, (list, tuple)):
            return len(leaf)
    return None


def _num_raw_examples(x):
    """Rows of raw inputs by `tf.data`'s rule: tuples and dicts are structure."""
    while isinstance(x, (tuple, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return len(x)


def batches_per_epoch(x, batch_size=None):
    """How many batches one pass over `x` gives, as `fit` would batch it.

    `x` is what `fit` trains on: a dataset (its cardinality), a
    `keras.utils.PyDataset` (its `num_batches`) or in-memory arrays (split in
    batches of `batch_size`, Keras' default 32). None when unknown; a negative
    number for an infinite or unknown-length dataset.
    """
    if is_dataset(x):
        return int(x.cardinality())
    if isinstance(x, keras.utils.PyDataset):
        return x.num_batches
    examples = _num_examples(x)
    if examples is None:
        return None
    return -(-examples // (batch_size or 32))


def _takes_labels(preprocessor):
    try:
        parameters = inspect.signature(preprocessor.call).parameters
    except (TypeError, ValueError):
        return False
    return "y" in parameters and "sample_weight" in parameters


def _bucketable_length(element_spec):
    """The padded length of batched preprocessed data, when it may be bucketed.

    Length bucketing trims the inputs' sequence axis; it applies when the
    inputs are the backbone's `(batch, sequence)` dict and no label or weight
    has a sequence axis of its own (token-level labels are not trimmed).
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element_spec)
    if not isinstance(x, dict) or "padding_mask" not in x:
        return None
    shape = x["padding_mask"].shape
    if shape.rank != 2 or shape[1] is None:
        return None
    for spec in keras.tree.flatten((y, sample_weight)):
        if spec is not None and spec.shape.rank > 1 and spec.shape[1] == shape[1]:
            return None
    return int(shape[1])


def unpadded_row_weights(x, sample_weight):
    """`sample_weight` without the `B / n` factor of zero-weight padding rows.

    `bucket_by_length(..., pad_to_batch_size=True)` fills a batch of `n` real
    examples to `B` rows with all-zero rows of weight 0 and multiplies the real
    rows' weights by `B / n`, which keeps the loss exact. Metrics average over
    batches, so they get the caller's weights back: `w * n / B`, where the
    real rows are those whose `padding_mask` has a non-zero entry (a real
    example holds at least `[CLS]`). A batch without such rows is unchanged.
    """
    if sample_weight is None or not isinstance(x, dict) or "padding_mask" not in x:
        return sample_weight
    mask = x["padding_mask"]
    if len(mask.shape) != 2:
        return sample_weight
    real = keras.ops.any(keras.ops.not_equal(mask, 0), axis=1)
    fraction = keras.ops.mean(keras.ops.cast(real, "float32"))

    def unpadded(weight):
        # torch's `train_on_batch` hands the weights over as NumPy arrays.
        weight = keras.ops.convert_to_tensor(weight)
        return weight * keras.ops.cast(fraction, weight.dtype)

    return keras.tree.map_structure(
        lambda w: None if w is None else unpadded(w), sample_weight
    )


def _spec_of(array):
    import tensorflow as tf

    return tf.TensorSpec(array.shape, array.dtype)


def _is_distributed(model):
    """Whether `predict` must split its data between devices itself."""
    if keras.backend.backend() == "jax":
        return keras.distribution.distribution() is not None
    strategy = getattr(model, "_distribute_strategy", None)
    return strategy is not None and strategy.num_replicas_in_sync > 1


def preprocess_choices(preprocessor, x, num_choices):
    """Runs `preprocessor` on every candidate of multiple-choice strings.

    `x` is `(contexts, choices)`: contexts `(batch,)`, choices
    `(batch, num_choices)`; each choice is paired with its context. Or just
    `choices` (single segments). Returns the preprocessor's dict, each feature
    of shape `(batch, num_choices, sequence)`.
    """
    import tensorflow as tf

    if isinstance(x, (tuple, list)):
        contexts, choices = x
        choices = tf.convert_to_tensor(choices)
        contexts = tf.repeat(tf.convert_to_tensor(contexts), num_choices)
        packed = preprocessor((contexts, tf.reshape(choices, [-1])))
    else:
        packed = preprocessor(tf.reshape(tf.convert_to_tensor(x), [-1]))
    return {
        name: tf.reshape(value, [-1, num_choices, tf.shape(value)[-1]])
        for name, value in packed.items()
    }


class PipelineModel(TorchBackendModel, keras.Model):
    """A model that preprocesses raw inputs inside `fit`, `evaluate`, `predict`.

    With a `preprocessor` attribute set (a layer mapping raw strings, or
    tuples of them for pairs, to the model's inputs), `fit`, `evaluate` and
    `predict` take raw strings (NumPy arrays or lists, a tuple of them for
    sentence pairs) or a batched `tf.data.Dataset` of strings: the data goes
    through `preprocess_samples`, before `tf.data` for small in-memory data,
    else inside it. Inputs without strings
    go straight to Keras. Subclasses plan training with the data `fit` is
    about to use by overriding `_prepare_fit`.
    """

    # The three overrides below let TF multi-worker `fit` run (see
    # utils/multi_worker_steps.py); elsewhere they change nothing.
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is not None and strategy is not None:
            data_batch, iterator = first_replica_batch(iterator, strategy), None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def train_step(self, *args):
        logs = super().train_step(*args)
        return reducible_logs(logs, getattr(self, "_distribute_strategy", None))

    def test_step(self, *args):
        logs = super().test_step(*args)
        return reducible_logs(logs, getattr(self, "_distribute_strategy", None))

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Runs the preprocessor on one batch (eagerly, or inside `tf.data`).

        A preprocessor whose `call` takes `y` and `sample_weight` (keras-hub
        style) returns `(x, y, sample_weight)` itself; any other is applied to
        `x` only. Override to change how raw inputs are featurized.
        """
        preprocessor = getattr(self, "preprocessor", None)
        if preprocessor is None:
            return x, y, sample_weight
        if _takes_labels(preprocessor):
            return keras.utils.unpack_x_y_sample_weight(
                preprocessor(x, y=y, sample_weight=sample_weight)
            )
        return preprocessor(x), y, sample_weight

    def _preprocess_element(self, *element):
        # tf.data passes a tuple element as arguments: `(x, y[, sample_weight])`;
        # a single argument is `x` itself (a `(x,)` element included, which is
        # how a pair of strings without labels travels: `((first, second),)`).
        if len(element) == 1:
            x, y, sample_weight = element[0], None, None
        else:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(element)
        return keras.utils.pack_x_y_sample_weight(
            *self.preprocess_samples(x, y, sample_weight)
        )

    def _needs_preprocessing(self, x):
        if is_dataset(x):
            element = x.element_spec
            if isinstance(element, tuple) and len(element) in (2, 3):
                element = element[0]
            has_strings = any(
                "string" in str(getattr(spec, "dtype", ""))
                for spec in keras.tree.flatten(element)
            )
        else:
            has_strings = _has_strings(x)
        if has_strings and getattr(self, "preprocessor", None) is None:
            raise ValueError(
                f"{type(self).__name__} got raw strings but has no preprocessor. "
                "Pass `preprocessor=BertPreprocessor(tokenizer, sequence_length)` "
                "when building the model (or set `model.preprocessor`), or feed "
                "token ids: a dict with `token_ids`, `segment_ids`, `padding_mask`."
            )
        return has_strings

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        **kwargs,
    ):
        if metrics is None and weighted_metrics is None:
            # Keras keeps the previous compile's metrics when both are None;
            # a model that compiled itself when built must drop them.
            metrics = []
        # Unweighted metrics would count `fit`'s zero-weight padding rows.
        self._has_unweighted_metrics = any(
            metric is not None for metric in keras.tree.flatten(metrics)
        )
        super().compile(
            optimizer=optimizer,
            loss=loss,
            loss_weights=loss_weights,
            metrics=metrics,
            weighted_metrics=weighted_metrics,
            **kwargs,
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        sample_weight = unpadded_row_weights(x, sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def _pads_partial_batches(self):
        """Whether `fit` fills each bucket's last batch with zero-weight rows.

        Under XLA (JAX, TF with `jit_compile`) every batch shape is a compile
        of its own: a full-size last batch per bucket halves their number.
        Not with unweighted compiled metrics, which would count those rows.
        """
        return bool(self.jit_compile) and not getattr(
            self, "_has_unweighted_metrics", True
        )

    def _as_preprocessed_data(
        self,
        x,
        y=None,
        sample_weight=None,
        batch_size=None,
        shuffle=False,
        by_length=True,
        pad_partial_batches=False,
    ):
        """`(x, y, sample_weight, batch_size)` for Keras, strings preprocessed.

        In-memory strings are tokenized and, with `by_length`, batched by
        length (`bucket_by_length`, which reorders them): each batch is padded
        only to the smallest of a few lengths that holds its longest member,
        not to the preprocessor's `sequence_length`, so short texts cost
        little and the model still sees a bounded number of shapes. With
        `pad_partial_batches`, each bucket's last batch is filled with
        zero-weight rows (`bucket_by_length(..., pad_to_batch_size=True)`).
        Up to `EAGER_TOKEN_SLOTS` they are tokenized once, eagerly, before
        `tf.data` starts (`featurized_eagerly`); larger data streams through
        the preprocessor in `tf.data`. A dataset the caller batched keeps its
        batches.
        """
        if not self._needs_preprocessing(x):
            return x, y, sample_weight, batch_size
        import tensorflow as tf

        batch_size = batch_size or 32
        if is_dataset(x):
            if y is not None or sample_weight is not None:
                raise ValueError("With a dataset `x`, put labels and weights in it.")
            x = x.map(self._preprocess_element, num_parallel_calls=tf.data.AUTOTUNE)
            return x.prefetch(tf.data.AUTOTUNE), None, None, None
        data = keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        features = self._featurized_eagerly(data)
        if features is None:
            return self._streamed(
                data, batch_size, shuffle, by_length, pad_partial_batches
            )
        examples = tf.data.Dataset.from_tensor_slices(features)
        if shuffle:
            examples = examples.shuffle(len(examples), reshuffle_each_iteration=True)
        sequence_length = _bucketable_length(
            keras.tree.map_structure(_spec_of, features)
        )
        if by_length and sequence_length:
            lengths = np.count_nonzero(features[0]["padding_mask"], axis=1)
            batches = self._bucketed(
                examples, lengths, batch_size, sequence_length, pad_partial_batches
            )
        else:
            batches = examples.batch(batch_size)
        # The features are computed already: tf.data's autotuning has nothing
        # to tune, and its thread held up the iterator's deletion at the end
        # of an epoch (BERT-mini, 1,024 texts, JAX: 4 of 5 `fit` calls 21.7 s
        # instead of 12.4 s, 8-9 s after the last step; TF up to 1.2 s).
        options = tf.data.Options()
        options.autotune.enabled = False
        return batches.with_options(options).prefetch(2), None, None, None

    def _streamed(self, data, batch_size, shuffle, by_length, pad_partial_batches):
        """`_as_preprocessed_data` with the preprocessor inside `tf.data`."""
        import tensorflow as tf

        examples = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            examples = examples.shuffle(len(examples), reshuffle_each_iteration=True)
        # tf.data traces the preprocessor here, once.
        with printable_ascii_tracing(self.preprocessor, data[0]) or nullcontext():
            batches = examples.batch(batch_size).map(
                self._preprocess_element, num_parallel_calls=tf.data.AUTOTUNE
            )
        sequence_length = _bucketable_length(batches.element_spec)
        if by_length and sequence_length:
            # One tokenizing pass for the lengths.
            masks = batches.map(lambda *element: element[0]["padding_mask"])
            lengths = np.concatenate([np.count_nonzero(m, axis=1) for m in masks])
            batches = self._bucketed(
                batches.unbatch(),
                lengths,
                batch_size,
                sequence_length,
                pad_partial_batches,
            )
        return batches.prefetch(tf.data.AUTOTUNE), None, None, None

    def _featurized_eagerly(self, data):
        """In-memory `(x, y, sample_weight)` featurized as NumPy, or None.

        None when the data is too large to hold padded in memory (more than
        `EAGER_TOKEN_SLOTS` sequences times `sequence_length`), the
        preprocessor has no `sequence_length`, or its features are ragged.
        """
        from keras_bert_impl.utils.in_memory_preprocessing import featurized_eagerly

        sequence_length = getattr(self.preprocessor, "sequence_length", None)
        if not sequence_length:
            return None
        # A multiple-choice example is `num_choices` sequences.
        rows = _num_raw_examples(data[0]) * getattr(self, "num_choices", 1)
        if rows * sequence_length > EAGER_TOKEN_SLOTS:
            return None
        return featurized_eagerly(self._preprocess_element, data, self.preprocessor)

    def _bucketed(self, examples, lengths, batch_size, sequence_length, pad):
        """Unbatched preprocessed `examples` batched by length; `lengths` theirs.

        The number of batches does not depend on the order: the dataset
        declares it, so Keras shows progress and plans schedules as usual.
        """
        import tensorflow as tf

        from keras_bert_impl.utils.length_bucketing import bucket_by_length
        from keras_bert_impl.utils.length_bucketing import bucket_lengths_for
        from keras_bert_impl.utils.length_bucketing import compiled_bucket_lengths
        from keras_bert_impl.utils.length_bucketing import num_bucketed_batches

        if self.jit_compile:  # one XLA compile per length: few for little data
            bucket_lengths = compiled_bucket_lengths(
                lengths, batch_size, sequence_length
            )
        else:
            bucket_lengths = bucket_lengths_for(sequence_length)
        num_batches = num_bucketed_batches(lengths, batch_size, bucket_lengths)
        batches = bucket_by_length(
            examples, batch_size, bucket_lengths, pad_to_batch_size=pad
        )
        return batches.apply(tf.data.experimental.assert_cardinality(num_batches))

    def _as_preprocessed_validation(self, validation_data, batch_size):
        if validation_data is None:
            return None
        if is_dataset(validation_data):
            return self._as_preprocessed_data(validation_data)[0]
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            tuple(validation_data)
        )
        if not self._needs_preprocessing(x):
            return validation_data
        return self._as_preprocessed_data(x, y, sample_weight, batch_size)[0]

    def _prepare_fit(self, x, batch_size, epochs, steps_per_epoch, initial_epoch):
        """Called by `fit` with the data it will train on, before any step.

        `x` is preprocessed already (a dataset when strings came). Does
        nothing here; a subclass plans its training (e.g. a schedule) in it.
        """

    # === Long documents, read in windows (a preprocessor with a `stride`) ===
    def _reads_windows(self, x):
        """Whether `x` is read in windows: in-memory raw texts and a
        preprocessor with a `stride` (see `utils.windowed_documents`)."""
        stride = getattr(getattr(self, "preprocessor", None), "stride", None)
        if stride is None or not self._needs_preprocessing(x):
            return False
        if type(self).combine_windows is PipelineModel.combine_windows:
            raise self._no_windows()
        if is_dataset(x):
            raise ValueError(
                f"{type(self).__name__}: a preprocessor with stride={stride} reads "
                "in-memory texts (a list or array), got a tf.data.Dataset; pass the "
                "texts, or build the preprocessor without `stride`"
            )
        return True

    def _no_windows(self):
        return ValueError(
            f"{type(self).__name__} does not read long documents in windows: build "
            "its preprocessor without `stride`"
        )

    def combine_windows(self, outputs, windows):
        """Outputs on documents from outputs on their windows (a
        `WindowedDocuments`); tasks that read long documents override it and
        `window_targets`."""
        raise self._no_windows()

    def window_targets(self, y, windows):
        """Labels of the windows from the labels of their documents."""
        raise self._no_windows()

    def document_targets(self, y, y_pred):
        """Document labels as `evaluate` compares them with `combine_windows`."""
        return y

    def _windowed_data(self, x, y=None, sample_weight=None):
        features, windows = self.preprocessor.windows(x)
        if y is not None:
            y = self.window_targets(y, windows)
        return features, y, keras.tree.map_structure(windows.per_window, sample_weight)

    def _evaluate_documents(self, x, y, batch_size, sample_weight, return_dict):
        """`evaluate` on long documents: the loss and metrics of the combined
        window outputs against the documents' labels."""
        y_pred = self.predict(x, batch_size=batch_size, verbose=0)
        y = self.document_targets(y, y_pred)

        def convert(value):
            return None if value is None else keras.ops.convert_to_tensor(value)

        y, y_pred, sample_weight = keras.tree.map_structure(
            convert, (y, y_pred, sample_weight)
        )
        self.reset_metrics()
        loss = self.compute_loss(
            y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
        )
        self._loss_tracker.update_state(
            loss, sample_weight=keras.tree.flatten(y)[0].shape[0]
        )
        logs = self.compute_metrics(None, y, y_pred, sample_weight)
        logs = {name: float(value) for name, value in logs.items()}
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        sample_weight=None,
        validation_data=None,
        steps_per_epoch=None,
        initial_epoch=0,
        **kwargs,
    ):
        refuse_training_under_frozen_weights()
        if validation_data is not None and not is_dataset(validation_data):
            val_x, val_y, val_weight = keras.utils.unpack_x_y_sample_weight(
                tuple(validation_data)
            )
            if self._reads_windows(val_x):
                validation_data = self._windowed_data(val_x, val_y, val_weight)
        if self._reads_windows(x):
            x, y, sample_weight = self._windowed_data(x, y, sample_weight)
        validation_batch_size = kwargs.get("validation_batch_size") or batch_size
        validation_data = self._as_preprocessed_validation(
            validation_data, validation_batch_size
        )
        if validation_data is not None and is_dataset(validation_data):
            kwargs.pop("validation_batch_size", None)
        if self._needs_preprocessing(x):
            # Raw strings become a tf.data pipeline, shuffled (or not) here.
            shuffle = kwargs.pop("shuffle", True) and not is_dataset(x)
            x, y, sample_weight, batch_size = self._as_preprocessed_data(
                x,
                y,
                sample_weight,
                batch_size,
                shuffle=shuffle,
                pad_partial_batches=self._pads_partial_batches(),
            )
            kwargs["shuffle"] = False
        self._prepare_fit(x, batch_size, epochs, steps_per_epoch, initial_epoch)
        self._build_optimizer_before_tracing()
        return super().fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            sample_weight=sample_weight,
            validation_data=validation_data,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=initial_epoch,
            **kwargs,
        )

    def _build_optimizer_before_tracing(self):
        """Creates the optimizer's variables before TF traces the train step.

        Keras' TF trainer without a strategy builds the optimizer inside the
        first trace of the train step, and a `tf.function` that created
        variables is traced a second time: two traces (under XLA two
        compiles) per `fit`, 3 of the 11 s of one BERT-mini `fit` on 1,024
        texts. Under a strategy Keras builds it first itself, as JAX's
        trainer always does.
        """
        optimizer = getattr(self, "optimizer", None)
        if (
            keras.backend.backend() == "tensorflow"
            and getattr(self, "_distribute_strategy", None) is None
            and optimizer is not None
            and not optimizer.built
        ):
            optimizer.build(self.trainable_variables)

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        if self._reads_windows(x):
            return self._evaluate_documents(
                x, y, batch_size, sample_weight, kwargs.get("return_dict", False)
            )
        x, y, sample_weight, batch_size = self._as_preprocessed_data(
            x, y, sample_weight, batch_size
        )
        return super().evaluate(
            x, y, batch_size=batch_size, sample_weight=sample_weight, **kwargs
        )

    def predict(self, x, batch_size=None, **kwargs):
        if self._reads_windows(x):
            features, windows = self.preprocessor.windows(x)
            outputs = self._predict_features(features, batch_size, **kwargs)
            return self.combine_windows(outputs, windows)
        if self._needs_preprocessing(x) and not is_dataset(x):
            features = self._preprocess_in_memory(x)
            if features is not None:
                return self._predict_features(features, batch_size, **kwargs)
        x, _, _, keras_batch_size = self._as_preprocessed_data(
            x, batch_size=batch_size, by_length=False
        )
        return super().predict(x, batch_size=keras_batch_size, **kwargs)

    def _predict_features(self, features, batch_size=None, **kwargs):
        """`predict` on preprocessed in-memory features (NumPy arrays)."""
        if kwargs.get("steps") is None and _bucketable_length(
            keras.tree.map_structure(_spec_of, features)
        ):
            return self._predict_by_length(features, batch_size or 32, **kwargs)
        return super().predict(features, batch_size=batch_size, **kwargs)

    def _preprocess_in_memory(self, x):
        """Features of in-memory raw inputs as NumPy arrays, or None if ragged."""
        from keras_bert_impl.utils.in_memory_preprocessing import InMemoryPreprocessing

        cached = getattr(self, "_in_memory_preprocessing", None)
        if cached is None or cached.preprocessor is not self.preprocessor:
            cached = InMemoryPreprocessing(
                self.preprocessor, lambda x: self.preprocess_samples(x)[0]
            )
            # Kept out of Keras' attribute tracking (not state of the model).
            object.__setattr__(self, "_in_memory_preprocessing", cached)
        return cached(x)

    def packed_predictor(self):
        """A model that predicts texts packed several to a row, or None.

        A task whose outputs do not depend on how texts are batched may
        return a model taking packed features (`utils/packed_prediction.py`)
        and returning `(rows, texts per row, ...)`; `predict` on short
        in-memory texts then runs it instead of this model.
        """
        return None

    def _predict_by_length(self, features, batch_size, verbose="auto", **kwargs):
        """`predict` on preprocessed strings, packed or length-sorted, in input order.

        Short texts are packed several to a row when this model has a
        `packed_predictor` (`PackedRows`). Otherwise the texts are sorted by
        length and cut into batches, each trimmed to
        one of the lengths `plan_bucket_lengths` picks: each batch's own
        longest text where shapes cost nothing (TF without XLA: its predict
        function is traced once, for `None` batch and sequence axes, by
        `trace_for_every_shape`; torch without `jit_compile`, which runs
        eagerly),
        else as many lengths as pay for their compile, measured on the first
        two batches (the longest) and remembered for the model's predict
        function. Outputs with a sequence axis are padded back to the
        preprocessor's `sequence_length` and are zero past each text's end.
        """
        from keras_bert_impl.utils.packed_prediction import PACKABLE_KEYS
        from keras_bert_impl.utils.packed_prediction import PackedRows
        from keras_bert_impl.utils.predict_by_length import LengthPlanner

        self.make_predict_function()
        compiles = keras.backend.backend() == "jax" or bool(self.jit_compile)
        # TF strategies and JAX distributions split whole datasets, not one batch.
        distributed = _is_distributed(self)
        predictor = None
        if not distributed and sorted(features) == sorted(PACKABLE_KEYS):
            predictor = self.packed_predictor()
        if predictor is not None:
            packed = PackedRows(features, batch_size, fixed_shapes=compiles)
            if packed.pays:
                predictor.make_predict_function()
                self._trace_once_for_every_shape(
                    predictor, compiles, packed.example_batch()
                )
                steps = packed.steps(predictor.predict_on_batch)
                self._run_predict_steps(steps, packed.num_batches, verbose, kwargs)
                return packed.outputs()
        planner = LengthPlanner(
            self.predict_function,
            features["padding_mask"],
            batch_size,
            # torch runs eagerly (a new length is free) unless `jit_compile`.
            compiles=compiles,
        )
        if distributed:
            planner.predict_per_length(
                features,
                lambda inputs: super(PipelineModel, self).predict(
                    inputs, batch_size=batch_size, verbose=verbose, **kwargs
                ),
            )
            return planner.outputs(self.outputs)
        self._trace_once_for_every_shape(self, compiles, features)
        steps = (
            functools.partial(
                planner.record, rows, length, batch, self.predict_on_batch
            )
            for rows, length, batch in planner.batches(features)
        )
        self._run_predict_steps(steps, planner.num_batches, verbose, kwargs)
        return planner.outputs(self.outputs)

    def _trace_once_for_every_shape(self, model, compiles, features):
        """On TF without XLA, traces `model`'s predict function for any shape."""
        from keras_bert_impl.utils.predict_by_length import trace_for_every_shape

        if (
            keras.backend.backend() == "tensorflow"
            and not (compiles or self.run_eagerly)
            and not model.predict_function.experimental_get_tracing_count()
        ):
            trace_for_every_shape(model.predict_function, features)

    def _run_predict_steps(self, steps, num_batches, verbose, kwargs):
        """Runs each batch's step between Keras' predict callbacks (progress bar)."""
        callbacks = keras.callbacks.CallbackList(
            kwargs.get("callbacks"),
            add_progbar=verbose != 0,
            verbose=verbose,
            epochs=1,
            steps=num_batches,
            model=self,
        )
        self.stop_predicting = False
        callbacks.on_predict_begin()
        for step, run in enumerate(steps):
            callbacks.on_predict_batch_begin(step)
            outputs = run()
            callbacks.on_predict_batch_end(step, {"outputs": outputs})
            if self.stop_predicting:
                break
        callbacks.on_predict_end()
