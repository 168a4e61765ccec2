"""Optimizers and schedules, distribution strategies, callbacks."""

from keras_bert_impl.training.adam_weight_decay import AdamWeightDecay
from keras_bert_impl.training.callbacks import default_callbacks
from keras_bert_impl.training.distribution import bert_layout_map
from keras_bert_impl.training.distribution import create_distribution
from keras_bert_impl.training.distribution import distribution_scope
from keras_bert_impl.training.distribution import global_batch_size
from keras_bert_impl.training.distribution import num_data_replicas
from keras_bert_impl.training.lamb import Lamb
from keras_bert_impl.training.linear_warmup_decay import LinearWarmupDecay
from keras_bert_impl.training.optimizers import create_optimizer
from keras_bert_impl.training.resumable_checkpoint import ResumableCheckpoint
from keras_bert_impl.training.training_curves_plot import TrainingCurvesPlot

__all__ = [
    "AdamWeightDecay",
    "Lamb",
    "LinearWarmupDecay",
    "ResumableCheckpoint",
    "TrainingCurvesPlot",
    "bert_layout_map",
    "create_distribution",
    "create_optimizer",
    "default_callbacks",
    "distribution_scope",
    "global_batch_size",
    "num_data_replicas",
]
