import keras
from keras import ops

from keras_bert_impl.layers.bert_embeddings import BertEmbeddings
from keras_bert_impl.layers.bert_encoder_block import BertEncoderBlock
from keras_bert_impl.layers.bert_self_attention import queried_rows
from keras_bert_impl.models.quantized_layers import QuantizedModel
from keras_bert_impl.models.quantized_layers import policy_with_quantized_layers
from keras_bert_impl.models.token_id_checks import TokenIdChecks
from keras_bert_impl.utils.mixed_precision import warn_if_bfloat16_is_slow_here
from keras_bert_impl.utils.preset_io import PresetMixin
from keras_bert_impl.utils.preset_io import backbone_from_preset_dir
from keras_bert_impl.utils.preset_io import write_backbone_preset
from keras_bert_impl.utils.torch_backend_model import TorchBackendModel


def packed_attention_mask(padding_mask):
    """Which keys each query sees in packed rows: those of its own instance.

    `padding_mask` holds the instance number (1, 2, ...) of every token, 0 for
    padding. Padding queries see the padding keys: their outputs are never
    read, and a query that sees no key at all would turn into NaN in fused
    attention kernels and spread through the values of the next block.
    """
    return ops.equal(padding_mask[:, :, None], padding_mask[:, None, :])


def packed_position_ids(padding_mask):
    """Positions that restart at 0 at the first token of every packed instance.

    A token of instance `m` at index `i` gets `i` minus the number of tokens of
    the instances before `m`; padding keeps its index.
    """
    index = ops.cumsum(ops.ones_like(padding_mask), axis=1) - 1
    instance = padding_mask[:, None, :]
    earlier = ops.logical_and(instance > 0, instance < padding_mask[:, :, None])
    return index - ops.sum(ops.cast(earlier, padding_mask.dtype), axis=-1)


