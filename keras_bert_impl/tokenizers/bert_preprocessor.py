import keras
import numpy as np
import tensorflow as tf

from keras_bert_impl.tokenizers import _preprocessing_utils as utils
from keras_bert_impl.tokenizers._preprocessing_utils import (
    no_autograph as _no_autograph,
)
from keras_bert_impl.tokenizers.bert_packer import BertPacker
from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
from keras_bert_impl.utils.document_windows import window_count
from keras_bert_impl.utils.document_windows import window_span
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_io import load_serialized
from keras_bert_impl.utils.preset_io import register_preprocessor_loader
from keras_bert_impl.utils.preset_io import resolve_model_preset
from keras_bert_impl.utils.windowed_documents import WindowedDocuments


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertPreprocessor(keras.layers.Layer):
    """Raw strings (or pairs of strings) to the BERT backbone's input dict.

    Tokenizes with `tokenizer`, then packs `[CLS] A [SEP]` or
    `[CLS] A [SEP] B [SEP]` to `sequence_length` (see `BertPacker` for the
    truncation strategies). Returns a dict of int32 tensors
    `(batch, sequence_length)`: `token_ids`, `segment_ids`, `padding_mask`.

    Inputs: a string or a batch of strings; a pair is a tuple (or a list of
    two batches) `(first_segments, second_segments)`. Like keras-hub's
    preprocessors, `call(x, y=None, sample_weight=None)` passes labels and
    sample weights through, so `ds.map(preprocessor)` works on datasets of
    `features` or `(features, labels)`; for a dataset of pairs use elements
    `((a, b), label)` (or `ds.map(lambda a, b: preprocessor((a, b)))`).

    Runs as TensorFlow ops on every backend: eagerly it returns tensors of the
    active Keras backend; inside `tf.data` / `tf.function` / a SavedModel it
    takes and returns tf tensors.

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: length of the packed sequences.
        truncate: "longest_first" (the original BERT, Hugging Face's
            `truncation=True`) or "waterfall".
        stride: None (one sequence per text, truncated) or the pieces between
            the starts of consecutive windows over a long text (run_squad.py's
            `doc_stride`; transformers' `stride` is the overlap instead, here
            `sequence_length - 2 - stride`). With it, `windows` reads each text
            in overlapping windows of `sequence_length - 2` pieces, and
            `BertClassifier` / `BertTokenClassifier` `fit`, `predict` and
            `evaluate` read long documents whole (see
            `keras_bert_impl.utils.windowed_documents`); calling the layer still
            gives each text's first window.

    Example:
    >>> tokenizer = BertTokenizer(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "."]
    ... )
    >>> preprocessor = BertPreprocessor(tokenizer, sequence_length=8)
    >>> x = preprocessor((["The fox."], ["A fox."]))
    >>> keras.ops.convert_to_numpy(x["token_ids"]).tolist()
    [[2, 5, 6, 7, 3, 1, 6, 3]]
    >>> keras.ops.convert_to_numpy(x["segment_ids"]).tolist()
    [[0, 0, 0, 0, 0, 1, 1, 1]]
    """

    def __init__(
        self,
        tokenizer,
        sequence_length=128,
        truncate="longest_first",
        stride=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True
        if not isinstance(tokenizer, BertTokenizer):
            raise ValueError(
                "`tokenizer` must be a BertTokenizer. "
                f"Received: {type(tokenizer).__name__}"
            )
        self.tokenizer = tokenizer
        self.truncate = truncate
        if stride is not None and (int(stride) != stride or stride < 1):
            raise ValueError(
                f"`stride` must be None or a positive number of pieces. Received: "
                f"{stride!r}"
            )
        self.stride = None if stride is None else int(stride)
        self.packer = BertPacker(
            sequence_length=sequence_length,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            pad_token_id=tokenizer.pad_token_id,
            truncate=truncate,
        )

    @property
    def sequence_length(self):
        """The packed length; settable after construction, as in keras-hub."""
        return self.packer.sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        if int(value) < 3:
            raise ValueError(
                "`sequence_length` must be at least 3 ([CLS] and two [SEP]). "
                f"Received: {value}"
            )
        self.packer.sequence_length = int(value)

    @classmethod
    def from_preset(cls, preset, sequence_length=None, **kwargs):
        """The preprocessor of a preset, as keras-hub's `from_preset`.

        A preset that saved its preprocessor (`preprocessor.json`) gives that
        one; any other gives its tokenizer (`BertTokenizer.from_preset`) packed
        to the class default length. `sequence_length` and `**kwargs` override.

        Example:
        ```python
        preprocessor = BertPreprocessor.from_preset("all_minilm_l6_v2")
        preprocessor.sequence_length = 64
        preprocessor(["a fine film"])["token_ids"].shape  # (1, 64)
        ```
        """
        preset_dir = resolve_model_preset(preset, with_heads=False)
        saved = preset_dir / PREPROCESSOR_CONFIG_FILE
        if saved.is_file():
            preprocessor = load_serialized(saved, **kwargs)
        else:
            preprocessor = cls(BertTokenizer.from_preset(preset_dir), **kwargs)
        if sequence_length is not None:
            preprocessor.sequence_length = sequence_length
        return preprocessor

    def __call__(self, x, *args, **kwargs):
        if isinstance(x, list) and _is_pair(x):
            x = tuple(x)
        return super().__call__(utils.convert_call_inputs(x), *args, **kwargs)

    @_no_autograph
    def call(self, x, y=None, sample_weight=None):
        segments = list(x) if _is_pair(x) else [x]
        if len(segments) not in (1, 2):
            raise ValueError(
                "BertPreprocessor takes strings or a pair (tuple) of string "
                f"batches. Received {len(segments)} segments."
            )
        with utils.no_convert_scope():
            token_ids = [self.tokenizer(segment) for segment in segments]
            unbatched = token_ids[0].shape.rank == 1
            if unbatched:
                token_ids = [
                    tf.RaggedTensor.from_tensor(ids[tf.newaxis]) for ids in token_ids
                ]
            with tf.device("cpu"):
                outputs = self.packer._pack_tf(token_ids)
                if unbatched:
                    outputs = {k: v[0] for k, v in outputs.items()}
        if utils.converting():
            outputs = utils.to_output(outputs)
        return keras.utils.pack_x_y_sample_weight(outputs, y, sample_weight)

    def windows(self, texts):
        """Long texts in overlapping windows: (features, `WindowedDocuments`).

        Each text is tokenized whole and read in windows of
        `sequence_length - 2` pieces, `stride` pieces apart, each packed as
        `[CLS] window [SEP]`; a text that fits gives one window, equal to what
        calling the layer gives.

        Args:
            texts: strings (a list or 1-D array; single texts, not pairs).

        Returns:
            `(features, windows)`: a dict of int32 NumPy arrays
            `(num_windows, sequence_length)` (`token_ids`, `segment_ids`,
            `padding_mask`) and the `WindowedDocuments` that maps windows back to
            texts.
        """
        if self.stride is None:
            raise ValueError(
                "BertPreprocessor.windows needs a stride: build it with "
                "BertPreprocessor(tokenizer, sequence_length, stride=K)"
            )
        if _is_pair(texts):
            raise ValueError(
                "stride windows read single texts, got a pair; for (question, "
                "context) pairs use SquadFeaturizer, which windows the context"
            )
        with utils.no_convert_scope():
            pieces = self.tokenizer(tf.constant(np.asarray(texts, dtype=object)))
        if pieces.shape.rank != 2:
            raise ValueError(
                "BertPreprocessor.windows takes a batch of texts (a list or 1-D "
                f"array), got a tensor of rank {pieces.shape.rank - 1}"
            )
        features, _ = self.window_features(pieces)
        features = {name: value.numpy() for name, value in features.items()}
        windows = WindowedDocuments(
            pieces.row_lengths().numpy(), self.sequence_length - 2, self.stride
        )
        return features, windows

    def window_features(self, pieces):
        """The windows of tokenized texts, in TensorFlow ops (eager or in a graph).

        Args:
            pieces: int `tf.RaggedTensor` `(texts, None)`, each text's pieces.

        Returns:
            `(features, layout)`: the backbone's input dict, int32 `(windows,
            sequence_length)`, windows in text order (`WindowedDocuments`'
            rule and order), and where they lie, int64: `document_index`,
            `start` and `length` `(windows,)` (each window's text, its first
            piece in that text, its number of pieces), `first_window` and
            `count` `(texts,)`.
        """
        from tensorflow.experimental import numpy as tnp

        sequence_length = self.sequence_length
        window_size = sequence_length - 2
        # int64 throughout: TensorFlow's NumPy API widens Python ints to it.
        lengths = tf.cast(pieces.row_lengths(), tf.int64)
        counts = window_count(lengths, window_size, self.stride, tnp)
        first_window = tf.cumsum(counts, exclusive=True)
        document_index = tf.repeat(tf.range(tf.size(lengths, tf.int64)), counts)
        number = tf.range(tf.size(document_index, tf.int64)) - tf.gather(
            first_window, document_index
        )
        window_start, window_length = window_span(
            number, tf.gather(lengths, document_index), window_size, self.stride, tnp
        )
        layout = {
            "document_index": document_index,
            "start": window_start,
            "length": window_length,
            "first_window": first_window,
            "count": counts,
        }
        start, length = window_start[:, None], window_length[:, None]
        position = tf.range(sequence_length, dtype=tf.int64)[None, :]
        inside = (position >= 1) & (position <= length)
        first_piece = tf.cast(pieces.row_starts(), tf.int64)
        source = tf.gather(first_piece, document_index)[:, None] + start + position - 1
        # A pad id at the end: positions outside every window read it.
        flat = tf.concat(
            [tf.cast(pieces.flat_values, tf.int32), [self.tokenizer.pad_token_id]], 0
        )
        last = tf.size(flat, tf.int64) - 1
        token_ids = tf.gather(flat, tf.where(inside, source, last))
        token_ids = tf.where(position == 0, self.tokenizer.cls_token_id, token_ids)
        token_ids = tf.where(
            position == length + 1, self.tokenizer.sep_token_id, token_ids
        )
        features = {
            "token_ids": token_ids,
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": tf.cast(position <= length + 1, tf.int32),
        }
        return features, layout

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "sequence_length": self.sequence_length,
                "truncate": self.truncate,
                "stride": self.stride,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("tokenizer"), dict):
            config["tokenizer"] = keras.saving.deserialize_keras_object(
                config["tokenizer"]
            )
        return cls(**config)


# Task models' `from_preset` attach this preprocessor through utils.preset_io
# (models may not import tokenizers).
register_preprocessor_loader(BertPreprocessor.from_preset)


def _is_pair(x):
    """A tuple, or a list of two string batches (not a list of strings)."""
    if isinstance(x, tuple):
        return True
    if isinstance(x, list) and len(x) == 2:
        return all(isinstance(v, (list, tuple, np.ndarray, tf.Tensor)) for v in x)
    return False
