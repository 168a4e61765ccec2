"""`keras-bert export`: a fine-tuning run (or any preset) to a string-in SavedModel."""

import pathlib

from keras_bert_impl.export import export
from keras_bert_impl.export.saved_model_archive import SERVING_SIGNATURE
from keras_bert_impl.export.saved_model_archive import TOKEN_IDS_SIGNATURE
from keras_bert_impl.presets import tokenizer_from_preset
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import read_metadata
from keras_bert_impl.utils.preset_files import resolve_preset
from keras_bert_impl.utils.preset_files import run_preset_folder
from keras_bert_impl.utils.preset_io import load_preset_model
from keras_bert_impl.utils.preset_io import load_serialized
from keras_bert_impl.utils.run_directory import check_new_output

_LABEL_KEYS = ("label_names", "labels", "label_list")
_PAIR_KEYS = ("text_pair", "sentence_pair")


def find_preset_dir(model_dir):
    """The preset folder of a run directory, a preset folder, or a preset name.

    A training run directory keeps its model as the preset folder `model/`;
    a folder holding `config.json` is a preset itself; anything else is
    resolved as a preset name.

    Args:
        model_dir: str or path. A `keras-bert finetune` (or `pretrain`) output
            directory, a preset folder or a preset name.

    Returns:
        The `pathlib.Path` of the preset folder.

    Example:
    ```python
    find_preset_dir("runs/sst2")  # PosixPath("runs/sst2/model")
    ```
    """
    path = run_preset_folder(model_dir)
    if path.is_dir() and not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"{path} holds no model: it is neither a run directory (with "
            f"{RUN_MODEL_DIR}/{CONFIG_FILE}) nor a preset folder (with {CONFIG_FILE})."
        )
    return resolve_preset(str(path))


def _preset_hints(preset_dir):
    """`label_names` and `text_pair` recorded in task.json or metadata.json."""
    task_file = preset_dir / TASK_CONFIG_FILE
    hints = {}
    for content in (
        read_json(task_file) if task_file.is_file() else {},
        read_metadata(preset_dir),
    ):
        for key in _LABEL_KEYS:
            if isinstance(content.get(key), list) and "label_names" not in hints:
                hints["label_names"] = content[key]
        for key in _PAIR_KEYS:
            if key in content and "text_pair" not in hints:
                hints["text_pair"] = bool(content[key])
    return hints


def export_from_run(
    model_dir,
    out,
    sequence_length=128,
    overwrite=False,
    format="saved_model",
    **options,
):
    """Exports the model of a run directory or preset to serve raw strings.

    What `keras-bert export --model RUN_DIR_OR_PRESET --out DIR [--format F]`
    runs: a SavedModel folder, or with `format="litert"` a `.tflite` file,
    with `format="onnx"` an `.onnx` file (`keras_bert_impl.export.export`). A task
    preset (`task.json` + `task.weights.h5`, as `save_to_preset` writes it and
    `keras-bert finetune` leaves in its run directory) is exported with its
    preprocessor; a backbone preset (e.g. `bert_base_en_uncased` once its
    weights are converted) serves embeddings, with a preprocessor built from
    its `preprocessor.json` or else its vocabulary (`tokenizer.json`).

    Label names and whether the model reads sentence pairs are taken, unless
    given in `options` (`keras-bert export` passes what a fine-tuning run's
    `run_config.json` implies: `run_finetuning.run_export_options`), from the
    preset's `task.json` or `metadata.json` keys `label_names` (or `labels`,
    `label_list`: the class names in class-id order) and `text_pair` (true
    for pair tasks: MRPC, MNLI, ...).

    Args:
        model_dir: str or path. Run directory, preset folder or preset name
            (see `find_preset_dir`).
        out: str or path. Folder of the SavedModel (the `.tflite` file for
            LiteRT, the `.onnx` file for ONNX). An existing non-empty `out`
            is replaced only with `overwrite=True`; one that holds the
            exported run is always refused.
        overwrite: bool. Replace an existing `out`.
        sequence_length: int. Packed length when the preset has no
            preprocessor of its own (backbone presets).
        format: "saved_model", "litert" or "onnx".
        **options: passed to the format's exporter (`text_pair`,
            `label_names`, `max_answer_length`, ...).

    Returns:
        dict with the format's name (`saved_model`, `litert` or `onnx`: what
        was written), `preset` (the preset folder exported), `model` (the class
        name) and `signatures`.

    Example:
    ```python
    export_from_run("runs/sst2", "serving/sst2")
    # {"saved_model": "serving/sst2", "model": "BertClassifier", ...}
    ```
    """
    preset_dir = find_preset_dir(model_dir)
    given = pathlib.Path(model_dir).expanduser()
    inputs = [preset_dir, given] if given.exists() else [preset_dir]
    check_new_output(out, "--out", overwrite, inputs=inputs)
    options = {**_preset_hints(preset_dir), **options}
    # The task model of any class task.json names, else the backbone.
    model = load_preset_model(preset_dir)
    preprocessor = getattr(model, "preprocessor", None)
    if (preset_dir / PREPROCESSOR_CONFIG_FILE).is_file():
        preprocessor = load_serialized(preset_dir / PREPROCESSOR_CONFIG_FILE)
    if preprocessor is None:
        preprocessor = BertPreprocessor(
            tokenizer_from_preset(str(preset_dir)), sequence_length
        )
    if format in ("litert", "onnx"):
        # Options only a SavedModel's heads take (QA windows, NER tags).
        kept = ("text_pair", "label_names", "quantize")
        options = {k: v for k, v in options.items() if k in kept}
    path = export(model, out, format, preprocessor, **options)
    return {
        format: str(path),
        "preset": str(preset_dir),
        "model": type(model).__name__,
        "signatures": (
            [SERVING_SIGNATURE, TOKEN_IDS_SIGNATURE]
            if format == "saved_model"
            else [SERVING_SIGNATURE]
        ),
    }