def first_token_path_pays():
    """Whether `pooled_output` takes its own [CLS]-only path through the last block.

    A model that reads only `pooled_output` (a classifier) then leaves the full
    last block unused, and TF's and XLA's compiled graphs drop it (5/6 of a
    block). The torch backend runs every op of the graph, so there the extra
    path would only add work.
    """
    return keras.backend.backend() != "torch"


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertBackbone(
    TorchBackendModel, QuantizedModel, TokenIdChecks, PresetMixin, keras.Model
):
    """The BERT encoder (Devlin et al., 2018) as a functional Keras model.

    Embedding sum (token + segment + position, LayerNorm, dropout), `num_layers`
    post-LN Transformer blocks, and the pooler (dense + tanh on the [CLS]
    vector). Runs on every Keras backend; layer and variable names map one to
    one onto the original TF checkpoint and onto Hugging Face's `BertModel`.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_layers: int. Transformer blocks.
        num_heads: int. Attention heads per block.
        hidden_dim: int. Model width H.
        intermediate_dim: int. FFN inner width (4H in BERT).
        dropout: float. Dropout everywhere BERT drops out.
        max_sequence_length: int. Position-embedding rows; longer inputs fail.
        num_segments: int. Segment-embedding rows (2: sentence A and B).
        activation: str. `"gelu"` (exact, as Hugging Face) or
            `"gelu_approximate"` (tanh, as the original TF code).
        layer_norm_epsilon: float. LayerNorm epsilon.
        initializer_range: float. Stddev of the truncated-normal initializer.
        dtype: `None`, a dtype or a `keras.DTypePolicy` (e.g.
            `"mixed_bfloat16"`; LayerNorm and softmax still run in float32).
        packed_sequences: bool. Rows hold several instances one after another
            (sequence packing for pretraining): `padding_mask` numbers them
            1, 2, ... (0 for padding), each token attends only to the tokens
            of its own instance, and positions restart at 0 for each. The
            weights are the same either way: a preset loads into both.

    Inputs: a dict of int tensors of shape `(batch, sequence)`: `token_ids`,
    `segment_ids` and `padding_mask` (1 for real tokens, 0 for padding; the
    instance number with `packed_sequences=True`).
    Outputs: a dict with `sequence_output` `(batch, sequence, hidden_dim)` and
    `pooled_output` `(batch, hidden_dim)`. `pooled_output` takes its own path
    through the last block, where only the [CLS] token queries and goes through
    the feed-forward network (`BertEncoderBlock(first_token_only=True)`); in a
    model that reads only `pooled_output` (`BertClassifier`,
    `BertMultipleChoice`), compiled by TF or XLA, the full last block is
    dropped as unused: 5/6 of a block less work, 7% of BERT-Base, 21% of a
    4-layer model. On the torch backend, which runs every op of the graph,
    `pooled_output` reads `sequence_output` instead.

    Example:
    ```python
    backbone = BertBackbone(
        vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128,
        intermediate_dim=512,
    )
    outputs = backbone({
        "token_ids": np.array([[101, 7592, 102, 0]]),
        "segment_ids": np.zeros((1, 4), "int32"),
        "padding_mask": np.array([[1, 1, 1, 0]]),
    })
    outputs["pooled_output"].shape  # (1, 128)
    ```
    """

    # A checkpoint folder given to from_preset is converted without its heads.
    checkpoint_heads = False

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        activation="gelu",
        layer_norm_epsilon=1e-12,
        initializer_range=0.02,
        dtype=None,
        packed_sequences=False,
        **kwargs,
    ):
        # === Layers ===
        self.embeddings = BertEmbeddings(
            vocabulary_size=vocabulary_size,
            hidden_dim=hidden_dim,
            max_sequence_length=max_sequence_length,
            num_segments=num_segments,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            initializer_range=initializer_range,
            dtype=dtype,
            name="embeddings",
        )
        self.transformer_layers = [
            BertEncoderBlock(
                num_heads=num_heads,
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
                dropout=dropout,
                activation=activation,
                layer_norm_epsilon=layer_norm_epsilon,
                initializer_range=initializer_range,
                dtype=dtype,
                name=f"transformer_layer_{index}",
            )
            for index in range(num_layers)
        ]
        self.pooler_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=initializer_range
            ),
            dtype=dtype,
            name="pooler_dense",
        )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        if packed_sequences:
            x = self.embeddings(
                token_ids, segment_ids, position_ids=packed_position_ids(padding_mask)
            )
            block_mask = {"attention_mask": packed_attention_mask(padding_mask)}
        else:
            x = self.embeddings(token_ids, segment_ids)
            block_mask = {"padding_mask": padding_mask}
        hidden_states = [x]
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, **block_mask)
            hidden_states.append(x)
        sequence_output = x
        first_token = sequence_output
        if self.transformer_layers and first_token_path_pays():
            first_token = self.transformer_layers[-1](
                hidden_states[-2], first_token_only=True, **block_mask
            )
        pooled_output = self.pooler_dense(first_token[:, 0, :])
        super().__init__(
            inputs={
                "token_ids": token_ids,
                "segment_ids": segment_ids,
                "padding_mask": padding_mask,
            },
            outputs={
                "sequence_output": sequence_output,
                "pooled_output": pooled_output,
            },
            dtype=dtype,
            **kwargs,
        )
        if isinstance(dtype, keras.dtype_policies.DTypePolicyMap):
            # Keras' functional init keeps only the map's default; the heads
            # of a task on this backbone look their own paths up in the map.
            self.dtype_policy = dtype
        elif dtype is not None:
            # ...and no policy of its own at all ("mixed_bfloat16" read back
            # float32): `get_config` must name the one the layers were built in.
            self.dtype_policy = keras.dtype_policies.get(dtype)
        warn_if_bfloat16_is_slow_here(self.dtype_policy)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.packed_sequences = packed_sequences
        # Symbolic outputs of the embeddings and of every block, for
        # `feature_extractor`; kept out of Keras' attribute tracking.
        object.__setattr__(self, "_hidden_state_tensors", tuple(hidden_states))

    @property
    def token_embedding(self):
        """The token `Embedding` layer (the masked-LM decoder is tied to it)."""
        return self.embeddings.token_embedding

    def packed_pooled_output(self, inputs):
        """`pooled_output` of every text packed into rows, on symbolic inputs.

        Short texts packed several to a row (`utils/packed_prediction.py`)
        leave almost no padding, and every row has the same length. The
        layers and weights are this backbone's, the math that of
        `packed_sequences=True` (each text sees only its own tokens, positions
        restart at its [CLS]); only the [CLS] tokens go through the last
        block's queries and feed-forward network (where that pays, as for
        `pooled_output`), then the pooler.

        Args:
            inputs: dict of symbolic `token_ids`, `segment_ids`, `padding_mask`
                (the text number 1, 2, ... of every token, 0 for padding) and
                `first_token_positions` `(batch, K)`: where each text of the
                row starts (empty slots: any position; their outputs are not
                read).

        Returns:
            The pooled [CLS] vectors, `(batch, K, hidden_dim)`.
        """
        padding_mask = inputs["padding_mask"]
        positions = inputs["first_token_positions"]
        x = self.embeddings(
            inputs["token_ids"],
            inputs["segment_ids"],
            position_ids=packed_position_ids(padding_mask),
        )
        attention_mask = packed_attention_mask(padding_mask)
        blocks = list(self.transformer_layers)
        last_block_queries_first_tokens = bool(blocks) and first_token_path_pays()
        if last_block_queries_first_tokens:
            blocks.pop()
        for block in blocks:
            x = block(x, attention_mask=attention_mask)
        if last_block_queries_first_tokens:
            first_tokens = self.transformer_layers[-1](
                x, attention_mask=attention_mask, query_positions=positions
            )
        else:
            first_tokens = queried_rows(x, positions)
        return self.pooler_dense(first_tokens)

    def feature_extractor(self, layers=(-4, -3, -2, -1), combine="concat", name=None):
        """A model that outputs hidden states of chosen layers (feature-based BERT).

        The paper's feature-based alternative to fine-tuning (its CoNLL-2003
        ablation: "concat last four hidden" is the default here). Hidden state 0
        is the embedding output, hidden state `i` the output of block `i`
        (`num_layers + 1` states, Hugging Face's `hidden_states` order), so
        `-1` is the last block (`sequence_output`). The returned functional
        model takes the backbone's inputs and shares its layers and weights;
        the backbone itself is not changed.

        Args:
            layers: sequence of int indices into the `num_layers + 1` hidden
                states (negative counts from the end), or `"all"`.
            combine: `"concat"` (on the feature axis: `(batch, seq, len(layers)
                * hidden_dim)`), `"sum"` (`(batch, seq, hidden_dim)`) or `None`
                (a list of the states, one `(batch, seq, hidden_dim)` each).
            name: optional name of the returned model.

        Returns:
            A `keras.Model` with the backbone's input dict.

        Example:
        ```python
        features = backbone.feature_extractor(layers=(-4, -3, -2, -1))
        features.predict(inputs).shape  # (batch, seq, 4 * hidden_dim)
        every_state = backbone.feature_extractor("all", combine=None)
        ```
        """
        states = self._hidden_state_tensors
        if isinstance(layers, str):
            if layers != "all":
                raise ValueError(f'`layers` must be indices or "all". Got {layers!r}.')
            layers = tuple(range(len(states)))
        layers = tuple(int(index) for index in layers)
        if not layers:
            raise ValueError("`layers` must name at least one hidden state.")
        for index in layers:
            if not -len(states) <= index < len(states):
                raise ValueError(
                    f"Hidden state {index} does not exist: this backbone has "
                    f"{len(states)} (the embeddings and {self.num_layers} blocks), "
                    f"indices {-len(states)}..{len(states) - 1}."
                )
        selected = [states[index] for index in layers]
        if combine == "concat":
            outputs = (
                selected[0]
                if len(selected) == 1
                else keras.layers.Concatenate(axis=-1, dtype=self.dtype_policy)(
                    selected
                )
            )
        elif combine == "sum":
            outputs = (
                selected[0]
                if len(selected) == 1
                else keras.layers.Add(dtype=self.dtype_policy)(selected)
            )
        elif combine is None:
            outputs = selected
        else:
            raise ValueError(
                f'`combine` must be "concat", "sum" or None. Got {combine!r}.'
            )
        return keras.Model(
            inputs=dict(self.input),
            outputs=outputs,
            name=name or f"{self.name}_features",
        )

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # Quantized layers (`quantize("int8")`) rebuild quantized.
            "dtype": keras.dtype_policies.serialize(
                policy_with_quantized_layers(self._flatten_layers(), self.dtype_policy)
            ),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "num_segments": self.num_segments,
            "activation": self.activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": self.initializer_range,
            "packed_sequences": self.packed_sequences,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    @classmethod
    def _from_preset_dir(cls, preset_dir, load_weights, **overrides):
        return backbone_from_preset_dir(preset_dir, load_weights, **overrides)

    def _write_preset_files(self, preset_dir):
        write_backbone_preset(self, preset_dir)
