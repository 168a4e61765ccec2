"""`convert_to_preset`: any BERT checkpoint into a preset folder, atomically.

What `keras-bert convert --source DIR --preset NAME_OR_DIR` runs.
"""

import hashlib
import os
import pathlib
import warnings

import keras

from keras_bert_impl.convert.source_format import SOURCE_FORMATS
from keras_bert_impl.convert.source_format import converted_tokenizer_config
from keras_bert_impl.convert.source_format import detect_source_format
from keras_bert_impl.convert.source_format import guess_lowercase
from keras_bert_impl.convert.source_format import load_checkpoint
from keras_bert_impl.convert.source_format import read_source_vocabulary
from keras_bert_impl.models.bert_pretrainer import BertPretrainer
from keras_bert_impl.models.bert_task import BertTask
from keras_bert_impl.recipes.shipped_preset_conversion import check_known_architecture
from keras_bert_impl.recipes.shipped_preset_conversion import check_known_vocabulary
from keras_bert_impl.recipes.shipped_preset_conversion import known_task_model
from keras_bert_impl.recipes.shipped_preset_conversion import shipped_task
from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.preset_files import BACKBONE_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import PREPROCESSOR_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_CONFIG_FILE
from keras_bert_impl.utils.preset_files import TASK_RECIPE_KEY
from keras_bert_impl.utils.preset_files import TASK_WEIGHTS_FILE
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import presets_home
from keras_bert_impl.utils.preset_files import shipped_presets_dir
from keras_bert_impl.utils.run_directory import check_new_output
from keras_bert_impl.utils.version import __version__


def _output_location(output):
    """`(directory, known preset name or None)` for a preset name or a directory."""
    text = os.fspath(output)
    is_path = (
        os.sep in text
        or "/" in text
        or text.startswith((".", "~"))
        or pathlib.Path(text).is_absolute()
    )
    if is_path:
        return pathlib.Path(text).expanduser().absolute(), None
    shipped = shipped_presets_dir() / text
    return presets_home() / text, text if (shipped / CONFIG_FILE).is_file() else None


