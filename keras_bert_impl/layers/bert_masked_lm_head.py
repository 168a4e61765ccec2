import keras
from keras import ops

from keras_bert_impl.layers.activations import get_activation


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertMaskedLMHead(keras.layers.Layer):
    """BERT's masked-LM head, evaluated only at the masked positions.

    Gathers the hidden vectors at `mask_positions` first, so the expensive
    vocabulary projection runs on `(batch, P)` vectors instead of the whole
    sequence. Then dense + activation + LayerNorm (the original's
    `cls/predictions/transform`), and a decoder tied to the token embedding
    (`logits = h @ E^T + output_bias`).

    Args:
        token_embedding: `keras.layers.Embedding` whose table is the decoder.
            Not serialized: the task model that owns the head hands it in again.
        hidden_dim: int. Model width.
        activation: str. Transform activation (`"gelu"` or `"gelu_approximate"`).
        layer_norm_epsilon: float. LayerNorm epsilon.
        initializer_range: float. Stddev of the truncated-normal initializer.

    Example:
    ```python
    embedding = keras.layers.Embedding(100, 8)
    embedding.build((None,))
    head = BertMaskedLMHead(token_embedding=embedding, hidden_dim=8)
    logits = head(np.ones((2, 6, 8)), mask_positions=np.array([[1, 2], [0, 5]]))
    ```
    """

    def __init__(
        self,
        token_embedding,
        hidden_dim,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_embedding = token_embedding
        self.hidden_dim = hidden_dim
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        self.transform_dense = keras.layers.Dense(
            hidden_dim,
            activation=get_activation(activation),
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=initializer_range
            ),
            dtype=self.dtype_policy,
            name="transform_dense",
        )
        self.transform_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="transform_layer_norm",
        )

    def build(self, inputs_shape, mask_positions_shape=None):
        self.transform_dense.build((None, None, self.hidden_dim))
        self.transform_layer_norm.build((None, None, self.hidden_dim))
        vocabulary_size = self.token_embedding.input_dim
        self.output_bias = self.add_weight(
            name="output_bias", shape=(vocabulary_size,), initializer="zeros"
        )
        self.built = True

    def call(self, inputs, mask_positions):
        mask_positions = ops.cast(mask_positions, "int32")
        gathered = ops.take_along_axis(
            inputs, ops.expand_dims(mask_positions, -1), axis=1
        )
        hidden = self.transform_layer_norm(self.transform_dense(gathered))
        logits = ops.matmul(hidden, ops.transpose(self._output_table()))
        # Logits leave in float32: the softmax cross-entropy over 30k classes is
        # the least bfloat16-tolerant step.
        return ops.cast(logits, "float32") + ops.cast(self.output_bias, "float32")

    def _output_table(self):
        """The tied token embedding table, in float after `quantize("int8")`."""
        embedding = self.token_embedding
        table = ops.cast(embedding.embeddings, self.compute_dtype)
        mode = embedding.quantization_mode
        if mode is None:
            return table
        if mode != "int8":
            raise ValueError(
                f"BertMaskedLMHead supports int8 quantization of the token "
                f"embedding it shares; got {mode!r}. Quantize with "
                '`model.quantize("int8")`.'
            )
        # int8 rows are stored times their per-row scale (Keras' Embedding).
        scale = ops.cast(embedding.embeddings_scale, self.compute_dtype)
        return ops.divide(table, ops.expand_dims(scale, -1))

    def compute_output_shape(self, inputs_shape, mask_positions_shape):
        return tuple(mask_positions_shape) + (self.token_embedding.input_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
