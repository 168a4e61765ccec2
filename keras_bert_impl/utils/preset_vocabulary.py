"""A preset's vocabulary file, found and checked against its recorded sha256.

Lives below `tokenizers` so that `BertTokenizer.from_preset` and the presets
registry share one lookup.
"""

import pathlib

from keras_bert_impl.utils.file_io import file_sha256
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.preset_files import TOKENIZER_CONFIG_FILE
from keras_bert_impl.utils.preset_files import VOCABULARY_FILE
from keras_bert_impl.utils.preset_files import convert_command
from keras_bert_impl.utils.preset_files import presets_home
from keras_bert_impl.utils.preset_io import external_weights_folder
from keras_bert_impl.utils.preset_io import resolve_model_preset


def preset_vocabulary(preset, vocabulary=None):
    """The vocabulary file of a preset, checked against its recorded sha256.

    Looks in the preset folder, then the cache, then the installed package a
    preset names (`all_minilm_l6_v2`); `vocabulary` checks a file of your own
    (e.g. the `vocab.txt` of Google's archive) instead.

    Args:
        preset: preset name or folder, or any checkpoint folder
            `from_preset` takes.
        vocabulary: optional path of a `vocab.txt` to check and use.

    Returns:
        `(path, tokenizer_config)` with `tokenizer_config` the preset's
        `tokenizer.json` (`lowercase`, `vocabulary_sha256`, ...).

    Example:
    ```python
    path, config = preset_vocabulary("bert_base_en_uncased", "vocab.txt")
    tokenizer = BertTokenizer(path, lowercase=config["lowercase"])
    ```
    """
    preset_dir = resolve_model_preset(preset, with_heads=False)
    tokenizer_file = preset_dir / TOKENIZER_CONFIG_FILE
    if not tokenizer_file.is_file():
        raise FileNotFoundError(f"Preset {preset_dir} has no {TOKENIZER_CONFIG_FILE}.")
    config = read_json(tokenizer_file)
    file_name = config.get("vocabulary_file", VOCABULARY_FILE)
    if vocabulary is not None:
        candidates = [pathlib.Path(vocabulary).expanduser()]
        if not candidates[0].is_file():
            what = "a folder" if candidates[0].is_dir() else "nothing"
            raise ValueError(
                f"--vocab_file={vocabulary}: expected a vocab.txt file, found "
                f"{what}; pass the file (one token a line)."
            )
    else:
        candidates = [
            preset_dir / file_name,
            presets_home() / preset_dir.name / file_name,
        ]
        source = config.get("vocabulary_source")
        if source:
            try:
                candidates.append(external_weights_folder(preset_dir, source))
            except FileNotFoundError:
                pass
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise FileNotFoundError(
            f"Preset '{preset_dir.name}' has no vocabulary ({file_name}) on this "
            f"machine. Produce it with: {convert_command(preset_dir)}"
        )
    check_vocabulary(path, config, preset_dir.name)
    return path, config


def check_vocabulary(path, tokenizer_config, preset_name):
    """Raises a `ValueError` unless `path`'s sha256 is the preset's."""
    expected = tokenizer_config.get("vocabulary_sha256")
    found = file_sha256(path)
    if expected and found != expected:
        raise ValueError(
            f"Vocabulary {path} does not belong to preset '{preset_name}': its "
            f"sha256 is {found}, the preset's is {expected} "
            f"({tokenizer_config.get('vocabulary_size')} tokens). Token ids would "
            "not match the weights; use the vocab.txt of the preset's checkpoint."
        )
    return found
