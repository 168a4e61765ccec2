"""Any checkpoint folder as a preset folder: the front door of `from_preset`.

`from_preset(path)` on a Hugging Face folder, a Google TF1 checkpoint folder or
a keras-hub preset converts it once into a preset folder in the cache
(`$KERAS_BERT_HOME/converted/<key>`), which the one preset loader then reads.
The key is a sha256 over the source's format, the heads asked for and each
file's relative name, size and modification time (not its bytes: hashing a
checkpoint's gigabytes on every load would cost what the cache saves), so a
second load is fast and a rewritten source is converted again. Our own preset
folders and run directories are used as they are.
"""

import hashlib
import pathlib

from keras_bert_impl.convert.source_format import converted_tokenizer_config
from keras_bert_impl.convert.source_format import detect_source_format
from keras_bert_impl.convert.source_format import load_checkpoint
from keras_bert_impl.convert.source_format import read_source_vocabulary
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import presets_home
from keras_bert_impl.utils.preset_files import run_preset_folder

CONVERTED_SUBDIR = "converted"


def source_key(folder, source_format, with_heads):
    """The cache key of a source folder: sha256 over names, sizes and mtimes."""
    digest = hashlib.sha256(f"{source_format}\n{with_heads}\n".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        status = path.stat()
        name = path.relative_to(folder).as_posix()
        digest.update(f"{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def foreign_folder_preset(folder, with_heads="auto"):
    """The preset folder for a checkpoint folder of any format, converting once.

    Args:
        folder: a Hugging Face folder, a Google TF1 checkpoint folder, a
            keras-hub preset, or our own preset folder or run directory.
        with_heads: `"auto"` keeps the heads the checkpoint has; False
            converts the backbone only.

    Returns:
        The folder `from_preset` reads: our own preset (or a run's `model/`)
        as it is, else the cached conversion.
    """
    folder = pathlib.Path(folder).expanduser()
    try:
        source_format = detect_source_format(folder)
    except ValueError:
        if (folder / CONFIG_FILE).is_file():
            return folder  # Another Keras model's preset: the loader names its class.
        raise
    if source_format == "keras_bert":
        return run_preset_folder(folder)
    key = source_key(folder, source_format, with_heads)
    target = presets_home() / CONVERTED_SUBDIR / key
    if (target / CONFIG_FILE).is_file():
        return target
    model, labels = load_checkpoint(folder, source_format, with_heads=with_heads)
    if labels is not None:
        model.labels = labels
    _, tokens, data, lowercase = read_source_vocabulary(folder, source_format)
    with staged_directory(target) as staging:
        model.save_to_preset(staging)
        if tokens is not None:
            (staging / VOCABULARY_FILE).write_bytes(data)
            write_json(
                staging / TOKENIZER_CONFIG_FILE,
                converted_tokenizer_config(tokens, data, lowercase),
            )
    return target
