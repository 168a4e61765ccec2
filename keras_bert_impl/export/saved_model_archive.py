"""The SavedModel around a serving head: its two signatures, traced or converted.

The SavedModel is built with `keras.export.ExportArchive`, which works on every
backend that can export: on TensorFlow the Keras model is traced into a
`tf.function`; on JAX its forward pass is converted with `jax2tf` (native
serialization: a StableHLO module run by TensorFlow's `XlaCallModule` op,
lowered for CPU, GPU and TPU). The string signature is TensorFlow code around
that traced core.
"""

import keras
import tensorflow as tf

from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.token_id_ranges import assert_id_ranges
from keras_bert_impl.utils.token_id_ranges import id_limits

SERVING_SIGNATURE = "serving_default"
"""The raw-strings signature."""
TOKEN_IDS_SIGNATURE = "serve_token_ids"
"""The signature on `token_ids`, `segment_ids`, `padding_mask`, ids range-checked."""
UNCHECKED_TOKEN_IDS_SIGNATURE = "serve_token_ids_unchecked"
"""The traced core: `serve_token_ids` without the id checks (the string
signature's tokenizer makes only valid ids)."""
JAX_PLATFORMS = ("cpu", "cuda", "tpu")
"""Platforms a JAX-backend model is lowered for (`jax2tf` native serialization)."""
INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")
"""The backbone's inputs: the arguments of the token-ids signature, in order."""


def write_saved_model(head, path):
    """Writes `head`'s signatures as a SavedModel at `path`, atomically.

    `serving_default` (strings), `serve_token_ids` (ids, range-checked) and
    `serve_token_ids_unchecked` (the core both call).

    Args:
        head: a `ServingHead` with its preprocessor set.
        path: `pathlib.Path`, replaced if it exists.
    """
    archive = keras.export.ExportArchive()
    track_variables_once(archive, head.model)
    spec = tf.TensorSpec([None, None], tf.int32)
    head.token_ids_fn = archive.add_endpoint(
        UNCHECKED_TOKEN_IDS_SIGNATURE,
        head.token_ids_outputs,
        input_signature=[spec] * len(INPUT_NAMES),
        **_backend_export_kwargs(head.backbone.max_sequence_length),
    )
    # The checks are TensorFlow code around the core: a JAX model's core is
    # converted by jax2tf, inside which nothing can raise.
    limits = id_limits(head.backbone)

    def checked_token_ids_outputs(token_ids, segment_ids, padding_mask):
        inputs = {"token_ids": token_ids, "segment_ids": segment_ids}
        checked = assert_id_ranges(inputs, limits, TOKEN_IDS_SIGNATURE)
        return head.token_ids_fn(
            checked["token_ids"], checked["segment_ids"], padding_mask
        )

    checked_fn = tf.function(
        checked_token_ids_outputs,
        input_signature=[
            tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES
        ],
        autograph=False,
    )
    checked_fn.get_concrete_function()
    archive.add_endpoint(TOKEN_IDS_SIGNATURE, checked_fn)
    strings_fn = tf.function(
        head.string_outputs,
        input_signature=[
            tf.TensorSpec([None], tf.string, name=name) for name in head.text_inputs
        ],
        autograph=False,
    )
    strings_fn.get_concrete_function()  # ExportArchive takes traced functions.
    archive.add_endpoint(SERVING_SIGNATURE, strings_fn)
    with staged_directory(path) as staging:
        archive.write_out(str(staging), verbose=False)


def track_variables_once(archive, model):
    """`archive.track(model)`, storing each weight once.

    On TensorFlow, `track` keeps the Keras variables while the traced
    endpoints capture the `tf.Variable`s inside them: two objects per weight,
    which the SavedModel stores twice, doubling its size and the memory of
    every server that loads it (keras-team/keras#23553, open). Tracking the
    `tf.Variable`s themselves lets TensorFlow see they are the same.
    """
    archive.track(model)
    if keras.backend.backend() != "tensorflow":
        return  # JAX: the archive's variables are the ones jax2tf captures.
    trackable = archive._tf_trackable
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        setattr(trackable, name, [v.value for v in getattr(trackable, name)])


def pad_to_one_row(inputs):
    """At least one row (a JAX-exported model wants batch >= 1), and the count."""
    count = tf.shape(inputs["token_ids"])[0]
    extra = tf.maximum(1 - count, 0)
    padded = {
        name: tf.pad(inputs[name], tf.stack([tf.stack([0, extra]), [0, 0]]))
        for name in INPUT_NAMES
    }
    return padded, count


def _backend_export_kwargs(max_sequence_length):
    if keras.backend.backend() != "jax":
        return {}
    # One batch size `b` and sequence length `s` shared by the three inputs,
    # `s` bounded by the position embeddings (the model checks that length);
    # no gradients (serving only: the dropout seeds have none).
    return {
        "jax2tf_kwargs": {
            "polymorphic_shapes": ["(b, s)"] * len(INPUT_NAMES),
            "polymorphic_constraints": (f"s <= {int(max_sequence_length)}",),
            "with_gradient": False,
            "native_serialization_platforms": JAX_PLATFORMS,
        }
    }
