"""What the one-file exports (LiteRT, ONNX) check before converting anything."""

import functools
import pathlib

from keras_bert_impl.export.backbone_serving_head import BackboneServingHead
from keras_bert_impl.export.classifier_serving_head import ClassifierServingHead
from keras_bert_impl.export.classifier_serving_head import tensorflow_argmax
from keras_bert_impl.export.serving_head import find_preprocessor
from keras_bert_impl.export.serving_head import make_head
from keras_bert_impl.utils.mixed_precision import is_mixed_precision

SINGLE_FILE_HEADS = (ClassifierServingHead, BackboneServingHead)
"""The heads whose outputs are plain tensors. A token classifier's words and
a question answerer's answer text are string slices of the input, which
neither LiteRT nor ONNX has kernels for."""


def checked_single_file_export(
    model,
    path,
    preprocessor,
    *,
    runtime,
    suffix,
    quantize,
    converts_keras_int8=False,
    **head_options,
):
    """The file, the serving head and the preprocessor of a one-file export.

    Args:
        model: the model to export.
        path: str or path, the file to write.
        preprocessor: `BertPreprocessor`, or None for `model.preprocessor`.
        runtime: str, the runtime's name in error messages ("LiteRT").
        suffix: str, the file's required suffix (".tflite").
        quantize: None or "int8".
        converts_keras_int8: bool. Whether the runtime runs a model quantized
            in Keras (`model.quantize("int8")`); it is never quantized again.
        **head_options: the head's (`text_pair`, `label_names`).

    Returns:
        `(pathlib.Path, ServingHead, preprocessor)`.

    Raises:
        ValueError: naming the fix, for a path without `suffix`, an unknown
            `quantize`, a model quantized in Keras (where the runtime cannot
            run it, or with `quantize`), a model class outside
            `SINGLE_FILE_HEADS`, a preprocessor with a `stride`.
    """
    path = pathlib.Path(path)
    if path.suffix != suffix:
        raise ValueError(
            f"{runtime} export writes one file: path must end in '{suffix}', got "
            f"'{path}'. Pass e.g. '{path / ('model' + suffix)}'."
        )
    if quantize not in (None, "int8"):
        raise ValueError(
            f"{runtime} export: quantize must be None or 'int8', got {quantize!r}."
        )
    quantized = [
        layer.name
        for layer in model._flatten_layers()
        if getattr(layer, "quantization_mode", None)
    ]
    if quantized and converts_keras_int8 and quantize:
        raise ValueError(
            f"{runtime} export: the model's layers are already quantized in "
            f"Keras ({quantized[0]}, ...); export it without quantize='int8'."
        )
    if quantized and not converts_keras_int8:
        raise ValueError(
            f"{runtime} export: the model's layers are quantized in Keras "
            f"({quantized[0]}, ...); {runtime} has no kernel for Keras' int8 "
            f"matmuls. Export the float model with quantize='int8' ({runtime}'s "
            "own int8), or this one with format='saved_model'."
        )
    head = make_head(model, SINGLE_FILE_HEADS, **head_options)
    if head is None:
        raise ValueError(
            f"{runtime} export serves "
            + " and ".join(c.model_class.__name__ for c in SINGLE_FILE_HEADS)
            + f"; got a {type(model).__name__}, whose outputs are string slices "
            f"{runtime} has no kernels for. Export it with format='saved_model'."
        )
    preprocessor = find_preprocessor(head, preprocessor)
    if getattr(preprocessor, "stride", None) is not None:
        raise ValueError(
            f"{runtime} export: the preprocessor reads long texts in windows "
            f"(stride={preprocessor.stride}); {runtime} serves one window per "
            "text. Export with format='saved_model', or a preprocessor without "
            "stride."
        )
    return path, head, preprocessor


def trace_on_tensorflow(head, packer, pad_to_longest):
    """Sets `head` up to be traced by TensorFlow and converted: `packer` (a
    `PiecePacker`) as its preprocessor, the model called directly, and a
    classifier's argmax and padding as the converters need them."""
    head.preprocessor = packer
    head.token_ids_fn = head.token_ids_outputs
    if isinstance(head, ClassifierServingHead):
        head.argmax = tensorflow_argmax
        head.pad_to_longest = pad_to_longest


def traced_in_float32(export_function):
    """Decorates a one-file exporter `f(model, ...)`: the model's
    mixed-precision layers compute in float32 while it exports.

    LiteRT has no bfloat16 kernels for BERT's matmuls, and a CPU runs a
    one-file model at its best in float32: a model trained under
    `mixed_bfloat16` or `mixed_float16` is traced in float32 (its weights are
    float32 already, so nothing is lost) and given back as it was.
    """

    @functools.wraps(export_function)
    def export(model, *args, **kwargs):
        layers = [
            layer
            for layer in model._flatten_layers(include_self=True, recursive=True)
            if is_mixed_precision(layer.dtype_policy)
        ]
        policies = [layer.dtype_policy for layer in layers]
        try:
            for layer in layers:
                layer.dtype_policy = "float32"
            return export_function(model, *args, **kwargs)
        finally:
            for layer, policy in zip(layers, policies):
                layer.dtype_policy = policy

    return export
