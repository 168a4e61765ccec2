from keras_bert_impl.convert.huggingface import from_huggingface
from keras_bert_impl.convert.huggingface import to_huggingface
from keras_bert_impl.convert.weight_map import CheckpointMismatchError

__all__ = ["CheckpointMismatchError", "from_huggingface", "to_huggingface"]
