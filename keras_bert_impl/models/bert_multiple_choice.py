import keras

from keras_bert_impl.models.bert_task import BertTask
from keras_bert_impl.models.bert_task import output_head
from keras_bert_impl.utils.raw_inputs import preprocess_choices


class _MergeChoices(keras.layers.Layer):
    """`(batch, num_choices, sequence)` -> `(batch * num_choices, sequence)`."""

    def call(self, inputs):
        return keras.ops.reshape(inputs, (-1, keras.ops.shape(inputs)[-1]))

    def compute_output_shape(self, input_shape):
        batch = None
        if input_shape[0] is not None and input_shape[1] is not None:
            batch = input_shape[0] * input_shape[1]
        return (batch, input_shape[-1])


class _SplitChoices(keras.layers.Layer):
    """`(batch * num_choices, 1)` scores -> `(batch, num_choices)`."""

    def __init__(self, num_choices, **kwargs):
        super().__init__(**kwargs)
        self.num_choices = num_choices

    def call(self, inputs):
        return keras.ops.reshape(inputs, (-1, self.num_choices))

    def compute_output_shape(self, input_shape):
        return (None, self.num_choices)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertMultipleChoice(BertTask):
    """BERT for multiple choice (SWAG): one score per candidate, softmax across.

    As the paper's SWAG setup: each choice is packed with its context as a
    sentence pair (`[CLS] context [SEP] choice [SEP]`), the pooled `[CLS]`
    vector of each goes through dropout and a dense layer to one score, and
    the scores of an example's choices are normalized with a softmax.

    Compiled on construction with the paper's SWAG recipe: BERT's AdamW
    (weight decay 0.01 without LayerNorm/bias, epsilon 1e-6, clip norm 1.0)
    at learning rate 2e-5 with 10% linear warmup and linear decay over the
    planned steps (see `BertTask`; the paper used batch size 16); sparse
    categorical cross-entropy over the choices and `accuracy`.

    Args:
        backbone: `BertBackbone`.
        num_choices: int. Candidates per example (4 for SWAG).
        preprocessor: optional layer mapping string pairs to the backbone's
            inputs. With it `fit`/`predict`/`evaluate` take raw strings
            `(contexts, choices)`: contexts `(batch,)` and choices
            `(batch, num_choices)`; each choice is paired with its context.
        dropout: float. Dropout rate before the scoring layer.
        feature_layers: None (fine-tune) or hidden-state indices for the
            feature-based approach (see `BertBackbone.feature_extractor`).

    Inputs: the backbone's dict with one more axis, each
    `(batch, num_choices, sequence)`. Output: logits `(batch, num_choices)`.

    Example:
    ```python
    featurizer = SwagFeaturizer(tokenizer, sequence_length=128)
    features = featurizer.featurize(read_swag("train.csv"))
    model = BertMultipleChoice(backbone, num_choices=4)
    model.fit(features["x"], features["labels"], batch_size=16, epochs=3)
    ```
    """

    default_learning_rate = 2e-5

    def __init__(
        self,
        backbone,
        num_choices,
        preprocessor=None,
        dropout=0.1,
        feature_layers=None,
        **kwargs,
    ):
        if int(num_choices) < 2:
            raise ValueError(f"`num_choices` must be >= 2. Got {num_choices}.")
        num_choices = int(num_choices)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.merge_choices = _MergeChoices(name="merge_choices")
        self.output_dropout, self.output_dense = output_head(
            backbone, 1, dropout, dense_name="choice_logits"
        )
        self.split_choices = _SplitChoices(num_choices, dtype="float32", name="outputs")

        # === Functional Model ===
        inputs = {
            name: keras.Input(shape=(num_choices, None), dtype="int32", name=name)
            for name in ("token_ids", "segment_ids", "padding_mask")
        }
        flat = {name: self.merge_choices(value) for name, value in inputs.items()}
        pooled = self._encode(flat, feature_layers, "pooled_output")
        scores = self.output_dense(self.output_dropout(pooled))
        logits = self.split_choices(scores)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_choices = num_choices
        self.dropout = dropout
        self.feature_layers = (
            None if feature_layers is None else [int(i) for i in feature_layers]
        )

        # === Default compilation ===
        self.compile()

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Pairs each of `num_choices` choices with its context, then packs.

        `x` is `(contexts, choices)` (contexts `(batch,)`, choices
        `(batch, num_choices)`) or just `choices` (single segments).
        """
        if self.preprocessor is None:
            return x, y, sample_weight
        packed = preprocess_choices(self.preprocessor, x, self.num_choices)
        return packed, y, sample_weight

    def _default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def _default_metrics(self):
        return None, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_choices": self.num_choices,
                "dropout": self.dropout,
                "feature_layers": self.feature_layers,
            }
        )
        return config
