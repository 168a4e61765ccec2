import keras

from keras_bert_impl.models.bert_task import BertTask


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertQuestionAnswerer(BertTask):
    """BERT for extractive question answering (SQuAD v1.1 and v2.0).

    The paper's span head: one dense layer maps every token's final hidden
    state to a start and an end logit. The answer is the span `[start, end]`
    of the context with the highest `start_logit + end_logit`
    (`SquadFeaturizer.postprocess` searches the n-best spans); in SQuAD v2.0
    the `[CLS]` position (index 0) stands for "no answer".

    Compiled on construction with the paper's fine-tuning recipe: BERT's
    AdamW (weight decay 0.01 without LayerNorm/bias, epsilon 1e-6, clip norm
    1.0) at learning rate 5e-5 with 10% linear warmup and linear decay over
    the planned steps (see `BertTask`); the loss is the mean of the start
    and end cross-entropies (as the original `run_squad.py`), metrics the
    start and end position accuracies.

    With `feature_layers` the backbone is frozen and the head reads the
    concatenation of the chosen hidden states (the feature-based approach).

    Args:
        backbone: `BertBackbone`.
        preprocessor: optional layer mapping `(questions, contexts)` string
            pairs to the backbone's inputs; with it `predict` takes raw
            string pairs (one window per pair, truncated; `SquadFeaturizer`
            makes the strided windows of long contexts).
        feature_layers: None (fine-tune) or hidden-state indices for the
            feature-based approach (see `BertBackbone.feature_extractor`).

    Inputs: the backbone's dict (`token_ids`, `segment_ids`, `padding_mask`).
    Outputs: dict `start_logits` and `end_logits`, each `(batch, sequence)`.
    Labels: `{"start_logits": start_positions, "end_logits": end_positions}`,
    token indices `(batch,)`.

    Example:
    ```python
    featurizer = SquadFeaturizer(tokenizer)
    features = featurizer.featurize(read_squad("train-v1.1.json"), training=True)
    qa = BertQuestionAnswerer(backbone)
    qa.fit(features["x"], features["y"], epochs=2)
    answers = featurizer.postprocess(features, qa.predict(features["x"]))
    ```
    """

    default_learning_rate = 5e-5

    def __init__(self, backbone, preprocessor=None, feature_layers=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.span_dense = keras.layers.Dense(
            2,
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=backbone.initializer_range
            ),
            dtype=backbone.dtype_policy,
            name="span_logits",
        )

        # === Functional Model ===
        inputs = dict(backbone.input)
        x = self._encode(inputs, feature_layers, "sequence_output")
        span_logits = self.span_dense(x)
        start_logits = keras.layers.Activation(
            "linear", dtype="float32", name="start_logits"
        )(span_logits[..., 0])
        end_logits = keras.layers.Activation(
            "linear", dtype="float32", name="end_logits"
        )(span_logits[..., 1])
        super().__init__(
            inputs=inputs,
            outputs={"start_logits": start_logits, "end_logits": end_logits},
            **kwargs,
        )

        # === Config ===
        self.feature_layers = (
            None if feature_layers is None else [int(i) for i in feature_layers]
        )

        # === Default compilation ===
        self.compile()

    def _default_loss(self):
        return {
            "start_logits": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True
            ),
            "end_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        }

    def _default_metrics(self):
        metrics = {
            name: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            for name in ("start_logits", "end_logits")
        }
        return None, metrics

    def _default_compile_kwargs(self):
        # total loss = (start loss + end loss) / 2, as run_squad.py.
        return {"loss_weights": {"start_logits": 0.5, "end_logits": 0.5}}

    def get_config(self):
        config = super().get_config()
        config["feature_layers"] = self.feature_layers
        return config
