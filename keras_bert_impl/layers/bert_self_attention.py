import math

import keras
from keras import ops

from keras_bert_impl.layers.onednn_int8_dense import OneDnnInt8Dense
from keras_bert_impl.layers.token_matmul import dense_over_tokens
from keras_bert_impl.layers.token_matmul import token_shape
from keras_bert_impl.utils.devices import accelerator_present

ATTENTION_IMPLEMENTATIONS = ("auto", "einsum", "dot_product_attention")


def set_attention_implementation(model, implementation):
    """Sets `attention_implementation` of every `BertSelfAttention` in `model`.

    Takes effect the next time the model's functions are traced: call it before
    the first `fit`/`predict`, or recompile (`model.compile(...)`) afterwards.
    """
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {ATTENTION_IMPLEMENTATIONS}; "
            f"got {implementation!r}."
        )
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, BertSelfAttention):
            layer.attention_implementation = implementation


def first_token_spec(spec, first_token_only, query_positions=None):
    """`spec` of a `(batch, sequence, ...)` output, cut to the queried tokens."""
    if query_positions is not None:
        queried = query_positions.shape[1]
    elif first_token_only:
        queried = 1
    else:
        return spec
    return keras.KerasTensor(
        (spec.shape[0], queried) + tuple(spec.shape[2:]), dtype=spec.dtype
    )


