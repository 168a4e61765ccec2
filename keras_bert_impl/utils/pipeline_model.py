"""A `keras.Model` whose `fit`, `evaluate` and `predict` also take raw inputs.

keras-hub's `PipelineModel` idea: the model owns a preprocessing step
(`preprocess_samples`) that `fit`, `evaluate` and `predict` run whenever the
data holds strings, so that

    model.fit(["a great movie", "a dull movie"], [1, 0])
    model.predict(["what a film"])

work as well as feeding the model's own (already tokenized) inputs, which go
straight to Keras. For `fit` and `evaluate`, strings become a dataset of
length-bucketed batches (`string_batches`); `predict` on in-memory strings
tokenizes them all, then packs short texts several to a row or sorts them by
length (`in_memory_prediction`) and returns the outputs in input order.

TensorFlow is imported on first use only: a model built on this class runs on
JAX without loading it until strings come.
"""

import keras
import numpy as np

from keras_bert_impl.utils.inference_process import refuse_training_under_frozen_weights
from keras_bert_impl.utils.multi_worker_steps import first_replica_batch
from keras_bert_impl.utils.multi_worker_steps import reducible_logs
from keras_bert_impl.utils.raw_inputs import bucketable_length
from keras_bert_impl.utils.raw_inputs import has_strings
from keras_bert_impl.utils.raw_inputs import is_dataset
from keras_bert_impl.utils.raw_inputs import spec_of
from keras_bert_impl.utils.raw_inputs import takes_labels
from keras_bert_impl.utils.torch_backend_model import TorchBackendModel
from keras_bert_impl.utils.windowed_reading import WindowedReading


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


def _as_arrays(data):
    """In-memory inputs with each list a NumPy array (tuples, dicts kept), as
    Keras' data adapters take them: strings as objects (TF has no `<U`)."""
    if isinstance(data, tuple):
        return tuple(_as_arrays(part) for part in data)
    if isinstance(data, dict):
        return {key: _as_arrays(value) for key, value in data.items()}
    if data is None:
        return None
    array = np.asarray(data)
    return array.astype(object) if array.dtype.kind in "US" else array


class PipelineModel(WindowedReading, TorchBackendModel, keras.Model):
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
        if takes_labels(preprocessor):
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
            strings = any(
                "string" in str(getattr(spec, "dtype", ""))
                for spec in keras.tree.flatten(element)
            )
        else:
            strings = has_strings(x)
        if strings and getattr(self, "preprocessor", None) is None:
            raise ValueError(
                f"{type(self).__name__} got raw strings but has no preprocessor. "
                "Pass `preprocessor=BertPreprocessor(tokenizer, sequence_length)` "
                "when building the model (or set `model.preprocessor`), or feed "
                "token ids: a dict with `token_ids`, `segment_ids`, `padding_mask`."
            )
        return strings

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
        """`(x, y, sample_weight, batch_size)` for Keras, strings preprocessed
        into a dataset (`string_batches.preprocessed_batches`)."""
        if not self._needs_preprocessing(x):
            return x, y, sample_weight, batch_size
        from keras_bert_impl.utils.string_batches import preprocessed_batches

        batches = preprocessed_batches(
            self,
            x,
            y,
            sample_weight,
            batch_size or 32,
            shuffle,
            by_length,
            pad_partial_batches,
        )
        return batches, None, None, None

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
        if self._evaluates_strings_from_predictions(x, y):
            # Keras' `fit` hands these back to `evaluate` every epoch.
            return keras.utils.pack_x_y_sample_weight(
                *(_as_arrays(part) for part in (x, y, sample_weight))
            )
        return self._as_preprocessed_data(x, y, sample_weight, batch_size)[0]

    def _prepare_fit(self, x, batch_size, epochs, steps_per_epoch, initial_epoch):
        """Called by `fit` with the data it will train on, before any step.

        `x` is preprocessed already (a dataset when strings came). Does
        nothing here; a subclass plans its training (e.g. a schedule) in it.
        """

    def evaluates_from_predictions(self):
        """Whether `evaluate` on in-memory strings may score `predict`'s outputs.

        A task whose outputs have no sequence axis (they do not depend on how
        texts are padded or batched) returns True: `evaluate` then runs
        `predict` on the featurized texts, which packs or length-sorts them
        (faster than `evaluate`'s padded batches), and computes the loss and
        metrics once over all outputs, which equals Keras' batch-by-batch
        figures.
        """
        return False

    def _evaluates_strings_from_predictions(self, x, y, steps=None):
        if not (
            y is not None
            and steps is None
            and self.evaluates_from_predictions()
            and not is_dataset(x)
            and self._needs_preprocessing(x)
        ):
            return False
        # Imported for strings only: the module needs TensorFlow, which
        # `evaluate` on token ids does not.
        from keras_bert_impl.utils.in_memory_prediction import is_distributed

        return not is_distributed(self)

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
        windows = self._reads_windows(x)
        if windows or self._evaluates_strings_from_predictions(
            x, y, kwargs.get("steps")
        ):
            # Keras' `fit` hands back the validation strings it was given.
            kwargs.pop("_use_cached_eval_dataset", None)
            from keras_bert_impl.utils.in_memory_prediction import (
                evaluate_from_predictions,
            )

            logs = evaluate_from_predictions(
                self, x, y, batch_size, sample_weight, windows=windows, **kwargs
            )
            if logs is not None:
                return logs
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
        if kwargs.get("steps") is None and bucketable_length(
            keras.tree.map_structure(spec_of, features)
        ):
            from keras_bert_impl.utils.in_memory_prediction import predict_in_memory

            return predict_in_memory(
                self, features, batch_size or 32, super().predict, **kwargs
            )
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
