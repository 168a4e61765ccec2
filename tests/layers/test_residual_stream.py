import keras
import numpy as np

from keras_bert_impl.layers.residual_stream import residual_stream_policy
from tests.bert_test_case import random_inputs
from tests.bert_test_case import tiny_backbone


def test_mixed_policies_keep_the_stream_float32_and_others_are_unchanged():
    assert residual_stream_policy("mixed_bfloat16").name == "float32"
    assert residual_stream_policy("mixed_float16").name == "float32"
    assert residual_stream_policy("bfloat16").name == "bfloat16"
    assert residual_stream_policy("float32").name == "float32"


def test_a_mixed_backbone_carries_a_float32_stream_between_bfloat16_matmuls():
    backbone = tiny_backbone(num_layers=2, dtype="mixed_bfloat16")
    block = backbone.transformer_layers[1]
    assert block.intermediate_dense.compute_dtype == "bfloat16"
    assert block.output_layer_norm.compute_dtype == "float32"
    outputs = backbone(random_inputs((2, 8)))
    # The stream (the blocks' outputs) is float32; the pooler's matmul is not.
    assert keras.backend.standardize_dtype(outputs["sequence_output"].dtype) == (
        "float32"
    )
    assert keras.backend.standardize_dtype(outputs["pooled_output"].dtype) == (
        "bfloat16"
    )
    assert np.isfinite(keras.ops.convert_to_numpy(outputs["sequence_output"])).all()
