import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertSelfAttention(keras.layers.Layer):
    """Multi-head self-attention as in BERT, with an additive padding mask.

    Query, key, value and output projections are separate `(hidden, hidden)`
    kernels with biases, exactly the layout of the original checkpoint
    (`attention/self/query/kernel`, ..., `attention/output/dense/kernel`), so
    conversion is a copy (Hugging Face's are the transposes). The softmax runs
    in float32 under mixed precision.

    Args:
        num_heads: int. Attention heads; `hidden_dim` must divide by it.
        hidden_dim: int. Model width.
        dropout: float. Dropout on the attention probabilities.
        initializer_range: float. Stddev of the truncated-normal initializer.

    Example:
    ```python
    layer = BertSelfAttention(num_heads=2, hidden_dim=8)
    outputs = layer(np.ones((2, 4, 8)), padding_mask=np.ones((2, 4), "int32"))
    ```
    """

    def __init__(
        self, num_heads, hidden_dim, dropout=0.1, initializer_range=0.02, **kwargs
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim={hidden_dim} must be a multiple of num_heads={num_heads}."
            )
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.head_dim = hidden_dim // num_heads

        def projection(name):
            return keras.layers.Dense(
                hidden_dim,
                kernel_initializer=keras.initializers.TruncatedNormal(
                    stddev=initializer_range
                ),
                dtype=self.dtype_policy,
                name=name,
            )

        self.query_dense = projection("query")
        self.key_dense = projection("key")
        self.value_dense = projection("value")
        self.output_dense = projection("output")
        self.probabilities_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(inputs_shape)
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.hidden_dim,))
        self.built = True

    def _split_heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch, length, self.num_heads, self.head_dim))

    def call(self, inputs, padding_mask=None, training=False):
        query = self._split_heads(self.query_dense(inputs))
        key = self._split_heads(self.key_dense(inputs))
        value = self._split_heads(self.value_dense(inputs))

        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        scores = ops.cast(scores, "float32") / math.sqrt(self.head_dim)
        if padding_mask is not None:
            # Padded keys get a large negative score; queries are left alone, as in
            # the original, so padded positions still produce (unused) outputs.
            key_is_padding = 1.0 - ops.cast(padding_mask, "float32")
            scores = scores + key_is_padding[:, None, None, :] * -1e9
        probabilities = ops.softmax(scores, axis=-1)
        probabilities = ops.cast(probabilities, self.compute_dtype)
        probabilities = self.probabilities_dropout(probabilities, training=training)

        context = ops.einsum("bhqk,bkhd->bqhd", probabilities, value)
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        context = ops.reshape(context, (batch, length, self.hidden_dim))
        return self.output_dense(context)

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return tuple(inputs_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "initializer_range": self.initializer_range,
            }
        )
        return config
