"""Exports that convert TensorFlow graphs, run from JAX in a TensorFlow child.

LiteRT's converter and tf2onnx read TensorFlow graphs; a JAX model exported
through `jax2tf` is one `XlaCallModule` op, which neither can convert. The
same weights traced by TensorFlow convert: the model is saved to a `.keras`
file and exported by `python -m keras_bert_impl.export.export_model FOLDER`
with `KERAS_BACKEND=tensorflow` (`read_request` reads what was saved).
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import keras

_MODEL_FILE = "model.keras"
_REQUEST_FILE = "request.json"
_CHILD_MODULE = "keras_bert_impl.export.export_model"


def export_in_tensorflow_process(model, path, preprocessor, format, **options):
    """`export(model, path, format, preprocessor, **options)` in a child
    process on the TensorFlow backend.

    Args:
        options: JSON-serializable keyword arguments of the format's exporter
            (label names resolved by the caller).

    Raises:
        RuntimeError: the child failed; its last line of stderr says why.
    """
    path = pathlib.Path(path)
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        model.save(folder / _MODEL_FILE)
        request = {
            "path": str(path.absolute()),
            "format": format,
            "preprocessor": keras.saving.serialize_keras_object(preprocessor),
            "options": options,
        }
        (folder / _REQUEST_FILE).write_text(json.dumps(request))
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        done = subprocess.run(
            [sys.executable, "-m", _CHILD_MODULE, str(folder)],
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        raise RuntimeError(
            f"{format} export of '{path}' in a TensorFlow process failed: {lines[-1]}"
        )


def read_request(folder):
    """What `export_in_tensorflow_process` saved in `folder`.

    Returns:
        `(model, path, format, preprocessor, options)`.
    """
    folder = pathlib.Path(folder)
    request = json.loads((folder / _REQUEST_FILE).read_text())
    model = keras.saving.load_model(folder / _MODEL_FILE)
    preprocessor = keras.saving.deserialize_keras_object(request["preprocessor"])
    return (
        model,
        request["path"],
        request["format"],
        preprocessor,
        request["options"],
    )
