import json

import keras

from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.quantized_layers import QuantizedModel
from keras_bert_impl.models.quantized_layers import policy_with_quantized_layers
from keras_bert_impl.models.token_id_checks import TokenIdChecks
from keras_bert_impl.utils.default_optimizer import default_optimizer
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.pipeline_model import PipelineModel
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_LABELS_KEY
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_io import PresetMixin
from keras_bert_impl.utils.preset_io import backbone_from_preset_dir
from keras_bert_impl.utils.preset_io import computing_in_float32
from keras_bert_impl.utils.preset_io import load_serialized
from keras_bert_impl.utils.preset_io import load_weights_checked
from keras_bert_impl.utils.preset_io import preset_preprocessor
from keras_bert_impl.utils.preset_io import write_backbone_preset
from keras_bert_impl.utils.raw_inputs import batches_per_epoch


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


def _as_json(value):
    """`value` as it reads back from a JSON config (tuples become lists)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


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


class BertTask(QuantizedModel, TokenIdChecks, PresetMixin, PipelineModel):
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

    A task is a `PipelineModel`: with a `preprocessor` attached, `fit`,
    `evaluate` and `predict` also take raw strings (NumPy arrays or lists, a
    tuple of them for sentence pairs) or a batched `tf.data.Dataset` of
    strings: the preprocessor runs over the data (`preprocess_samples`), once
    before `tf.data` for in-memory data of up to 2**24 token slots. Already
    tokenized inputs (the backbone's dict of ids) go straight to the model.
    `fit` and `evaluate` also take a `sample_weight` dict that weighs only
    some outputs (the others weigh 1).

    As in keras-hub, `from_preset(backbone_or_task_preset, ...)` attaches the
    preset's preprocessor (its `preprocessor.json`, else its tokenizer at the
    default length) unless `preprocessor=` is given; `preprocessor=None`, or
    `task.preprocessor = None` afterwards, turns it off. A preprocessor whose
    tokenizer's size differs from the backbone's `vocabulary_size` is refused.
    `BertTask.from_preset(task_preset)` returns the class `task.json` names.
    A class whose inputs a text preprocessor cannot make (the pretrainer's
    `mask_positions`) sets `attaches_preset_preprocessor = False`.
    """

    attaches_preset_preprocessor = True

    default_learning_rate = 5e-5
    warmup_proportion = 0.1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if getattr(self, "feature_layer", None) is not None:
            # `trainable=True` (e.g. from a config) re-enables every sublayer.
            self.backbone.trainable = False

    def __setattr__(self, name, value):
        if name == "preprocessor" and value is not None:
            self._check_vocabulary_size(value)
        super().__setattr__(name, value)

    def _check_vocabulary_size(self, preprocessor):
        """Refuses a tokenizer whose ids do not index this backbone's embedding."""
        backbone = getattr(self, "backbone", None)
        tokenizer = getattr(preprocessor, "tokenizer", None)
        expected = getattr(backbone, "vocabulary_size", None)
        if expected is None or not callable(
            getattr(tokenizer, "vocabulary_size", None)
        ):
            return
        found = tokenizer.vocabulary_size()
        if found != expected:
            raise ValueError(
                f"{type(self).__name__}: the preprocessor's tokenizer has {found} "
                f"tokens but the backbone's vocabulary_size is {expected}; token "
                "ids would not match the embedding. Use the backbone preset's "
                "tokenizer (BertPreprocessor.from_preset(preset)) or a backbone "
                f"with vocabulary_size={found}."
            )

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
            metrics: `"auto"` (none) or any Keras metrics (structure).
            weighted_metrics: `"auto"` (the task's metric, e.g. accuracy,
                weighted by `sample_weight` when given) or any Keras weighted
                metrics. With only weighted metrics, `fit` on strings under
                XLA (JAX) fills each length bucket's last batch with
                zero-weight rows: one compile per bucket instead of two.
            num_train_steps: int or None. Total training steps of the `"auto"`
                optimizer's schedule (warmup is `warmup_proportion` of them).
                None lets the first `fit()` plan it.
            **kwargs: passed to `keras.Model.compile` (`loss_weights`,
                `jit_compile`, `steps_per_execution`, ...).
        """
        # Kept for `fit` to re-plan the "auto" optimizer; set past Keras'
        # tracking, which would otherwise adopt the metric objects in it.
        arguments = dict(optimizer=optimizer, loss=loss, metrics=metrics)
        arguments.update(weighted_metrics=weighted_metrics, **kwargs)
        object.__setattr__(self, "_compile_arguments", arguments)
        self._auto_optimizer = _is_auto(optimizer)
        self._planned_train_steps = num_train_steps
        if self._auto_optimizer:
            if num_train_steps:
                optimizer = default_optimizer(
                    self.default_learning_rate,
                    num_train_steps=int(num_train_steps),
                    num_warmup_steps=int(self.warmup_proportion * num_train_steps),
                )
            else:
                optimizer = default_optimizer(self.default_learning_rate)
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

    # === Training loop entry points ===
    def _prepare_fit(self, x, batch_size, epochs, steps_per_epoch, initial_epoch):
        """Gives the `"auto"` optimizer its warmup/decay schedule on first `fit`."""
        if not getattr(self, "_auto_optimizer", False) or self._planned_train_steps:
            return
        optimizer = self.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if optimizer is None or getattr(optimizer, "built", False):
            return
        if steps_per_epoch is None:
            steps_per_epoch = batches_per_epoch(x, batch_size)
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
        self, x=None, y=None, batch_size=None, epochs=1, sample_weight=None, **kwargs
    ):
        sample_weight = self._complete_sample_weight(y, sample_weight)
        return super().fit(x, y, batch_size, epochs, sample_weight, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs):
        sample_weight = self._complete_sample_weight(y, sample_weight)
        return super().evaluate(x, y, batch_size, sample_weight, **kwargs)

    # === What the head reads ===
    def _encode(self, inputs, feature_layers, output):
        """The backbone's `output`, or with `feature_layers` its frozen features.

        Fine-tuning (`feature_layers=None`) reads the backbone's `output`
        (`"sequence_output"` or `"pooled_output"`). The feature-based approach
        freezes the backbone and reads the concatenated hidden states of
        `feature_layers`, for `"pooled_output"` their `[CLS]` vectors.
        """
        if feature_layers is None:
            return self.backbone(inputs)[output]
        self.backbone.trainable = False
        extractor = self.backbone.feature_extractor(layers=feature_layers)
        self.feature_layer = _FrozenFeatures(extractor, name="frozen_features")
        features = self.feature_layer(inputs)
        return features[:, 0, :] if output == "pooled_output" else features

    def get_config(self):
        backbone = keras.saving.serialize_keras_object(self.backbone)
        # The heads take the backbone's dtype policy: its map names the
        # task's quantized layers too, so that they rebuild quantized.
        policy = policy_with_quantized_layers(
            self._flatten_layers(), self.backbone.dtype_policy
        )
        backbone["config"]["dtype"] = keras.dtype_policies.serialize(policy)
        config = {"name": self.name, "trainable": self.trainable, "backbone": backbone}
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
        if cls is BertTask and not task_file.is_file():
            raise ValueError(
                f"BertTask.from_preset: {preset_dir} is a backbone preset (no "
                f"{TASK_CONFIG_FILE}), so the task class is unknown. Call the "
                "task class, e.g. BertClassifier.from_preset(preset, num_classes=2)."
            )
        if task_file.is_file():
            saved = read_json(task_file)
            # A preprocessor override swaps the input pipeline, not the head.
            head_overrides = {
                key: value for key, value in overrides.items() if key != "preprocessor"
            }
            same_head = (
                cls is BertTask or saved["class_name"] == cls.__name__
            ) and all(
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
                elif (
                    task.attaches_preset_preprocessor
                    and getattr(task, "preprocessor", None) is None
                ):
                    task.preprocessor = preset_preprocessor(preset_dir, load_weights)
                return task
        backbone = backbone_from_preset_dir(preset_dir, load_weights)
        if "preprocessor" not in overrides and cls.attaches_preset_preprocessor:
            overrides["preprocessor"] = preset_preprocessor(preset_dir, load_weights)
        return cls(backbone=backbone, **overrides)

    def _write_preset_files(self, preset_dir):
        if isinstance(self.backbone, BertBackbone):
            # The task's weights hold the backbone's: no second copy on disk.
            write_backbone_preset(self.backbone, preset_dir, include_weights=False)
        serialized = keras.saving.serialize_keras_object(self)
        backbone = serialized["config"]["backbone"]
        serialized["config"]["backbone"] = computing_in_float32(backbone)
        # A preset holds a model to use or fine-tune, not a training state.
        serialized.pop("compile_config", None)
        if getattr(self, "labels", None) is not None:
            serialized[TASK_LABELS_KEY] = list(self.labels)
        write_json(preset_dir / TASK_CONFIG_FILE, serialized)
        # The weights alone: a preset carries no optimizer state.
        optimizer = getattr(self, "optimizer", None)
        keras.saving.save_weights(
            self,
            str(preset_dir / TASK_WEIGHTS_FILE),
            objects_to_skip=[optimizer] if optimizer is not None else None,
        )
        preprocessor = getattr(self, "preprocessor", None)
        if preprocessor is not None:
            write_json(
                preset_dir / PREPROCESSOR_CONFIG_FILE,
                keras.saving.serialize_keras_object(preprocessor),
            )
