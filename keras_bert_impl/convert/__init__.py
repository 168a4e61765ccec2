"""Checkpoint converters: Google TF1, Hugging Face and keras-hub, in and out.

Importing this package registers the Hugging Face weight reader with the preset
loader (`utils.preset_io`), so presets whose weights live in a Hugging Face
folder inside an installed package (`all_minilm_l6_v2`) load without any model
importing a converter, and the folder converter, so that every `from_preset`
takes a Hugging Face, Google TF1 or keras-hub folder (`foreign_folder`).
"""

from keras_bert_impl.convert.foreign_folder import foreign_folder_preset
from keras_bert_impl.convert.google_checkpoint import from_google_checkpoint
from keras_bert_impl.convert.google_checkpoint import to_google_checkpoint
from keras_bert_impl.convert.huggingface import from_huggingface
from keras_bert_impl.convert.huggingface import load_huggingface_weights
from keras_bert_impl.convert.huggingface_writer import to_huggingface
from keras_bert_impl.convert.keras_hub import from_keras_hub
from keras_bert_impl.convert.keras_hub_writer import to_keras_hub
from keras_bert_impl.convert.source_format import detect_source_format
from keras_bert_impl.convert.source_format import load_checkpoint
from keras_bert_impl.convert.target_checks import ExactGeluWarning
from keras_bert_impl.convert.weight_map import CheckpointMismatchError
from keras_bert_impl.utils.preset_io import register_folder_converter
from keras_bert_impl.utils.preset_io import register_weight_reader

register_weight_reader("huggingface", load_huggingface_weights)
register_folder_converter(foreign_folder_preset)

__all__ = [
    "CheckpointMismatchError",
    "ExactGeluWarning",
    "detect_source_format",
    "from_google_checkpoint",
    "from_huggingface",
    "from_keras_hub",
    "load_checkpoint",
    "to_google_checkpoint",
    "to_huggingface",
    "to_keras_hub",
]


def __getattr__(name):
    # Names that moved out of this package keep working for one release.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
