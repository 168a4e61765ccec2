"""ONNX export: raw strings in, one `.onnx` file for ONNX Runtime.

The file holds two graphs joined into one: the tokenizer
(`onnx_tokenizer.tokenizer_graph`: onnxruntime-extensions' `BasicTokenizer`
and `WordpieceTokenizer` ops in a `Loop` over the batch, with the ONNX ops
that make them read text as the original) and the packing, model and head's
post-processing, traced by TensorFlow and converted with `tf2onnx`. Serving
needs `onnxruntime` and `onnxruntime-extensions` (its op library registered
in the session), nothing else.
"""

import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_bert_impl.export.onnx_tokenizer import RowPacker
from keras_bert_impl.export.onnx_tokenizer import piece_rows_spec
from keras_bert_impl.export.onnx_tokenizer import tokenizer_graph
from keras_bert_impl.export.single_file_export import checked_single_file_export
from keras_bert_impl.export.single_file_export import trace_on_tensorflow
from keras_bert_impl.export.single_file_export import traced_in_float32
from keras_bert_impl.export.tensorflow_process import export_in_tensorflow_process
from keras_bert_impl.utils.file_io import atomic_write

DEFAULT_OPSET = 17


@traced_in_float32
def export_onnx(
    model,
    path,
    preprocessor=None,
    *,
    text_pair=False,
    label_names=None,
    pad_to_longest=True,
    quantize=None,
    opset=DEFAULT_OPSET,
):
    """Writes an `.onnx` model that serves raw strings, for a classifier or
    a backbone.

    Inputs `text` (or `text_a` and `text_b` with `text_pair=True`): 1-D
    string tensors. Outputs as `export_saved_model`'s string signature
    (`label`, `label_id`, `probabilities`, `logits` or `score`; a backbone's
    `pooled_output`, `sequence_output`, `padding_mask`), each batch padded to
    its longest text (`pad_to_longest`). Tokenization is the original's
    except where `onnx_tokenizer`'s docstring says (lower-casing and accents
    outside Latin-1; text not in NFC with a cased vocabulary).

    Serving:
    ```python
    import onnxruntime
    from onnxruntime_extensions import get_library_path

    options = onnxruntime.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    session = onnxruntime.InferenceSession("model.onnx", options)
    session.run(["label"], {"text": np.array(["what a film"], dtype=object)})
    ```

    Args:
        model: `BertClassifier` or `BertBackbone`. On JAX it is saved and
            converted in a TensorFlow child process (tf2onnx converts
            TensorFlow graphs only).
        path: the `.onnx` file to write (replaced if it exists).
        preprocessor: `BertPreprocessor`; None uses `model.preprocessor`.
        text_pair: bool. Serve sentence pairs.
        label_names: optional class names (as `export_saved_model`).
        pad_to_longest: bool. True: each batch is padded to its longest text
            (truncated at the preprocessor's `sequence_length`); False: to
            `sequence_length`, static shapes.
        quantize: None, or "int8": ONNX Runtime's dynamic quantization (int8
            weights, int8 matmuls on activations quantized at run time), a
            file ~4x smaller. A model quantized in Keras (`model.quantize`)
            is exported as it is (its int8 weights and matmuls), without
            `quantize`.
        opset: int. The ONNX opset of the default domain.

    Returns:
        The `pathlib.Path` written.
    """
    path, head, preprocessor = checked_single_file_export(
        model,
        path,
        preprocessor,
        runtime="ONNX",
        suffix=".onnx",
        quantize=quantize,
        converts_keras_int8=True,
        text_pair=text_pair,
        label_names=label_names,
    )
    if keras.backend.backend() != "tensorflow":
        # tf2onnx converts TensorFlow graphs, not jax2tf's XlaCallModule.
        export_in_tensorflow_process(
            model,
            path,
            preprocessor,
            "onnx",
            text_pair=text_pair,
            label_names=getattr(head, "label_names", None),
            pad_to_longest=pad_to_longest,
            quantize=quantize,
            opset=opset,
        )
        return path
    trace_on_tensorflow(head, RowPacker(preprocessor, pad_to_longest), pad_to_longest)
    model_graph = _convert(head, preprocessor.sequence_length, opset)
    if quantize == "int8":
        model_graph = _quantize_int8(model_graph)
    tokenizer = tokenizer_graph(
        preprocessor.tokenizer, preprocessor.sequence_length, head.text_inputs, opset
    )
    import onnx

    tokenizer.ir_version = model_graph.ir_version
    served = onnx.compose.merge_models(
        tokenizer,
        model_graph,
        io_map=[(f"{name}_pieces", f"{name}_pieces") for name in head.text_inputs],
    )
    with atomic_write(path, mode="wb") as file:
        file.write(served.SerializeToString())
    return path


def _convert(head, sequence_length, opset):
    """The packing, model and head as an ONNX graph: inputs `{name}_pieces`,
    outputs the head's."""
    import tf2onnx

    names = [f"{name}_pieces" for name in head.text_inputs]
    signature = [piece_rows_spec(sequence_length, name) for name in names]
    function = tf.function(head.string_outputs, autograph=False)
    # tf2onnx names the graph's outputs after the function's output keys.
    graph, _ = tf2onnx.convert.from_function(
        function,
        signature,
        opset=opset,
        custom_op_handlers={"Erfc": (_erfc_as_one_minus_erf, [])},
    )
    return graph


def _erfc_as_one_minus_erf(ctx, node, name, args):
    """TensorFlow's exact GELU is `0.5 x erfc(-x / sqrt 2)`; ONNX has Erf but
    no Erfc (tf2onnx has no handler for it)."""
    from tf2onnx import utils

    node.type = "Erf"
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.ones((), dtype))
    minus = ctx.insert_new_node_on_output(
        "Sub", node.output[0], name=utils.make_name(f"{node.name}_erfc")
    )
    ctx.replace_inputs(minus, [one.output[0], node.output[0]])


def _quantize_int8(graph):
    """ONNX Runtime's dynamic quantization of the model graph's matmuls."""
    import onnx
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic

    with tempfile.TemporaryDirectory() as folder:
        source = pathlib.Path(folder) / "float.onnx"
        target = pathlib.Path(folder) / "int8.onnx"
        onnx.save_model(graph, source)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        return onnx.load_model(target)
