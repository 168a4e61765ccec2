import keras

from keras_bert_impl.models.bert_task import BertTask
from keras_bert_impl.models.bert_task import output_head
from keras_bert_impl.utils.windowed_documents import WINDOW_AGGREGATIONS


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertClassifier(BertTask):
    """BERT for sequence classification and regression (GLUE, SST-2, STS-B, ...).

    The paper's sentence(-pair) head: dropout on the pooled `[CLS]` vector,
    then one dense layer to `num_classes` logits. `num_classes=1` is
    regression (STS-B): the single output is the score, trained with mean
    squared error.

    Compiled on construction with the paper's fine-tuning recipe: BERT's
    AdamW (weight decay 0.01 without LayerNorm/bias, epsilon 1e-6, clip norm
    1.0) at learning rate 5e-5 with 10% linear warmup and linear decay over
    the planned steps (see `BertTask`); sparse categorical cross-entropy on the
    logits and `accuracy` for classification, mean squared error and
    `mean_absolute_error` for regression. Batch size 32 is `fit`'s default.

    With `feature_layers` it is the paper's feature-based alternative: the
    backbone is frozen (and runs without dropout), the `[CLS]` vectors of the
    chosen hidden states are concatenated and fed to the head.

    Args:
        backbone: `BertBackbone`.
        num_classes: int. Number of classes; 1 for regression.
        preprocessor: optional `BertPreprocessor` (or any layer mapping raw
            strings, or tuples of them for pairs, to the backbone's inputs).
            With it `fit`/`predict`/`evaluate` take raw strings.
        dropout: float. Dropout rate before the output layer.
        feature_layers: None (fine-tune the whole model) or a sequence of
            hidden-state indices for the feature-based approach (e.g.
            `(-4, -3, -2, -1)`; see `BertBackbone.feature_extractor`).
        window_aggregation: "mean" or "max": how a long document's logits come
            from its windows' logits, with a preprocessor that has a `stride`
            (`BertPreprocessor(..., stride=K)`): `predict` and `evaluate` then
            give one row per document; `fit` trains on every window with its
            document's label.

    Inputs: the backbone's dict (`token_ids`, `segment_ids`, `padding_mask`,
    each `(batch, sequence)`), or raw strings with a preprocessor. Output:
    logits `(batch, num_classes)`.

    Example:
    ```python
    classifier = BertClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    classifier.fit(x=["a great movie", "a dull movie"], y=[1, 0], epochs=3)
    classifier.predict(["what a film"])  # (1, 2) logits

    # Documents longer than the sequence, read in windows 64 pieces apart:
    classifier.preprocessor = BertPreprocessor(tokenizer, 128, stride=64)
    classifier.predict([long_review])  # (1, 2): the mean of its windows' logits

    # Pre-tokenized inputs, no preprocessor:
    classifier = BertClassifier(backbone, num_classes=1)  # regression
    classifier.fit(
        {"token_ids": ids, "segment_ids": segments, "padding_mask": mask}, scores
    )
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        dropout=0.1,
        feature_layers=None,
        window_aggregation="mean",
        **kwargs,
    ):
        if window_aggregation not in WINDOW_AGGREGATIONS:
            raise ValueError(
                f"`window_aggregation` must be one of {WINDOW_AGGREGATIONS}. Got "
                f"{window_aggregation!r}."
            )
        if int(num_classes) < 1:
            raise ValueError(f"`num_classes` must be >= 1. Got {num_classes}.")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout, self.output_dense = output_head(
            backbone, num_classes, dropout, dense_name="logits"
        )

        # === Functional Model ===
        inputs = dict(backbone.input)
        pooled = self._encode(inputs, feature_layers, "pooled_output")
        x = self.output_dropout(pooled)
        logits = keras.layers.Activation("linear", dtype="float32", name="outputs")(
            self.output_dense(x)
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = int(num_classes)
        self.dropout = dropout
        self.window_aggregation = window_aggregation
        self.feature_layers = (
            None if feature_layers is None else [int(i) for i in feature_layers]
        )

        # === Default compilation ===
        self.compile()

    def _default_loss(self):
        if self.num_classes == 1:
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def _default_metrics(self):
        if self.num_classes == 1:
            return None, [keras.metrics.MeanAbsoluteError(name="mean_absolute_error")]
        return None, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def evaluates_from_predictions(self):
        """True: logits have no sequence axis, so `evaluate` on in-memory
        strings scores `predict`'s (packed) outputs."""
        return True

    def packed_predictor(self):
        """This classifier on texts packed several to a row (`predict` on short texts).

        Shares every layer and weight; the backbone's
        `packed_pooled_output`, then the output layer (dropout is off in
        `predict`): logits `(rows, texts per row, num_classes)`. None in the
        feature-based mode. Rebuilt after `compile` or `quantize` (they reset
        the predict function), with this model's `jit_compile`.
        """
        if self.feature_layers is not None:
            return None
        self.make_predict_function()
        built_for, predictor = getattr(self, "_packed_predictor", (None, None))
        if predictor is None or built_for is not self.predict_function:
            inputs = {
                key: keras.Input(shape=(None,), dtype="int32", name=key)
                for key in (
                    "token_ids",
                    "segment_ids",
                    "padding_mask",
                    "first_token_positions",
                )
            }
            pooled = self.backbone.packed_pooled_output(inputs)
            logits = keras.layers.Activation("linear", dtype="float32")(
                self.output_dense(pooled)
            )
            predictor = keras.Model(inputs, logits, name=f"{self.name}_packed")
            predictor.jit_compile = self.jit_compile
            predictor.run_eagerly = self.run_eagerly
            # Kept out of Keras' attribute tracking (not state of the model).
            object.__setattr__(
                self, "_packed_predictor", (self.predict_function, predictor)
            )
        return predictor

    def combine_windows(self, outputs, windows):
        return windows.combine(outputs, self.window_aggregation)

    def window_targets(self, y, windows):
        return windows.per_window(y)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "feature_layers": self.feature_layers,
                "window_aggregation": self.window_aggregation,
            }
        )
        return config
