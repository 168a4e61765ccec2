"""keras-hub BERT preset folders (config.json + model.weights.h5) in.

The layout tables here serve the writer too (`keras_hub_writer.to_keras_hub`).

keras-hub's `BertBackbone` stores its attention projections as `EinsumDense`
kernels `(hidden, heads, head_dim)` (output projection
`(heads, head_dim, hidden)`) and always runs the tanh GELU with LayerNorm
epsilon 1e-12. The converted `BertBackbone` gets
`activation="gelu_approximate"`, so its outputs equal keras-hub's.
"""

import json
import pathlib
import re

import numpy as np

from keras_bert_impl.convert.weight_map import CheckpointMismatchError
from keras_bert_impl.convert.weight_map import assign_weights
from keras_bert_impl.convert.weight_map import backbone_weight_map
from keras_bert_impl.models.bert_backbone import BertBackbone

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
VOCABULARY_FILE = pathlib.Path("assets") / "tokenizer" / "vocabulary.txt"
TOKENIZER_CONFIG_FILE = "tokenizer.json"

# Original (google) names, as in weight_map, to keras-hub variable paths.
_EMBEDDINGS = {
    "bert/embeddings/word_embeddings": "token_embedding/embeddings",
    "bert/embeddings/token_type_embeddings": "segment_embedding/embeddings",
    "bert/embeddings/position_embeddings": "position_embedding/embeddings",
    "bert/embeddings/LayerNorm/gamma": "embeddings_layer_norm/gamma",
    "bert/embeddings/LayerNorm/beta": "embeddings_layer_norm/beta",
    "bert/pooler/dense/kernel": "pooled_dense/kernel",
    "bert/pooler/dense/bias": "pooled_dense/bias",
}
_BLOCK = {
    "attention/self/query": "self_attention_layer/query",
    "attention/self/key": "self_attention_layer/key",
    "attention/self/value": "self_attention_layer/value",
    "attention/output/dense": "self_attention_layer/attention_output",
    "attention/output/LayerNorm": "self_attention_layer_norm",
    "intermediate/dense": "feedforward_intermediate_dense",
    "output/dense": "feedforward_output_dense",
    "output/LayerNorm": "feedforward_layer_norm",
}
_BLOCK_NAME = re.compile(r"^bert/encoder/layer_(\d+)/(.+)/(kernel|bias|gamma|beta)$")

# How keras' `model.weights.h5` names keras-hub's layers (class name in snake
# case, numbered in model order) and their variables (numbered in order).
H5_LAYERS = {
    "reversible_embedding": ["token_embedding/embeddings"],
    "position_embedding": ["position_embedding/embeddings"],
    "embedding": ["segment_embedding/embeddings"],
    "layer_normalization": [
        "embeddings_layer_norm/gamma",
        "embeddings_layer_norm/beta",
    ],
    "dense": ["pooled_dense/kernel", "pooled_dense/bias"],
}
_H5_BLOCK_LAYERS = {
    "_self_attention_layer/query_dense": "self_attention_layer/query",
    "_self_attention_layer/key_dense": "self_attention_layer/key",
    "_self_attention_layer/value_dense": "self_attention_layer/value",
    "_self_attention_layer/output_dense": "self_attention_layer/attention_output",
    "_self_attention_layer_norm": "self_attention_layer_norm",
    "_feedforward_intermediate_dense": "feedforward_intermediate_dense",
    "_feedforward_output_dense": "feedforward_output_dense",
    "_feedforward_layer_norm": "feedforward_layer_norm",
}


def h5_block_name(index):
    """The `model.weights.h5` layer of keras-hub's transformer block `index`."""
    return "transformer_encoder" + (f"_{index}" if index else "")


def h5_block_layers(index):
    """`(h5 sublayer, [variable paths in h5 order])` of transformer block `index`."""
    for h5_path, path in _H5_BLOCK_LAYERS.items():
        names = ["gamma", "beta"] if path.endswith("norm") else ["kernel", "bias"]
        yield h5_path, [f"transformer_layer_{index}/{path}/{name}" for name in names]


