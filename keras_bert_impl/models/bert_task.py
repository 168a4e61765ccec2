import inspect
import json

import keras

from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.utils.file_io import read_json as _read_json
from keras_bert_impl.utils.file_io import write_json as _write_json
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_LABELS_KEY
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_io import PresetMixin
from keras_bert_impl.utils.preset_io import backbone_from_preset_dir
from keras_bert_impl.utils.preset_io import load_serialized
from keras_bert_impl.utils.preset_io import load_weights_checked
from keras_bert_impl.utils.preset_io import write_backbone_preset


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


def _is_dataset(value):
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


class _FrozenFeatures(keras.layers.Layer):
    """Runs a frozen backbone's feature extractor, always in inference mode.

    The feature-based approach reads BERT's activations without training BERT:
    no gradient reaches the backbone (it is frozen) and its dropout stays off
    during `fit` too. `call` takes no `training` argument, so a functional
    model cannot switch it on.
    """

    def __init__(self, extractor, **kwargs):
        super().__init__(**kwargs)
        self.extractor = extractor

    def call(self, inputs):
        return self.extractor(inputs, training=False)

    def compute_output_shape(self, input_shape):
        return self.extractor.compute_output_shape(input_shape)


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


def _as_json(value):
    """`value` as it reads back from a JSON config (tuples become lists)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


def _takes_labels(preprocessor):
    try:
        parameters = inspect.signature(preprocessor.call).parameters
    except (TypeError, ValueError):
        return False
    return "y" in parameters and "sample_weight" in parameters


def output_head(backbone, units, dropout, dense_name):
    """The dropout + dense pair every task head ends with, as the paper's heads.

    The dense kernel is initialized like the backbone's (truncated normal,
    `initializer_range`); both layers follow the backbone's dtype policy.
    """
    output_dropout = keras.layers.Dropout(
        dropout, dtype=backbone.dtype_policy, name="output_dropout"
    )
    output_dense = keras.layers.Dense(
        units,
        kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=backbone.initializer_range
        ),
        dtype=backbone.dtype_policy,
        name=dense_name,
    )
    return output_dropout, output_dense


class BertTask(PresetMixin, keras.Model):
    """Base of the models that put a head on a `BertBackbone`.

    Subclasses build their functional graph in `__init__` and define
    `default_learning_rate`, `_default_loss()` and `_default_metrics()`. Each task
    compiles itself with those (the paper's recipe) when constructed;
    calling `compile()` again replaces any of them, `"auto"` keeping a default.

    The default optimizer is BERT's AdamW (`create_optimizer`: weight decay
    0.01 sparing LayerNorm and biases, epsilon 1e-6, global clip norm 1.0) at
    `default_learning_rate`, with linear warmup over the first
    `warmup_proportion` (10%) of the training steps and linear decay to 0.
    The number of steps comes from `compile(num_train_steps=...)` or, when not
    given, from the first `fit()` (epochs times steps per epoch, when the
    data's length is known) before any step is taken; without it the rate
    stays constant.

    With a `preprocessor` attached, `fit`, `evaluate` and `predict` also
    take raw strings (NumPy arrays or lists, a tuple of them for sentence
    pairs) or a batched `tf.data.Dataset` of strings: the preprocessor is
    mapped over the data in `tf.data` (`preprocess_samples`). Already
    tokenized inputs (the backbone's dict of ids) go straight to the model.
    """

    default_learning_rate = 5e-5
    warmup_proportion = 0.1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self, "feature_layer", None) is not None:
            # `trainable=True` (e.g. from a config) re-enables every sublayer.
            self.backbone.trainable = False

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        weighted_metrics="auto",
        num_train_steps=None,
        **kwargs,
    ):
        """Configures training; `"auto"` keeps the paper's default for that part.

        Args:
            optimizer: `"auto"` (BERT's AdamW at `default_learning_rate`, with
                warmup and linear decay when the step count is known) or any
                Keras optimizer.
            loss: `"auto"` or any Keras loss (structure).
            metrics: `"auto"` or any Keras metrics (structure).
            weighted_metrics: `"auto"` or any Keras weighted metrics.
            num_train_steps: int or None. Total training steps of the `"auto"`
                optimizer's schedule (warmup is `warmup_proportion` of them).
                None lets the first `fit()` plan it.
            **kwargs: passed to `keras.Model.compile` (`loss_weights`,
                `jit_compile`, `steps_per_execution`, ...).
        """
        # Imported here: models must not import `keras_bert_impl.training` (and
        # so the data pipeline) at module level.
        from keras_bert_impl.optimizers.create_optimizer import create_optimizer

        # Kept for `fit` to re-plan the "auto" optimizer; set past Keras'
        # tracking, which would otherwise adopt the metric objects in it.
        arguments = dict(optimizer=optimizer, loss=loss, metrics=metrics)
        arguments.update(weighted_metrics=weighted_metrics, **kwargs)
        object.__setattr__(self, "_compile_arguments", arguments)
        self._auto_optimizer = _is_auto(optimizer)
        self._planned_train_steps = num_train_steps
        if self._auto_optimizer:
            if num_train_steps:
                optimizer = create_optimizer(
                    "adamw",
                    learning_rate=self.default_learning_rate,
                    num_train_steps=int(num_train_steps),
                    num_warmup_steps=int(self.warmup_proportion * num_train_steps),
                )
            else:
                optimizer = create_optimizer(
                    "adamw", learning_rate=self.default_learning_rate
                )
        default_metrics, default_weighted_metrics = self._default_metrics()
        kwargs = {**self._default_compile_kwargs(), **kwargs}
        super().compile(
            optimizer=optimizer,
            loss=self._default_loss() if _is_auto(loss) else loss,
            metrics=default_metrics if _is_auto(metrics) else metrics,
            weighted_metrics=default_weighted_metrics
            if _is_auto(weighted_metrics)
            else weighted_metrics,
            **kwargs,
        )

    def _default_compile_kwargs(self):
        return {}

    def _default_metrics(self):
        return None, None

    def get_compile_config(self):
        # A task compiles itself with its defaults when constructed, loading
        # included; a custom compile() is the caller's to repeat after loading.
        # The default one is recorded with its planned schedule, so that a
        # `.keras` file restores the optimizer's state and training resumes.
        arguments = getattr(self, "_compile_arguments", None)
        if not arguments or not all(_is_auto(value) for value in arguments.values()):
            return None
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        return {
            "num_train_steps": self._planned_train_steps,
            "optimizer_built": bool(getattr(optimizer, "built", False)),
        }

    def compile_from_config(self, config):
        self.compile(num_train_steps=config.get("num_train_steps"))
        if self.built and config.get("optimizer_built", True):
            # Slots to restore the saved optimizer state into.
            self.optimizer.build(self.trainable_variables)

    @staticmethod
    def _complete_sample_weight(y, sample_weight):
        """Gives unweighted outputs weight 1 when `sample_weight` is a partial dict.

        Keras wants one weight per output; the pretraining contract weighs only
        `mlm_logits` (`{"mlm_logits": masked_lm_weights}`).
        """
        if not isinstance(sample_weight, dict) or not isinstance(y, dict):
            return sample_weight
        completed = dict(sample_weight)
        for name, target in y.items():
            if completed.get(name) is None:
                completed[name] = keras.ops.ones(keras.ops.shape(target)[:1])
        return completed

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
        sample_weight = self._complete_sample_weight(y, sample_weight)
        return super().compute_loss(x, y, y_pred, sample_weight, **kwargs)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        sample_weight = self._complete_sample_weight(y, sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        # An optimizer that has not trained yet has no state to restore (and
        # preset weights hold none): load the model's weights only.
        optimizer = getattr(self, "optimizer", None)
        if (
            optimizer is not None
            and not optimizer.built
            and "objects_to_skip" not in kwargs
            and str(filepath).endswith(".weights.h5")
        ):
            kwargs["objects_to_skip"] = [optimizer]
            return keras.saving.load_weights(self, filepath, skip_mismatch, **kwargs)
        return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)

    # === Raw-string inputs ===
    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Runs the preprocessor on one batch inside `tf.data`.

        A preprocessor whose `call` takes `y` and `sample_weight` (keras-hub
        style) returns `(x, y, sample_weight)` itself; any other is applied to
        `x` only. Override to change how raw inputs are featurized.
        """
        if self.preprocessor is None:
            return x, y, sample_weight
        if _takes_labels(self.preprocessor):
            return keras.utils.unpack_x_y_sample_weight(
                self.preprocessor(x, y=y, sample_weight=sample_weight)
            )
        return self.preprocessor(x), y, sample_weight

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
        if _is_dataset(x):
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

    def _as_preprocessed_data(
        self,
        x,
        y=None,
        sample_weight=None,
        batch_size=None,
        shuffle=False,
        by_length=True,
    ):
        """`(x, y, sample_weight, batch_size)` for Keras, strings preprocessed.

        In-memory strings are tokenized in `tf.data` and, with `by_length`,
        batched by length (`bucket_by_length`, which reorders them): each batch
        is padded only to the smallest of a few lengths that holds its longest
        member, not to the preprocessor's `sequence_length`, so short texts
        cost little and the model still sees a bounded number of shapes. A
        dataset the caller batched keeps its batches.
        """
        if not self._needs_preprocessing(x):
            return x, y, sample_weight, batch_size
        import tensorflow as tf

        batch_size = batch_size or 32
        bucketed = by_length and not _is_dataset(x)
        if not _is_dataset(x):
            data = keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
            x = tf.data.Dataset.from_tensor_slices(data)
            if shuffle:
                x = x.shuffle(int(x.cardinality()), reshuffle_each_iteration=True)
            x = x.batch(batch_size)
        elif y is not None or sample_weight is not None:
            raise ValueError("With a dataset `x`, put labels and weights in it.")
        x = x.map(self._preprocess_element, num_parallel_calls=tf.data.AUTOTUNE)
        sequence_length = _bucketable_length(x.element_spec)
        if bucketed and sequence_length:
            from keras_bert_impl.utils.length_bucketing import bucket_by_length
            from keras_bert_impl.utils.length_bucketing import bucket_lengths_for
            from keras_bert_impl.utils.length_bucketing import num_bucketed_batches

            bucket_lengths = bucket_lengths_for(sequence_length)
            # One tokenizing pass for the lengths gives the number of batches:
            # Keras then shows progress and plans the schedule as usual.
            lengths = x.map(
                lambda *element: tf.math.count_nonzero(
                    element[0]["padding_mask"], axis=1
                )
            )
            lengths = [length for batch in lengths for length in batch.numpy()]
            num_batches = num_bucketed_batches(lengths, batch_size, bucket_lengths)
            x = bucket_by_length(x.unbatch(), batch_size, bucket_lengths).apply(
                tf.data.experimental.assert_cardinality(num_batches)
            )
        return x.prefetch(tf.data.AUTOTUNE), None, None, None

    def _as_preprocessed_validation(self, validation_data, batch_size):
        if validation_data is None:
            return None
        if _is_dataset(validation_data):
            return self._as_preprocessed_data(validation_data)[0]
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            tuple(validation_data)
        )
        if not self._needs_preprocessing(x):
            return validation_data
        return self._as_preprocessed_data(x, y, sample_weight, batch_size)[0]

    # === Training loop entry points ===
    def _plan_schedule(self, x, batch_size, epochs, steps_per_epoch, initial_epoch):
        """Gives the `"auto"` optimizer its warmup/decay schedule on first `fit`."""
        if not getattr(self, "_auto_optimizer", False) or self._planned_train_steps:
            return
        optimizer = self.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if optimizer is None or getattr(optimizer, "built", False):
            return
        if steps_per_epoch is None:
            if _is_dataset(x):
                steps_per_epoch = int(x.cardinality())
            elif isinstance(x, keras.utils.PyDataset):
                steps_per_epoch = x.num_batches
            else:
                examples = _num_examples(x)
                if examples is not None:
                    steps_per_epoch = -(-examples // (batch_size or 32))
        if not steps_per_epoch or steps_per_epoch < 0:
            return  # an infinite or unknown dataset: keep the constant rate
        num_train_steps = steps_per_epoch * max(epochs - initial_epoch, 1)
        arguments = dict(self._compile_arguments, num_train_steps=num_train_steps)
        strategy = getattr(self, "distribute_strategy", None)
        if strategy is not None:
            with strategy.scope():
                self.compile(**arguments)
        else:
            self.compile(**arguments)

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
        validation_batch_size = kwargs.get("validation_batch_size") or batch_size
        validation_data = self._as_preprocessed_validation(
            validation_data, validation_batch_size
        )
        if validation_data is not None and _is_dataset(validation_data):
            kwargs.pop("validation_batch_size", None)
        if self._needs_preprocessing(x):
            # Raw strings become a tf.data pipeline, shuffled (or not) here.
            shuffle = kwargs.pop("shuffle", True) and not _is_dataset(x)
            x, y, sample_weight, batch_size = self._as_preprocessed_data(
                x, y, sample_weight, batch_size, shuffle=shuffle
            )
            kwargs["shuffle"] = False
        self._plan_schedule(x, batch_size, epochs, steps_per_epoch, initial_epoch)
        return super().fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            sample_weight=self._complete_sample_weight(y, sample_weight),
            validation_data=validation_data,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=initial_epoch,
            **kwargs,
        )

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        x, y, sample_weight, batch_size = self._as_preprocessed_data(
            x, y, sample_weight, batch_size
        )
        return super().evaluate(
            x,
            y,
            batch_size=batch_size,
            sample_weight=self._complete_sample_weight(y, sample_weight),
            **kwargs,
        )

    def predict(self, x, batch_size=None, **kwargs):
        in_memory_strings = self._needs_preprocessing(x) and not _is_dataset(x)
        x, _, _, batch_size = self._as_preprocessed_data(
            x, batch_size=batch_size, by_length=False
        )
        if in_memory_strings and _bucketable_length(x.element_spec):
            return self._predict_by_length(x, batch_size or 32, **kwargs)
        return super().predict(x, batch_size=batch_size, **kwargs)

    def _predict_by_length(self, dataset, batch_size, **kwargs):
        """`predict` on preprocessed strings, length-bucketed, in input order.

        The texts are tokenized, sorted by length and cut into batches that
        are trimmed to a few bucket lengths (`bucketed_batches`); each length
        is predicted in one call. Outputs with a sequence axis are padded back
        to the preprocessor's `sequence_length` and are zero past each text's
        end.
        """
        import numpy as np

        from keras_bert_impl.utils.length_bucketing import bucketed_batches

        # Every example, in input order, as one array per feature.
        features = keras.tree.map_structure(
            lambda *parts: np.concatenate(parts),
            *[keras.tree.map_structure(np.asarray, batch) for batch in dataset],
        )
        sequence_length = features["padding_mask"].shape[1]
        by_width = {}
        for rows, batch in bucketed_batches(features, batch_size):
            by_width.setdefault(batch["padding_mask"].shape[1], []).append(
                (rows, batch)
            )
        # An output whose second axis is unknown in the graph follows the text.
        follows_text = [
            len(output.shape) > 1 and output.shape[1] is None
            for output in keras.tree.flatten(self.outputs)
        ]
        results = None
        for width, batches in sorted(by_width.items()):
            inputs = keras.tree.map_structure(
                lambda *parts: np.concatenate(parts), *[b for _, b in batches]
            )
            outputs = super().predict(inputs, batch_size=batch_size, **kwargs)
            flat_outputs = keras.tree.flatten(outputs)
            if results is None:
                results = [
                    np.zeros(
                        (len(features["padding_mask"]),)
                        + ((sequence_length,) if text_axis else ())
                        + output.shape[1 + text_axis :],
                        output.dtype,
                    )
                    for output, text_axis in zip(flat_outputs, follows_text)
                ]
            start = 0
            for rows, _ in batches:
                for result, output, text_axis in zip(
                    results, flat_outputs, follows_text
                ):
                    part = output[start : start + len(rows)]
                    if text_axis:
                        result[rows, :width] = part
                    else:
                        result[rows] = part
                start += batch_size
        padding = features["padding_mask"] == 0
        for result, text_axis in zip(results, follows_text):
            if text_axis:
                result[padding] = 0
        return keras.tree.pack_sequence_as(outputs, results)

    # === Feature-based heads ===
    def _frozen_features(self, inputs, feature_layers):
        """Concatenated hidden states of `feature_layers` of a frozen backbone."""
        self.backbone.trainable = False
        extractor = self.backbone.feature_extractor(layers=feature_layers)
        self.feature_layer = _FrozenFeatures(extractor, name="frozen_features")
        return self.feature_layer(inputs)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
        }
        preprocessor = getattr(self, "preprocessor", None)
        if preprocessor is not None:
            config["preprocessor"] = keras.saving.serialize_keras_object(preprocessor)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(
                config["preprocessor"]
            )
        return cls(**config)

    @classmethod
    def _from_preset_dir(cls, preset_dir, load_weights, **overrides):
        task_file = preset_dir / TASK_CONFIG_FILE
        if task_file.is_file():
            saved = _read_json(task_file)
            # A preprocessor override swaps the input pipeline, not the head.
            head_overrides = {
                key: value for key, value in overrides.items() if key != "preprocessor"
            }
            same_head = saved["class_name"] == cls.__name__ and all(
                saved["config"].get(key) == _as_json(value)
                for key, value in head_overrides.items()
            )
            if same_head:
                task = load_serialized(task_file)
                task.labels = saved.get(TASK_LABELS_KEY)
                if load_weights:
                    load_weights_checked(
                        task, preset_dir / TASK_WEIGHTS_FILE, preset_dir
                    )
                if "preprocessor" in overrides:
                    task.preprocessor = overrides["preprocessor"]
                return task
        if (
            "preprocessor" not in overrides
            and (preset_dir / PREPROCESSOR_CONFIG_FILE).is_file()
        ):
            overrides["preprocessor"] = load_serialized(
                preset_dir / PREPROCESSOR_CONFIG_FILE
            )
        backbone = backbone_from_preset_dir(preset_dir, load_weights)
        return cls(backbone=backbone, **overrides)

    def _write_preset_files(self, preset_dir):
        if isinstance(self.backbone, BertBackbone):
            # The task's weights hold the backbone's: no second copy on disk.
            write_backbone_preset(self.backbone, preset_dir, include_weights=False)
        serialized = keras.saving.serialize_keras_object(self)
        # A preset holds a model to use or fine-tune, not a training state.
        serialized.pop("compile_config", None)
        if getattr(self, "labels", None) is not None:
            serialized[TASK_LABELS_KEY] = list(self.labels)
        _write_json(preset_dir / TASK_CONFIG_FILE, serialized)
        # The weights alone: a preset carries no optimizer state.
        optimizer = getattr(self, "optimizer", None)
        keras.saving.save_weights(
            self,
            str(preset_dir / TASK_WEIGHTS_FILE),
            objects_to_skip=[optimizer] if optimizer is not None else None,
        )
        preprocessor = getattr(self, "preprocessor", None)
        if preprocessor is not None:
            _write_json(
                preset_dir / PREPROCESSOR_CONFIG_FILE,
                keras.saving.serialize_keras_object(preprocessor),
            )
