"""Training machinery: distribution, callbacks, resumable checkpoints, curves,
isolated runs."""

from keras_bert_impl.training.callbacks import default_callbacks
from keras_bert_impl.training.distribution import bert_layout_map
from keras_bert_impl.training.distribution import check_layout_map
from keras_bert_impl.training.distribution import create_distribution
from keras_bert_impl.training.distribution import distribution_scope
from keras_bert_impl.training.distribution import global_batch_size
from keras_bert_impl.training.distribution import num_data_replicas
from keras_bert_impl.training.job_processes import is_chief
from keras_bert_impl.training.job_processes import num_processes
from keras_bert_impl.training.resumable_checkpoint import ResumableCheckpoint
from keras_bert_impl.training.run_isolated import IsolatedRunError
from keras_bert_impl.training.run_isolated import run_isolated
from keras_bert_impl.training.training_curves_plot import TrainingCurvesPlot

__all__ = [
    "IsolatedRunError",
    "ResumableCheckpoint",
    "TrainingCurvesPlot",
    "bert_layout_map",
    "check_layout_map",
    "create_distribution",
    "default_callbacks",
    "distribution_scope",
    "global_batch_size",
    "is_chief",
    "num_data_replicas",
    "num_processes",
    "run_isolated",
]


def __getattr__(name):
    # Names that moved out of this package keep working for one release.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
