import keras
import numpy as np

from keras_bert_impl.models.bert_task import BertTask
from keras_bert_impl.models.bert_task import output_head


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertTokenClassifier(BertTask):
    """BERT for token classification (named-entity recognition, CoNLL-2003).

    The paper's tagging head: dropout on every token's final hidden state,
    then one dense layer to `num_classes` logits per token. Labels are one
    class id per token; positions labeled `ignore_index` (-100) — padding,
    `[CLS]`/`[SEP]` and the non-first sub-tokens of a word, as
    `NerFeaturizer` writes them — count neither in the loss (averaged over
    the labeled tokens) nor in the `accuracy` metric.

    Compiled on construction with the paper's fine-tuning recipe: BERT's
    AdamW (weight decay 0.01 without LayerNorm/bias, epsilon 1e-6, clip norm
    1.0) at learning rate 5e-5 with 10% linear warmup and linear decay over
    the planned steps (see `BertTask`).

    With `feature_layers` it is the paper's feature-based CoNLL-2003 setup:
    the backbone is frozen (and runs without dropout), the chosen hidden
    states are concatenated and fed to a randomly initialized two-layer
    bidirectional LSTM (hidden size `backbone.hidden_dim`, as the paper's
    768) before the classification layer.

    Args:
        backbone: `BertBackbone`.
        num_classes: int. Number of tags (9 for CoNLL-2003 IOB2).
        preprocessor: optional layer mapping raw strings to the backbone's
            inputs; with it `predict` takes raw strings (token-level logits;
            `NerFeaturizer` maps predictions back to words). With
            `BertPreprocessor(..., stride=K)` it reads documents longer than the
            sequence in windows: `predict` gives each document's logits laid out
            as one `[CLS] pieces [SEP]` sequence (width: the longest document + 2,
            at least `sequence_length`), every piece's from the window where it
            has the most context; `fit` and `evaluate` take labels in that
            layout (`ignore_index` where unlabeled).
        dropout: float. Dropout rate before the output layer.
        feature_layers: None (fine-tune) or hidden-state indices for the
            feature-based approach (see `BertBackbone.feature_extractor`).

    Inputs: the backbone's dict (`token_ids`, `segment_ids`, `padding_mask`).
    Output: logits `(batch, sequence, num_classes)`.

    Example:
    ```python
    featurizer = NerFeaturizer(tokenizer, CONLL2003_NER_LABELS, sequence_length=128)
    features = featurizer.featurize(read_conll2003("train.txt"))
    tagger = BertTokenClassifier(backbone, num_classes=9)
    tagger.fit(features["x"], features["labels"], epochs=3)
    tags = featurizer.predictions_to_tags(tagger.predict(features["x"]), features)
    ```
    """

    ignore_index = -100

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        dropout=0.1,
        feature_layers=None,
        **kwargs,
    ):
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
        x = self._encode(inputs, feature_layers, "sequence_output")
        if feature_layers is not None:
            mask = keras.ops.cast(inputs["padding_mask"], "bool")
            self.lstm_layers = [
                keras.layers.Bidirectional(
                    keras.layers.LSTM(backbone.hidden_dim // 2, return_sequences=True),
                    dtype=backbone.dtype_policy,
                    name=f"feature_lstm_{index}",
                )
                for index in range(2)
            ]
            for lstm in self.lstm_layers:
                x = lstm(x, mask=mask)
        x = self.output_dropout(x)
        logits = keras.layers.Activation("linear", dtype="float32", name="outputs")(
            self.output_dense(x)
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = int(num_classes)
        self.dropout = dropout
        self.feature_layers = (
            None if feature_layers is None else [int(i) for i in feature_layers]
        )

        # === Default compilation ===
        self.compile()

    def _default_loss(self):
        # Averaged over the labeled tokens only (weight 0 elsewhere).
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        )

    def _default_metrics(self):
        return None, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def _mask_ignored(self, y, sample_weight):
        """Labels with `ignore_index` replaced by 0 and given weight 0."""
        if y is None:
            return y, sample_weight
        y = keras.ops.convert_to_tensor(y)
        labeled = keras.ops.not_equal(y, self.ignore_index)
        weight = keras.ops.cast(labeled, "float32")
        if sample_weight is not None:
            sample_weight = keras.ops.cast(sample_weight, "float32")
            if len(sample_weight.shape) < len(weight.shape):
                sample_weight = keras.ops.expand_dims(sample_weight, -1)
            weight = weight * sample_weight
        return keras.ops.where(labeled, y, keras.ops.zeros_like(y)), weight

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
        y, sample_weight = self._mask_ignored(y, sample_weight)
        return super().compute_loss(x, y, y_pred, sample_weight, **kwargs)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y, sample_weight = self._mask_ignored(y, sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def combine_windows(self, outputs, windows):
        """Each token's logits from the window where it has the most context."""
        return windows.stitch_tokens(outputs, outputs.shape[1])

    def window_targets(self, y, windows):
        sequence_length = self.preprocessor.sequence_length
        return windows.window_token_labels(y, sequence_length, self.ignore_index)

    def document_targets(self, y, y_pred):
        """Labels padded (with `ignore_index`) or cut to the combined width."""
        y = np.asarray(y)
        width = y_pred.shape[1]
        if y.shape[1] >= width:
            return y[:, :width]
        padding = np.full((len(y), width - y.shape[1]), self.ignore_index, y.dtype)
        return np.concatenate([y, padding], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "feature_layers": self.feature_layers,
            }
        )
        return config
