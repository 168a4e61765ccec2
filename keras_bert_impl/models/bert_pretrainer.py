import keras

from keras_bert_impl.layers.bert_masked_lm_head import BertMaskedLMHead
from keras_bert_impl.layers.bert_self_attention import queried_rows
from keras_bert_impl.models.bert_task import BertTask


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPretrainer(BertTask):
    """BERT with its two pretraining heads: masked LM and next-sentence prediction.

    Adds a `mask_positions` input `(batch, P)` to the backbone's inputs. The
    masked-LM head (dense + activation + LayerNorm, decoder tied to the token
    embedding, output bias) runs only at `mask_positions`; the NSP head is a
    2-way dense layer on the pooled output (the original's `cls/seq_relationship`).

    Compiled on construction with the recipe of the paper: AdamW (lr 1e-4,
    weight decay 0.01 without LayerNorm/bias, eps 1e-6, clip norm 1.0),
    masked-LM cross-entropy averaged over the weighted mask positions
    (`sample_weight={"mlm_logits": masked_lm_weights}`), NSP cross-entropy, and
    the metrics `masked_lm_accuracy` and `next_sentence_accuracy`.

    On a backbone with `packed_sequences=True` (rows of several instances) it
    takes one more input, `next_sentence_positions` `(batch, K)`: the `[CLS]`
    position of each instance in the row. The [CLS] vectors there go through
    the backbone's pooler (the same weights) and the NSP head, so `nsp_logits`
    is `(batch, K, 2)`; train with `y["nsp_logits"]` `(batch, K)` and
    `sample_weight["nsp_logits"]` (0 for empty slots): the NSP loss and
    accuracy then average over the real instances.

    Args:
        backbone: `BertBackbone`.
        preprocessor: optional preprocessing layer kept with the model.

    Example:
    ```python
    pretrainer = BertPretrainer(backbone)
    pretrainer.fit(
        x={"token_ids": ..., "segment_ids": ..., "padding_mask": ...,
           "mask_positions": masked_lm_positions},
        y={"mlm_logits": masked_lm_ids, "nsp_logits": next_sentence_labels},
        sample_weight={"mlm_logits": masked_lm_weights},
    )
    ```
    """

    default_learning_rate = 1e-4
    # A text preprocessor makes no `mask_positions`: from_preset attaches none.
    attaches_preset_preprocessor = False

    def __init__(self, backbone, preprocessor=None, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = BertMaskedLMHead(
            token_embedding=backbone.token_embedding,
            hidden_dim=backbone.hidden_dim,
            activation=backbone.activation,
            layer_norm_epsilon=backbone.layer_norm_epsilon,
            initializer_range=backbone.initializer_range,
            dtype=backbone.dtype_policy,
            name="masked_lm_head",
        )
        self.next_sentence_head = keras.layers.Dense(
            2,
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=backbone.initializer_range
            ),
            dtype=backbone.dtype_policy,
            name="next_sentence_head",
        )

        # === Functional Model ===
        inputs = dict(backbone.input)
        inputs["mask_positions"] = keras.Input(
            shape=(None,), dtype="int32", name="mask_positions"
        )
        backbone_outputs = backbone(
            {key: inputs[key] for key in ("token_ids", "segment_ids", "padding_mask")}
        )
        mlm_logits = self.masked_lm_head(
            backbone_outputs["sequence_output"], mask_positions=inputs["mask_positions"]
        )
        pooled_output = backbone_outputs["pooled_output"]
        if backbone.packed_sequences:
            inputs["next_sentence_positions"] = keras.Input(
                shape=(None,), dtype="int32", name="next_sentence_positions"
            )
            cls_vectors = queried_rows(
                backbone_outputs["sequence_output"], inputs["next_sentence_positions"]
            )
            pooled_output = backbone.pooler_dense(cls_vectors)
        nsp_logits = keras.layers.Activation(
            "linear", dtype="float32", name="nsp_logits"
        )(self.next_sentence_head(pooled_output))
        super().__init__(
            inputs=inputs,
            outputs={"mlm_logits": mlm_logits, "nsp_logits": nsp_logits},
            **kwargs,
        )

        # === Default compilation ===
        self.compile()

    def _default_loss(self):
        return {
            # Averaged over the real predictions only: padding slots weigh 0.
            "mlm_logits": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
            "nsp_logits": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction=self._next_sentence_reduction()
            ),
        }

    def _next_sentence_reduction(self):
        # Packed rows: averaged over the real instances (empty slots weigh 0).
        if self.backbone.packed_sequences:
            return "mean_with_sample_weight"
        return "sum_over_batch_size"

    def _default_metrics(self):
        next_sentence_accuracy = keras.metrics.SparseCategoricalAccuracy(
            name="next_sentence_accuracy"
        )
        # The losses as run_pretraining.py's evaluation reports them: means over
        # every real prediction of the whole evaluation. Keras' own per-output
        # loss trackers average per-batch means, and were measured reporting
        # n/(n+1) of the true value after `fit` (issue 13).
        next_sentence_loss = keras.metrics.SparseCategoricalCrossentropy(
            from_logits=True, name="next_sentence_loss"
        )
        metrics = {}
        weighted_metrics = {
            "mlm_logits": [
                keras.metrics.SparseCategoricalAccuracy(name="masked_lm_accuracy"),
                keras.metrics.SparseCategoricalCrossentropy(
                    from_logits=True, name="masked_lm_loss"
                ),
            ]
        }
        # Packed rows weigh their empty NSP slots 0.
        nsp_metrics = [next_sentence_accuracy, next_sentence_loss]
        if self.backbone.packed_sequences:
            weighted_metrics["nsp_logits"] = nsp_metrics
        else:
            metrics["nsp_logits"] = nsp_metrics
        return metrics, weighted_metrics
