import keras
from keras import ops

from keras_bert_impl.layers.residual_stream import residual_stream_policy


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertEmbeddings(keras.layers.Layer):
    """BERT's input embedding: token + segment + learned position, LayerNorm, dropout.

    Positions are `0, 1, ...` along the sequence unless `call` gets
    `position_ids` `(batch, sequence)` (packed rows restart them per instance).

    The three tables are separate variables so that they map one to one onto the
    original checkpoint (`bert/embeddings/word_embeddings`, `token_type_embeddings`,
    `position_embeddings`) and onto Hugging Face's `embeddings.*` weights.

    Args:
        vocabulary_size: int. Rows of the token table.
        hidden_dim: int. Width of every embedding.
        max_sequence_length: int. Rows of the position table; longer inputs are
            rejected with a `ValueError`.
        num_segments: int. Rows of the segment table.
        dropout: float. Dropout rate after the LayerNorm.
        layer_norm_epsilon: float. LayerNorm epsilon (1e-12 in BERT).
        initializer_range: float. Stddev of the truncated-normal initializer.

    Example:
    ```python
    layer = BertEmbeddings(vocabulary_size=100, hidden_dim=8, max_sequence_length=16)
    outputs = layer(np.ones((2, 4), "int32"), np.zeros((2, 4), "int32"))  # (2, 4, 8)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim,
        max_sequence_length=512,
        num_segments=2,
        dropout=0.1,
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        initializer = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=initializer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments,
            hidden_dim,
            embeddings_initializer=initializer,
            dtype=self.dtype_policy,
            name="segment_embedding",
        )
        self.position_embedding = keras.layers.Embedding(
            max_sequence_length,
            hidden_dim,
            embeddings_initializer=initializer,
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        # The embeddings start BERT's residual stream: float32 under a mixed
        # policy (see `residual_stream_policy`).
        stream_policy = residual_stream_policy(self.dtype_policy)
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=stream_policy, name="layer_norm"
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=stream_policy, name="dropout"
        )

    def build(self, token_ids_shape, segment_ids_shape=None):
        self.token_embedding.build(token_ids_shape)
        self.segment_embedding.build(token_ids_shape)
        self.position_embedding.build((None,))
        self.layer_norm.build(tuple(token_ids_shape) + (self.hidden_dim,))
        self.built = True

    def call(self, token_ids, segment_ids, position_ids=None, training=False):
        sequence_length = token_ids.shape[1]
        if sequence_length is not None and sequence_length > self.max_sequence_length:
            raise ValueError(
                f"Input sequence length {sequence_length} is longer than the model's "
                f"max_sequence_length={self.max_sequence_length}. Truncate the input "
                "(BertPreprocessor(sequence_length=...)) or use a model with more "
                "position embeddings."
            )
        if position_ids is None:
            positions = ops.arange(ops.shape(token_ids)[1], dtype="int32")
            position_embeddings = ops.expand_dims(self.position_embedding(positions), 0)
        else:
            position_embeddings = self.position_embedding(position_ids)
        # Summed in the stream's dtype, as autocast sums float32 lookups.
        stream = self.layer_norm.compute_dtype
        embeddings = (
            ops.cast(self.token_embedding(token_ids), stream)
            + ops.cast(self.segment_embedding(segment_ids), stream)
            + ops.cast(position_embeddings, stream)
        )
        embeddings = self.layer_norm(embeddings)
        return self.dropout_layer(embeddings, training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "hidden_dim": self.hidden_dim,
                "max_sequence_length": self.max_sequence_length,
                "num_segments": self.num_segments,
                "dropout": self.dropout,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "initializer_range": self.initializer_range,
            }
        )
        return config
