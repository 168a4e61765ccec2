import keras

from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.preset_mixin import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.models.preset_mixin import TASK_CONFIG_FILE
from keras_bert_impl.models.preset_mixin import TASK_WEIGHTS_FILE
from keras_bert_impl.models.preset_mixin import PresetMixin
from keras_bert_impl.models.preset_mixin import _read_json
from keras_bert_impl.models.preset_mixin import _write_json
from keras_bert_impl.models.preset_mixin import backbone_from_preset_dir
from keras_bert_impl.models.preset_mixin import load_serialized
from keras_bert_impl.models.preset_mixin import load_weights_checked
from keras_bert_impl.models.preset_mixin import write_backbone_preset


def bert_adamw(learning_rate):
    """AdamW as BERT's optimization.py: eps 1e-6, decay 0.01, clip norm 1.0.

    LayerNorm scales/offsets and every bias are excluded from weight decay.
    """
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        global_clipnorm=1.0,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


class BertTask(PresetMixin, keras.Model):
    """Base of the models that put a head on a `BertBackbone`.

    Subclasses build their functional graph in `__init__` and define
    `default_learning_rate`, `_default_loss()` and `_default_metrics()`. Each task
    compiles itself with those (the paper's recipe) when constructed;
    calling `compile()` again replaces any of them, `"auto"` keeping a default.
    """

    default_learning_rate = 5e-5

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        weighted_metrics="auto",
        **kwargs,
    ):
        default_metrics, default_weighted_metrics = self._default_metrics()
        super().compile(
            optimizer=bert_adamw(self.default_learning_rate)
            if optimizer == "auto"
            else optimizer,
            loss=self._default_loss() if loss == "auto" else loss,
            metrics=default_metrics if metrics == "auto" else metrics,
            weighted_metrics=default_weighted_metrics
            if weighted_metrics == "auto"
            else weighted_metrics,
            **kwargs,
        )

    def _default_metrics(self):
        return None, None

    def get_compile_config(self):
        # A task compiles itself with its defaults when constructed, loading
        # included; a custom compile() is the caller's to repeat after loading.
        return None

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

    def fit(self, x=None, y=None, sample_weight=None, **kwargs):
        return super().fit(
            x, y, sample_weight=self._complete_sample_weight(y, sample_weight), **kwargs
        )

    def evaluate(self, x=None, y=None, sample_weight=None, **kwargs):
        return super().evaluate(
            x, y, sample_weight=self._complete_sample_weight(y, sample_weight), **kwargs
        )

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
            same_head = saved["class_name"] == cls.__name__ and all(
                saved["config"].get(key) == value for key, value in overrides.items()
            )
            if same_head:
                task = load_serialized(task_file)
                if load_weights:
                    load_weights_checked(
                        task, preset_dir / TASK_WEIGHTS_FILE, preset_dir
                    )
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
        _write_json(
            preset_dir / TASK_CONFIG_FILE, keras.saving.serialize_keras_object(self)
        )
        self.save_weights(str(preset_dir / TASK_WEIGHTS_FILE))
        preprocessor = getattr(self, "preprocessor", None)
        if preprocessor is not None:
            _write_json(
                preset_dir / PREPROCESSOR_CONFIG_FILE,
                keras.saving.serialize_keras_object(preprocessor),
            )
