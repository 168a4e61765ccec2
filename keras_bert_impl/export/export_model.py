"""`export(model, path, format=...)`: one call to every runtime we serve on."""

import sys

from keras_bert_impl.export.export_litert import export_litert
from keras_bert_impl.export.export_onnx import export_onnx
from keras_bert_impl.export.export_saved_model import export_saved_model
from keras_bert_impl.export.tensorflow_process import read_request

EXPORT_FORMATS = {
    "saved_model": export_saved_model,
    "litert": export_litert,
    "onnx": export_onnx,
}
"""Each format's exporter."""


def export(model, path, format="saved_model", preprocessor=None, **options):
    """Exports `model` to serve raw strings on `format`'s runtime.

    - `"saved_model"`: a TF SavedModel folder, every model class
      (`export_saved_model`).
    - `"litert"`: one `.tflite` file for LiteRT, a classifier or backbone,
      builtin and tensorflow-text kernels only (`export_litert`).
    - `"onnx"`: one `.onnx` file for ONNX Runtime, a classifier or backbone,
      the tokenizer an onnxruntime-extensions op (`export_onnx`).

    Args:
        model: the Keras model (a task or a backbone).
        path: where to write (a folder, a `.tflite` or an `.onnx` file).
        format: one of `EXPORT_FORMATS`.
        preprocessor: `BertPreprocessor`; None uses `model.preprocessor`.
        **options: the format's exporter's keyword arguments (`text_pair`,
            `label_names`, ...).

    Returns:
        The `pathlib.Path` written.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(
            f"export: format must be one of {sorted(EXPORT_FORMATS)}, got {format!r}."
        )
    return EXPORT_FORMATS[format](model, path, preprocessor, **options)


if __name__ == "__main__":
    # The TensorFlow child of a JAX process's LiteRT or ONNX export
    # (`tensorflow_process.export_in_tensorflow_process`).
    model, path, format, preprocessor, options = read_request(sys.argv[1])
    export(model, path, format, preprocessor, **options)
