"""LiteRT (formerly TensorFlow Lite) export: raw strings in, no Select TF ops.

The `.tflite` file holds the tokenizer (`LiteRTPreprocessor`: tensorflow-text's
`FastBertNormalizer` and `FastWordpieceTokenizer`, whose LiteRT kernels
tensorflow-text ships), the packing (LiteRT builtin ops), the model and the
head's post-processing. It needs no Flex delegate: a LiteRT interpreter with
tensorflow-text's kernels registered (tested with TensorFlow's Python
interpreter; on a device, link tensorflow-text's LiteRT op library).
"""

import tempfile

import keras
import tensorflow as tf

from keras_bert_impl.export.litert_preprocessor import LiteRTPreprocessor
from keras_bert_impl.export.saved_model_archive import SERVING_SIGNATURE
from keras_bert_impl.export.saved_model_archive import track_variables_once
from keras_bert_impl.export.single_file_export import checked_single_file_export
from keras_bert_impl.export.single_file_export import trace_on_tensorflow
from keras_bert_impl.export.single_file_export import traced_in_float32
from keras_bert_impl.export.tensorflow_process import export_in_tensorflow_process
from keras_bert_impl.utils.file_io import atomic_write

TFTEXT_LITERT_OPS = (
    "FastBertNormalize",
    "FastWordpieceTokenizeWithOffsets",
    "RaggedTensorToTensor",
)
"""The custom ops an exported model may use: tensorflow-text registers them
(`tensorflow_text.core.pybinds.tflite_registrar.SELECT_TFTEXT_OPS`)."""


@traced_in_float32
def export_litert(
    model,
    path,
    preprocessor=None,
    *,
    text_pair=False,
    label_names=None,
    pad_to_longest=True,
    quantize=None,
):
    """Writes a `.tflite` model that serves raw strings (the `serving_default`
    signature of `export_saved_model`, for a classifier or a backbone).

    Inputs `text` (or `text_a` and `text_b` with `text_pair=True`): a 1-D
    string tensor. Outputs as `export_saved_model`'s string signature
    (`label`, `label_id`, `probabilities`, `logits` or `score`; a backbone's
    `pooled_output`, `sequence_output`, `padding_mask`), each batch padded to
    its longest text (`pad_to_longest`). Tokenization is the original's
    except on the rare characters `litert_preprocessor`'s docstring lists
    (Chinese full-width punctuation among them).

    Serving needs a LiteRT interpreter with tensorflow-text's kernels:
    ```python
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
    from tensorflow_text.core.pybinds import tflite_registrar

    interpreter = InterpreterWithCustomOps(
        model_path="model.tflite",
        custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS,
    )
    serve = interpreter.get_signature_runner("serving_default")
    serve(text=np.array(["what a film"], dtype=object))["label"]  # [b"positive"]
    ```

    Args:
        model: `BertClassifier` or `BertBackbone`. On JAX it is saved and
            converted in a TensorFlow child process (LiteRT converts
            TensorFlow graphs only).
        path: the `.tflite` file to write (replaced if it exists).
        preprocessor: `BertPreprocessor`; None uses `model.preprocessor`.
        text_pair: bool. Serve sentence pairs.
        label_names: optional class names (as `export_saved_model`).
        pad_to_longest: bool. True: each batch is padded to its longest text
            (truncated at the preprocessor's `sequence_length`), the fastest
            on CPUs; False: to `sequence_length`, static shapes for GPU and
            NPU delegates.
        quantize: None, or "int8": LiteRT's dynamic-range quantization, int8
            weights (a file 4x smaller) and int8 matmuls on activations
            quantized at run time. Export the float model: a model quantized
            in Keras (`model.quantize`) is refused, LiteRT has no kernel for
            Keras' int8 x int8 matmul.

    Returns:
        The `pathlib.Path` of the file.
    """
    path, head, preprocessor = checked_single_file_export(
        model,
        path,
        preprocessor,
        runtime="LiteRT",
        suffix=".tflite",
        quantize=quantize,
        text_pair=text_pair,
        label_names=label_names,
    )
    if keras.backend.backend() != "tensorflow":
        # LiteRT converts TensorFlow graphs; a JAX model's (jax2tf's
        # XlaCallModule) has no LiteRT kernel. The same weights are traced
        # by TensorFlow in a child process instead (the tokenizer options
        # checked here first; on TF, `LiteRTPreprocessor` checks them).
        LiteRTPreprocessor.check_supported(preprocessor)
        label_names = getattr(head, "label_names", None)
        export_in_tensorflow_process(
            model,
            path,
            preprocessor,
            "litert",
            text_pair=text_pair,
            label_names=label_names,
            pad_to_longest=pad_to_longest,
            quantize=quantize,
        )
        return path
    packer = LiteRTPreprocessor(preprocessor, pad_to_longest)
    trace_on_tensorflow(head, packer, pad_to_longest)
    flatbuffer = _convert(head, quantize)
    with atomic_write(path, mode="wb") as file:
        file.write(flatbuffer)
    return path


def _convert(head, quantize):
    strings_fn = tf.function(
        head.string_outputs,
        input_signature=[
            tf.TensorSpec([None], tf.string, name=name) for name in head.text_inputs
        ],
        autograph=False,
    )
    strings_fn.get_concrete_function()
    archive = keras.export.ExportArchive()
    track_variables_once(archive, head.model)
    archive.add_endpoint(SERVING_SIGNATURE, strings_fn)
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=False)
        return convert_saved_model(folder, quantize)


def convert_saved_model(folder, quantize=None):
    """The LiteRT flatbuffer of a SavedModel's `serving_default` signature,
    with LiteRT's builtin ops and tensorflow-text's custom ones only
    (`quantize="int8"`: dynamic-range quantization)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(folder), signature_keys=[SERVING_SIGNATURE]
    )
    if quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # Builtins only: an op without a LiteRT kernel fails the conversion
    # rather than needing the Flex delegate; tensorflow-text's are custom.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    flatbuffer = converter.convert()
    _check_custom_ops(flatbuffer)
    return flatbuffer


def _check_custom_ops(flatbuffer):
    """Every custom op is one tensorflow-text registers (allow_custom_ops lets
    any TensorFlow op through as a custom op, which no interpreter could run)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    custom = {
        code.customCode.decode() for code in model.operatorCodes if code.customCode
    }
    unknown = sorted(custom - set(TFTEXT_LITERT_OPS))
    if unknown:
        raise RuntimeError(
            f"LiteRT conversion: ops {unknown} have no LiteRT kernel; "
            "please report this with the model's config."
        )
