"""`keras-bert export`: a fine-tuning run (or any preset) to a string-in SavedModel."""

import pathlib

import keras

from keras_bert_impl.export.export_saved_model import SERVING_SIGNATURE
from keras_bert_impl.export.export_saved_model import TOKEN_IDS_SIGNATURE
from keras_bert_impl.export.export_saved_model import export_saved_model
from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.utils.file_io import read_json as _read_json
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import resolve_preset
from keras_bert_impl.utils.preset_io import load_serialized

_LABEL_KEYS = ("label_names", "labels", "label_list")
_PAIR_KEYS = ("text_pair", "sentence_pair")


def find_preset_dir(model_dir):
    """The preset folder of a run directory, a preset folder, or a preset name.

    A folder holding `config.json` is a preset itself; otherwise its
    sub-folders (two levels deep) are searched for one, a task preset
    (`task.json`) preferred. Anything else is resolved as a preset name.

    Args:
        model_dir: str or path. A `keras-bert finetune` output directory, a
            preset folder or a preset name.

    Returns:
        The `pathlib.Path` of the preset folder.

    Example:
    ```python
    find_preset_dir("runs/sst2")  # e.g. PosixPath("runs/sst2/preset")
    ```
    """
    path = pathlib.Path(model_dir).expanduser()
    if not path.is_dir():
        return resolve_preset(str(model_dir))
    if (path / CONFIG_FILE).is_file():
        return path
    found = sorted(
        {
            config.parent
            for pattern in (f"*/{CONFIG_FILE}", f"*/*/{CONFIG_FILE}")
            for config in path.glob(pattern)
        }
    )
    tasks = [folder for folder in found if (folder / TASK_CONFIG_FILE).is_file()]
    candidates = tasks or found
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(
            f"{path} holds no model: no preset folder ({CONFIG_FILE}, plus "
            f"{TASK_CONFIG_FILE} for a fine-tuned task) in it or below it."
        )
    raise ValueError(
        f"{path} holds several models: "
        + ", ".join(str(folder) for folder in candidates)
        + ". Pass the one to export."
    )


def _read_hints(preset_dir):
    """`label_names` and `text_pair` recorded in task.json or metadata.json."""
    hints = {}
    for name in (TASK_CONFIG_FILE, METADATA_FILE):
        file = preset_dir / name
        if not file.is_file():
            continue
        content = _read_json(file)
        for key in _LABEL_KEYS:
            if isinstance(content.get(key), list) and "label_names" not in hints:
                hints["label_names"] = content[key]
        for key in _PAIR_KEYS:
            if key in content and "text_pair" not in hints:
                hints["text_pair"] = bool(content[key])
    return hints


def export_from_run(model_dir, out, sequence_length=128, **options):
    """Exports the model of a run directory or preset as a string-in SavedModel.

    What `keras-bert export --model RUN_DIR_OR_PRESET --out DIR` runs. A task
    preset (`task.json` + `task.weights.h5`, as `save_to_preset` writes it and
    `keras-bert finetune` leaves in its run directory) is exported with its
    preprocessor; a backbone preset (e.g. `bert_base_en_uncased` once its
    weights are converted) serves embeddings, with a preprocessor built from
    its `preprocessor.json` or else its vocabulary (`tokenizer.json`).

    Label names and whether the model reads sentence pairs are taken, unless
    given in `options`, from the preset's `task.json` or `metadata.json` keys
    `label_names` (or `labels`, `label_list`: the class names in class-id
    order) and `text_pair` (true for pair tasks: MRPC, MNLI, ...).

    Args:
        model_dir: str or path. Run directory, preset folder or preset name
            (see `find_preset_dir`).
        out: str or path. Folder of the SavedModel (replaced if it exists).
        sequence_length: int. Packed length when the preset has no
            preprocessor of its own (backbone presets).
        **options: passed to `export_saved_model` (`text_pair`,
            `label_names`, `max_answer_length`, ...).

    Returns:
        dict with `saved_model` (the output folder), `preset` (the preset
        folder exported), `model` (the class name) and `signatures`.

    Example:
    ```python
    export_from_run("runs/sst2", "serving/sst2")
    # {"saved_model": "serving/sst2", "model": "BertClassifier", ...}
    ```
    """
    # Registers the preprocessor classes a preset's JSON may name.
    import keras_bert_impl.tokenizers  # noqa: F401

    preset_dir = find_preset_dir(model_dir)
    options = {**_read_hints(preset_dir), **options}
    preprocessor = None
    if (preset_dir / PREPROCESSOR_CONFIG_FILE).is_file():
        preprocessor = load_serialized(preset_dir / PREPROCESSOR_CONFIG_FILE)
    if (preset_dir / TASK_CONFIG_FILE).is_file():
        class_name = _read_json(preset_dir / TASK_CONFIG_FILE)["class_name"]
        model_class = keras.saving.get_registered_object(
            f"keras_bert_impl>{class_name}"
        )
        if model_class is None:
            raise ValueError(
                f"{preset_dir / TASK_CONFIG_FILE} names an unknown model class "
                f"{class_name!r}."
            )
        model = model_class.from_preset(str(preset_dir))
        if preprocessor is None:
            preprocessor = model.preprocessor
    else:
        model = BertBackbone.from_preset(str(preset_dir))
        if preprocessor is None:
            from keras_bert_impl.presets import tokenizer_from_preset
            from keras_bert_impl.tokenizers import BertPreprocessor

            preprocessor = BertPreprocessor(
                tokenizer_from_preset(str(preset_dir)), sequence_length
            )
    path = export_saved_model(model, out, preprocessor, **options)
    return {
        "saved_model": str(path),
        "preset": str(preset_dir),
        "model": type(model).__name__,
        "signatures": [SERVING_SIGNATURE, TOKEN_IDS_SIGNATURE],
    }