def keras_hub_name(google_name):
    """The keras-hub `BertBackbone` variable path of an original tensor name."""
    if google_name in _EMBEDDINGS:
        return _EMBEDDINGS[google_name]
    match = _BLOCK_NAME.match(google_name)
    if match is None or match.group(2) not in _BLOCK:
        raise KeyError(f"{google_name!r} has no keras-hub BertBackbone counterpart.")
    index, layer, variable = match.groups()
    return f"transformer_layer_{index}/{_BLOCK[layer]}/{variable}"


def keras_hub_shape(keras_hub_path, shape, num_heads):
    """keras-hub's shape for one of our variables (`EinsumDense` splits heads)."""
    head_dim = None
    if "/self_attention_layer/" in keras_hub_path:
        head_dim = shape[-1] // num_heads
    if re.search(r"/self_attention_layer/(query|key|value)/kernel$", keras_hub_path):
        return (shape[0], num_heads, head_dim)
    if re.search(r"/self_attention_layer/(query|key|value)/bias$", keras_hub_path):
        return (num_heads, head_dim)
    if keras_hub_path.endswith("/self_attention_layer/attention_output/kernel"):
        return (num_heads, shape[0] // num_heads, shape[1])
    return tuple(shape)


def read_keras_hub_config(folder):
    """The `BertBackbone` arguments of a keras-hub BERT preset folder."""
    folder = pathlib.Path(folder)
    config_file = folder / CONFIG_FILE
    if not config_file.is_file():
        raise FileNotFoundError(f"{folder} has no {CONFIG_FILE}: not a preset folder.")
    with open(config_file, encoding="utf-8") as file:
        serialized = json.load(file)
    name = f"{serialized.get('module', '')}.{serialized.get('class_name', '')}"
    if not (
        serialized.get("class_name") == "BertBackbone"
        and "keras_hub"
        in str(serialized.get("registered_name")) + str(serialized.get("module"))
    ):
        raise ValueError(
            f"{config_file} describes {name or 'something else'}, not keras-hub's "
            "BertBackbone."
        )
    config = serialized["config"]
    return {
        "vocabulary_size": config["vocabulary_size"],
        "num_layers": config["num_layers"],
        "num_heads": config["num_heads"],
        "hidden_dim": config["hidden_dim"],
        "intermediate_dim": config["intermediate_dim"],
        "dropout": config.get("dropout", 0.1),
        "max_sequence_length": config.get("max_sequence_length", 512),
        "num_segments": config.get("num_segments", 2),
        # keras-hub's BertBackbone hard-codes both.
        "activation": "gelu_approximate",
        "layer_norm_epsilon": 1e-12,
    }


def read_keras_hub_tensors(folder, use_keras_hub="auto"):
    """Every variable of a keras-hub BERT preset, by keras-hub variable path.

    Args:
        folder: the preset folder.
        use_keras_hub: `"auto"` loads the backbone with keras-hub when it is
            installed (its own loader, any keras-hub version) and otherwise
            reads `model.weights.h5` with h5py; `True` / `False` force one.

    Returns:
        `(tensors, weights_file)`: a dict of numpy arrays and the file read.
    """
    folder = pathlib.Path(folder)
    weights_file = folder / WEIGHTS_FILE
    if not weights_file.is_file():
        raise FileNotFoundError(f"{folder} has no {WEIGHTS_FILE}.")
    if use_keras_hub == "auto":
        try:
            import keras_hub  # noqa: F401
        except ImportError:
            use_keras_hub = False
    try:
        if use_keras_hub:
            return _tensors_from_keras_hub(folder), weights_file
        return _tensors_from_h5(weights_file), weights_file
    except CheckpointMismatchError:
        raise
    except Exception as error:  # h5py / Keras raise many types on damaged files.
        raise CheckpointMismatchError(
            f"{weights_file} is not a readable keras-hub weights file "
            f"({type(error).__name__}: {error})"
        ) from error


def _tensors_from_keras_hub(folder):
    import keras_hub

    reference = keras_hub.models.BertBackbone.from_preset(str(folder))
    return {
        variable.path: np.asarray(variable.numpy(), dtype="float32")
        for variable in reference.weights
    }


def _tensors_from_h5(weights_file):
    import h5py

    tensors = {}
    with h5py.File(weights_file, "r") as file:
        layers = file["layers"]
        for layer_name in layers:
            group = layers[layer_name]
            block = re.fullmatch(r"transformer_encoder(?:_(\d+))?", layer_name)
            if block is not None:
                for h5_path, paths in h5_block_layers(int(block.group(1) or 0)):
                    variables = group[h5_path]["vars"]
                    for position, path in enumerate(paths):
                        tensors[path] = np.asarray(variables[str(position)], "float32")
            elif layer_name in H5_LAYERS:
                variables = group["vars"]
                for position, path in enumerate(H5_LAYERS[layer_name]):
                    tensors[path] = np.asarray(variables[str(position)], "float32")
            elif len(group["vars"]):
                raise CheckpointMismatchError(
                    f"{weights_file}: unexpected layer {layer_name!r} with weights; "
                    "not a keras-hub BertBackbone."
                )
    return tensors


def from_keras_hub(folder, dtype=None, use_keras_hub="auto", **overrides):
    """Builds a `BertBackbone` from a keras-hub BERT preset folder.

    Reads `config.json` and `model.weights.h5` as saved by keras-hub's
    `BertBackbone.save_to_preset` (or downloaded from its preset hub), checks
    every variable's path and shape, and reshapes keras-hub's per-head
    attention kernels into our `(hidden, hidden)` projections. keras-hub has no
    NSP head, so the result is always a backbone.

    Args:
        folder: keras-hub preset folder (`config.json`, `model.weights.h5`,
            optionally `assets/tokenizer/vocabulary.txt`).
        dtype: dtype policy of the built model.
        use_keras_hub: `"auto"` reads the weights through keras-hub when it is
            installed, else directly from the HDF5 file; `True`/`False` force.
        **overrides: `BertBackbone` arguments that replace the config's.

    Returns:
        A `BertBackbone` with `activation="gelu_approximate"` whose outputs
        equal keras-hub's.

    Example:
    ```python
    keras_hub.models.BertBackbone.from_preset("bert_tiny_en_uncased").save_to_preset(
        "hub_tiny/"
    )
    backbone = from_keras_hub("hub_tiny/")
    ```
    """
    folder = pathlib.Path(folder)
    arguments = read_keras_hub_config(folder)
    arguments.update(overrides)
    tensors, weights_file = read_keras_hub_tensors(folder, use_keras_hub)
    backbone = BertBackbone(**arguments, dtype=dtype)
    specs = backbone_weight_map(backbone)

    problems = []
    converted = {}
    for spec in specs:
        path = keras_hub_name(spec.google_name)
        expected = keras_hub_shape(path, tuple(spec.variable.shape), backbone.num_heads)
        value = tensors.get(path)
        if value is None:
            problems.append(f"missing variable {path!r} (expected shape {expected})")
        elif tuple(value.shape) != expected:
            problems.append(
                f"variable {path!r} has shape {tuple(value.shape)}, expected {expected}"
            )
        else:
            converted[spec.google_name] = value.reshape(spec.expected_shape("google"))
    unused = sorted(set(tensors) - {keras_hub_name(s.google_name) for s in specs})
    problems += [f"unexpected variable {name!r}" for name in unused]
    if problems:
        raise CheckpointMismatchError(
            f"{weights_file} does not fit the model ({len(problems)} problem(s)): "
            + "; ".join(problems)
        )
    assign_weights(specs, converted.get, "google", weights_file)
    return backbone
