"""BERT's optimizers and learning-rate schedules (imports only `utils`)."""

import functools

from keras_bert_impl.optimizers.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.optimizers.create_optimizer import create_optimizer
from keras_bert_impl.optimizers.lamb import Lamb
from keras_bert_impl.optimizers.linear_warmup_decay import LinearWarmupDecay
from keras_bert_impl.utils.default_optimizer import register_default_optimizer

# `compile(optimizer="auto")` of every task model builds BERT's AdamW.
register_default_optimizer(functools.partial(create_optimizer, "adamw"))

__all__ = ["AdamWeightDecay", "Lamb", "LinearWarmupDecay", "create_optimizer"]
