"""BERT's optimizers and learning-rate schedules (imports only `utils`)."""

from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.optimizers.create_optimizer import create_optimizer
from keras_bert_impl.optimizers.lamb import Lamb
from keras_bert_impl.optimizers.linear_warmup_decay import LinearWarmupDecay

__all__ = ["AdamWeightDecay", "Lamb", "LinearWarmupDecay", "create_optimizer"]
