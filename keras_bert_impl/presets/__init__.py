"""The preset registry: shipped and cached presets, their vocabularies, tokenizers."""

from keras_bert_impl.presets.registry import list_presets
from keras_bert_impl.presets.registry import preset_vocabulary
from keras_bert_impl.presets.registry import tokenizer_from_preset

__all__ = ["list_presets", "preset_vocabulary", "tokenizer_from_preset"]
