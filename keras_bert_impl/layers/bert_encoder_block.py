import keras

from keras_bert_impl.layers.activations import get_activation
from keras_bert_impl.layers.bert_self_attention import BertSelfAttention
from keras_bert_impl.layers.bert_self_attention import first_token_spec
from keras_bert_impl.layers.bert_self_attention import queried_rows
from keras_bert_impl.layers.onednn_int8_dense import OneDnnInt8Dense
from keras_bert_impl.layers.residual_stream import residual_stream_policy
from keras_bert_impl.layers.token_matmul import dense_over_tokens


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertEncoderBlock(keras.layers.Layer):
    """One post-LayerNorm Transformer encoder block of BERT.

    `x = LN(x + dropout(attention(x)))`, then `x = LN(x + dropout(W2 act(W1 x)))`.
    Under a mixed policy, `x` (the residual stream) stays float32
    (`residual_stream_policy`).
    Sub-layer names follow the original checkpoint's scopes (`attention`,
    `attention_layer_norm`, `intermediate`, `output`, `output_layer_norm`).
    `call` takes a `padding_mask` or an `attention_mask` as `BertSelfAttention`;
    with `first_token_only=True` it returns the first token's output alone,
    `(batch, 1, hidden)`: only that token queries and goes through the
    feed-forward network (at the last block that is all `pooled_output`
    needs, about a sixth of the block's work); `query_positions` `(batch, K)`
    returns the outputs of the tokens at those positions, `(batch, K, hidden)`.

    Args:
        num_heads: int. Attention heads.
        hidden_dim: int. Model width H.
        intermediate_dim: int. FFN inner width (4H in BERT).
        dropout: float. Dropout on attention probabilities and sub-layer outputs.
        activation: str. `"gelu"` (exact), `"gelu_approximate"` (tanh), ...
        layer_norm_epsilon: float. LayerNorm epsilon.
        initializer_range: float. Stddev of the truncated-normal initializer.

    Example:
    ```python
    block = BertEncoderBlock(num_heads=2, hidden_dim=8, intermediate_dim=32)
    outputs = block(np.ones((2, 4, 8)), padding_mask=np.ones((2, 4), "int32"))
    ```
    """

    def __init__(
        self,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        def kernel_initializer():
            return keras.initializers.TruncatedNormal(stddev=initializer_range)

        self.attention = BertSelfAttention(
            num_heads,
            hidden_dim,
            dropout=dropout,
            initializer_range=initializer_range,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        stream_policy = residual_stream_policy(self.dtype_policy)
        self.attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=stream_policy,
            name="attention_layer_norm",
        )
        self.intermediate_dense = OneDnnInt8Dense(
            intermediate_dim,
            activation=get_activation(activation),
            kernel_initializer=kernel_initializer(),
            dtype=self.dtype_policy,
            name="intermediate",
        )
        self.output_dense = OneDnnInt8Dense(
            hidden_dim,
            kernel_initializer=kernel_initializer(),
            dtype=self.dtype_policy,
            name="output",
        )
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )
        self.output_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=stream_policy,
            name="output_layer_norm",
        )

    def build(self, inputs_shape, padding_mask_shape=None, attention_mask_shape=None):
        inputs_shape = tuple(inputs_shape)
        self.attention.build(inputs_shape)
        self.attention_layer_norm.build(inputs_shape)
        self.intermediate_dense.build(inputs_shape)
        self.output_dense.build(inputs_shape[:-1] + (self.intermediate_dim,))
        self.output_layer_norm.build(inputs_shape)
        self.built = True

    @property
    def input_dtype(self):
        # Keras casts a layer's float inputs to this, on every call: the
        # stream's dtype, so a float32 stream enters float32 under a mixed
        # policy.
        return self.attention_layer_norm.compute_dtype

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=False,
        first_token_only=False,
        query_positions=None,
    ):
        attended = self.attention(
            inputs,
            padding_mask=padding_mask,
            attention_mask=attention_mask,
            training=training,
            first_token_only=first_token_only,
            query_positions=query_positions,
        )
        if first_token_only:
            inputs = inputs[:, :1, :]
        elif query_positions is not None:
            inputs = queried_rows(inputs, query_positions)
        attended = self.attention_dropout(attended, training=training)
        # `ops.add` promotes a half-precision sub-layer output to the float32
        # stream under mixed policies (see `residual_stream_policy`).
        x = self.attention_layer_norm(keras.ops.add(inputs, attended))
        transformed = dense_over_tokens((self.intermediate_dense, self.output_dense), x)
        transformed = self.output_dropout(transformed, training=training)
        return self.output_layer_norm(keras.ops.add(x, transformed))

    def compute_output_spec(
        self, inputs, *args, first_token_only=False, query_positions=None, **kwargs
    ):
        return first_token_spec(
            super().compute_output_spec(inputs, *args, **kwargs),
            first_token_only,
            query_positions,
        )

    def compute_output_shape(
        self, inputs_shape, padding_mask_shape=None, attention_mask_shape=None
    ):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