def convert_to_preset(
    source,
    output,
    source_format="auto",
    vocabulary=None,
    lowercase=None,
    with_heads="auto",
    overwrite=False,
):
    """Converts a BERT checkpoint into a preset folder that `from_preset` loads.

    Detects the format, converts every tensor (checked by name and shape),
    and writes `config.json`, the weights (`model.weights.h5`, or `task.json` +
    `task.weights.h5` when the masked-LM/NSP heads are present), `vocab.txt`,
    `tokenizer.json`, `metadata.json` (parameter count, source, sha256 of the
    weights) and `preprocessor.json` into a temporary folder, then renames it
    into place: a failure never leaves a partial preset behind. Converting into
    the name of a shipped preset also checks the architecture and that the
    vocabulary's sha256 is the preset's.

    Args:
        source: a Google TF1 release folder (or checkpoint prefix), a Hugging
            Face BERT folder, a keras-hub BERT preset folder, or a keras-bert
            preset folder or `keras-bert finetune` run.
        output: a preset name (written to `$KERAS_BERT_HOME/<name>`, default
            `~/.keras/keras_bert_impl/<name>`) or a directory path (anything
            with a path separator, or starting with "." or "~").
        source_format: `"auto"` or one of `SOURCE_FORMATS` (`"google"`,
            `"huggingface"`, `"keras_hub"`, `"keras_bert"`).
        vocabulary: path of the `vocab.txt` when the source has none.
        lowercase: whether the tokenizer lower-cases; default: the shipped
            preset's setting, else the source's tokenizer config, else guessed
            from the vocabulary (no upper-case tokens means uncased).
        with_heads: passed to the converter: `"auto"` keeps the pretraining
            heads when the checkpoint has them.
        overwrite: replace an existing non-empty directory `output` (a preset
            name in the cache is always replaced: the cache is the package's).
            An `output` that holds `source` is always refused.

    Returns:
        The preset directory (a `pathlib.Path`).

    Example:
    ```python
    convert_to_preset("uncased_L-12_H-768_A-12/", "bert_base_en_uncased")
    backbone = BertBackbone.from_preset("bert_base_en_uncased")
    convert_to_preset("hf_bert/", "./my_preset")
    ```
    """
    if source_format == "auto":
        source_format = detect_source_format(source)
    if source_format not in SOURCE_FORMATS:
        raise ValueError(
            f"Unknown source_format {source_format!r}; expected 'auto' or one of "
            f"{SOURCE_FORMATS}."
        )
    target, known_name = _output_location(output)
    if target.parent != presets_home():
        check_new_output(target, "--preset", overwrite, inputs=[source])

    vocabulary_file, tokens, vocabulary_bytes, source_lowercase = (
        read_source_vocabulary(source, source_format, vocabulary)
    )
    vocabulary_sha256 = None
    if vocabulary_bytes is not None:
        vocabulary_sha256 = hashlib.sha256(vocabulary_bytes).hexdigest()
    metadata = {}
    tokenizer = None
    if known_name is not None:
        # Checked before converting: a wrong vocabulary fails fast.
        tokenizer, metadata = check_known_vocabulary(
            known_name, vocabulary_sha256, vocabulary_file
        )

    known_task = shipped_task(known_name)
    if known_task is not None:
        model, labels = known_task_model(known_name, known_task, source, source_format)
    else:
        model, labels = load_checkpoint(source, source_format, with_heads)
    backbone = model.backbone if isinstance(model, BertTask) else model
    if known_name is not None and known_task is None:
        check_known_architecture(known_name, backbone.get_config())
    if tokens is not None and len(tokens) > backbone.vocabulary_size:
        raise ValueError(
            f"Vocabulary {vocabulary_file} has {len(tokens)} tokens, more than the "
            f"model's {backbone.vocabulary_size} token embeddings."
        )
    if known_name is None and tokens is not None:
        tokenizer = converted_tokenizer_config(
            tokens,
            vocabulary_bytes,
            lowercase if lowercase is not None else source_lowercase,
        )
    if tokenizer is not None:
        if lowercase is not None:
            tokenizer["lowercase"] = bool(lowercase)
        elif tokenizer["lowercase"] is None:
            tokenizer["lowercase"] = (
                source_lowercase
                if source_lowercase is not None
                else guess_lowercase(tokens)
            )

    # A fine-tuned head (not the pretraining heads) is the preset's model.
    is_task = isinstance(model, BertTask) and not isinstance(model, BertPretrainer)
    recipe = (known_task or {}).get(TASK_RECIPE_KEY)
    preprocessor = None
    if tokenizer is not None:
        sequence_length = (recipe or {}).get("max_seq_length")
        preprocessor = _preprocessor(tokens, tokenizer, sequence_length)
    if is_task:
        model.labels = labels
        if getattr(model, "preprocessor", None) is None:
            model.preprocessor = preprocessor

    with staged_directory(target) as staging:
        model.save_to_preset(staging)
        weights_file = staging / (
            TASK_WEIGHTS_FILE if isinstance(model, BertTask) else BACKBONE_WEIGHTS_FILE
        )
        if recipe is not None:
            task_file = staging / TASK_CONFIG_FILE
            write_json(task_file, {**read_json(task_file), TASK_RECIPE_KEY: recipe})
        if tokenizer is not None:
            (staging / VOCABULARY_FILE).write_bytes(vocabulary_bytes)
            write_json(staging / TOKENIZER_CONFIG_FILE, tokenizer)
            if preprocessor is not None and not is_task:
                write_json(
                    staging / PREPROCESSOR_CONFIG_FILE,
                    keras.saving.serialize_keras_object(preprocessor),
                )
        metadata.update(
            {
                "name": known_name or target.name,
                "parameter_count": (model if is_task else backbone).count_params(),
                "weights": {
                    "file": weights_file.name,
                    "bytes": weights_file.stat().st_size,
                    "sha256": file_sha256(weights_file),
                },
                "converted_from": _conversion_record(
                    model, source, source_format, is_task
                ),
                "converted_with": f"keras_bert_impl {__version__}",
            }
        )
        metadata.setdefault("license", "unknown (see the source checkpoint)")
        if known_name is None:
            metadata["convert_command"] = (
                f"keras-bert convert --source {metadata['converted_from']['path']} "
                f"--preset {target}"
            )
        write_json(staging / METADATA_FILE, metadata)
    return target


def _conversion_record(model, source, source_format, is_task):
    """metadata.json's `converted_from`: where the weights came from, and what."""
    backbone = model.backbone if isinstance(model, BertTask) else model
    return {
        "format": source_format,
        "path": str(pathlib.Path(source).expanduser().resolve()),
        "activation": backbone.activation,
        "pretraining_heads": isinstance(model, BertPretrainer),
        "task": type(model).__name__ if is_task else None,
    }


def _preprocessor(tokens, tokenizer, sequence_length=None):
    """The preset's `BertPreprocessor` (None if the vocabulary makes none).

    Args:
        tokens: the vocabulary.
        tokenizer: the preset's tokenizer.json (`lowercase`, `strip_accents`).
        sequence_length: packed length; default `BertPreprocessor`'s.
    """
    try:
        from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor
        from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
    except ImportError:
        return None
    try:
        word_piece = BertTokenizer(
            tokens,
            lowercase=tokenizer["lowercase"],
            strip_accents=tokenizer.get("strip_accents"),
        )
    except ValueError as error:  # e.g. a vocabulary without "[MASK]".
        warnings.warn(
            f"No preprocessor written: the vocabulary does not make a "
            f"BertTokenizer ({error})",
            stacklevel=3,
        )
        return None
    if sequence_length is None:
        return BertPreprocessor(word_piece)
    return BertPreprocessor(word_piece, sequence_length=sequence_length)
