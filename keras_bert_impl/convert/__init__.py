from keras_bert_impl.convert.google_checkpoint import from_google_checkpoint
from keras_bert_impl.convert.huggingface import from_huggingface
from keras_bert_impl.convert.huggingface import to_huggingface
from keras_bert_impl.convert.keras_hub import from_keras_hub
from keras_bert_impl.convert.preset_conversion import convert_to_preset
from keras_bert_impl.convert.preset_conversion import detect_source_format
from keras_bert_impl.convert.weight_map import CheckpointMismatchError

__all__ = [
    "CheckpointMismatchError",
    "convert_to_preset",
    "detect_source_format",
    "from_google_checkpoint",
    "from_huggingface",
    "from_keras_hub",
    "to_huggingface",
]