def queried_rows(x, query_positions):
    """The rows `query_positions` `(batch, K)` of `x` `(batch, sequence, ...)`."""
    return ops.take_along_axis(x, ops.expand_dims(query_positions, -1), axis=1)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertSelfAttention(keras.layers.Layer):
    """Multi-head self-attention as in BERT, with an additive padding mask.

    `call` takes a `padding_mask` `(batch, key)` (which keys are real) or an
    `attention_mask` `(batch, query, key)` (which keys each query may see;
    `BertBackbone(packed_sequences=True)` makes it block-diagonal so that the
    instances packed into one row do not see each other). With
    `first_token_only=True` only the first token queries (keys and values are
    still every token): the output is `(batch, 1, hidden)`, the first row of
    the full output, for a fraction of the work (what `pooled_output` needs
    from the last block). `query_positions` `(batch, K)` does the same for
    the tokens at those positions (the [CLS] of every text packed in a row):
    the output is `(batch, K, hidden)`.

    Query, key, value and output projections are separate `(hidden, hidden)`
    kernels with biases, exactly the layout of the original checkpoint
    (`attention/self/query/kernel`, ..., `attention/output/dense/kernel`), so
    conversion is a copy (Hugging Face's are the transposes). The softmax runs
    in float32 under mixed precision.

    Two implementations of the same math: `"einsum"` (scores, float32 softmax,
    dropout on the probabilities, weighted sum) and `"dot_product_attention"`
    (`keras.ops.dot_product_attention`: a fused flash-attention kernel on GPU and
    TPU, float32 softmax; it has no dropout, so while training with `dropout > 0`
    the einsum path runs instead). `"auto"` (the default) takes the fused op on
    GPU/TPU and on the torch backend (torch's CPU kernel is fused too), and
    einsum on CPU under TF and JAX, where it is as fast or faster (see
    benchmarks/README.md). Use `set_attention_implementation(model, ...)` to
    change it on a built model.

    Args:
        num_heads: int. Attention heads; `hidden_dim` must divide by it.
        hidden_dim: int. Model width.
        dropout: float. Dropout on the attention probabilities.
        initializer_range: float. Stddev of the truncated-normal initializer.
        attention_implementation: `"auto"`, `"einsum"` or
            `"dot_product_attention"` (see above). Not part of the math: every
            choice gives the same outputs (to float rounding).

    Example:
    ```python
    layer = BertSelfAttention(num_heads=2, hidden_dim=8)
    outputs = layer(np.ones((2, 4, 8)), padding_mask=np.ones((2, 4), "int32"))
    ```
    """

    def __init__(
        self,
        num_heads,
        hidden_dim,
        dropout=0.1,
        initializer_range=0.02,
        attention_implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim={hidden_dim} must be a multiple of num_heads={num_heads}."
            )
        if attention_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"attention_implementation must be one of {ATTENTION_IMPLEMENTATIONS}"
                f"; got {attention_implementation!r}."
            )
        self.attention_implementation = attention_implementation
        # XLA on CPU (JAX) runs the two attention contractions 2-3x faster with
        # the heads as a leading batch dimension than on the (batch, seq, heads,
        # dim) layout the projections produce, transposes included (see
        # benchmarks/README.md). TF's kernels are indifferent. Same math either way.
        self._heads_first = keras.backend.backend() == "jax"
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.head_dim = hidden_dim // num_heads

        def projection(name):
            return OneDnnInt8Dense(
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

    def build(self, inputs_shape, padding_mask_shape=None, attention_mask_shape=None):
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(inputs_shape)
        self.output_dense.build(tuple(inputs_shape[:-1]) + (self.hidden_dim,))
        self.built = True

    def _split_heads(self, x, batch, length):
        # `batch` and `length` are read from the layer's input, not from `x`:
        # tf2onnx's optimizers merge the reshape `x` comes from with this one
        # and would then read the shape of the flat matmul rows.
        return ops.reshape(x, (batch, length, self.num_heads, self.head_dim))

    def _use_fused_attention(self, training):
        implementation = self.attention_implementation
        if implementation == "auto":
            # torch's CPU kernel is fused too (1.2x the einsum path at BERT-Base
            # in bf16); XLA's and TF's CPU versions are not.
            fused = accelerator_present() or keras.backend.backend() == "torch"
            implementation = "dot_product_attention" if fused else "einsum"
        if implementation == "einsum":
            return False
        # The fused op has no dropout on the probabilities.
        return not (training and self.dropout > 0)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=False,
        first_token_only=False,
        query_positions=None,
    ):
        batch, length = token_shape(inputs)
        key, value = (
            self._split_heads(
                dense_over_tokens(dense, inputs, (batch, length)), batch, length
            )
            for dense in (self.key_dense, self.value_dense)
        )
        if first_token_only:
            inputs = inputs[:, :1, :]
            length = 1
            if attention_mask is not None:
                attention_mask = attention_mask[:, :1, :]
        elif query_positions is not None:
            inputs = queried_rows(inputs, query_positions)
            length = ops.shape(query_positions)[1]
            if attention_mask is not None:
                attention_mask = queried_rows(attention_mask, query_positions)
        query = self._split_heads(
            dense_over_tokens(self.query_dense, inputs, (batch, length)), batch, length
        )

        if self._use_fused_attention(training):
            mask = None
            if attention_mask is not None:
                mask = ops.expand_dims(ops.cast(attention_mask, "bool"), 1)
            elif padding_mask is not None:
                mask = ops.expand_dims(ops.cast(padding_mask, "bool"), (1, 2))
            context = ops.dot_product_attention(
                query, key, value, mask=mask, scale=1.0 / math.sqrt(self.head_dim)
            )
        else:
            context = self._einsum_attention(
                query, key, value, padding_mask, attention_mask, training=training
            )
        context = ops.reshape(context, (batch, length, self.hidden_dim))
        return dense_over_tokens(self.output_dense, context, (batch, length))

    def _einsum_attention(
        self, query, key, value, padding_mask, attention_mask, training
    ):
        if self._heads_first:
            query, key, value = (
                ops.transpose(x, (0, 2, 1, 3)) for x in (query, key, value)
            )
            scores = ops.einsum("bhqd,bhkd->bhqk", query, key)
        else:
            scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        scores = ops.cast(scores, "float32") / math.sqrt(self.head_dim)
        if attention_mask is not None:
            hidden_key = 1.0 - ops.cast(attention_mask, "float32")
            scores = scores + ops.expand_dims(hidden_key, 1) * -1e9
        elif padding_mask is not None:
            # Padded keys get a large negative score; queries are left alone, as in
            # the original, so padded positions still produce (unused) outputs.
            key_is_padding = 1.0 - ops.cast(padding_mask, "float32")
            # expand_dims, not [:, None, None, :]: LiteRT's strided slice has
            # no new axes.
            scores = scores + ops.expand_dims(key_is_padding, (1, 2)) * -1e9
        probabilities = ops.softmax(scores, axis=-1)
        probabilities = ops.cast(probabilities, self.compute_dtype)
        probabilities = self.probabilities_dropout(probabilities, training=training)

        if self._heads_first:
            context = ops.einsum("bhqk,bhkd->bhqd", probabilities, value)
            return ops.transpose(context, (0, 2, 1, 3))
        return ops.einsum("bhqk,bkhd->bqhd", probabilities, value)

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
        return tuple(inputs_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "initializer_range": self.initializer_range,
                "attention_implementation": self.attention_implementation,
            }
        )
        return config
