"""Presets: the registry of those on this machine, and the catalog of shipped ones."""

from keras_bert_impl.presets.registry import check_vocabulary
from keras_bert_impl.presets.registry import list_presets
from keras_bert_impl.presets.registry import preset_vocabulary
from keras_bert_impl.presets.registry import tokenizer_from_preset

__all__ = [
    "check_vocabulary",
    "list_presets",
    "preset_vocabulary",
    "tokenizer_from_preset",
]


def __getattr__(name):
    # Names of the former single-module `presets` keep working for one release.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
