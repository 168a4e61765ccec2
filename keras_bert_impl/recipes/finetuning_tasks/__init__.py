"""The fine-tuning task kinds, one spec each: adding a task is adding a file and a line.

Each spec (`TaskSpec` subclass) holds its task's reader, featurizer, model,
metrics and `predict` output; `run_finetuning`, `run_evaluation` and
`run_prediction` only look the spec up here.
"""

from keras_bert_impl.recipes.finetuning_tasks.conll2003 import Conll2003TaskSpec
from keras_bert_impl.recipes.finetuning_tasks.glue import GlueTaskSpec
from keras_bert_impl.recipes.finetuning_tasks.squad import SquadTaskSpec
from keras_bert_impl.recipes.finetuning_tasks.swag import SwagTaskSpec
from keras_bert_impl.recipes.finetuning_tasks.task_spec import TaskSpec

TASK_SPECS = (GlueTaskSpec, Conll2003TaskSpec, SquadTaskSpec, SwagTaskSpec)


def task_spec_class(task_name):
    """The `TaskSpec` subclass that handles `task_name` (any case)."""
    for spec in TASK_SPECS:
        if spec.handles(task_name):
            return spec
    known = sorted(name for spec in TASK_SPECS for name in spec.task_names())
    raise ValueError(
        f"Unknown --task_name {task_name!r}; known tasks: {', '.join(known)}."
    )


def task_spec(
    task_name, tokenizer, max_seq_length, doc_stride=128, max_query_length=None
):
    """The spec of `task_name`, set up for one run (arguments: `TaskSpec`'s)."""
    return task_spec_class(task_name)(
        task_name, tokenizer, max_seq_length, doc_stride, max_query_length
    )


def task_kind(task_name):
    """`"glue"`, `"ner"`, `"squad"` or `"swag"` for a task name (any case)."""
    return task_spec_class(task_name).kind


__all__ = ["TASK_SPECS", "TaskSpec", "task_kind", "task_spec", "task_spec_class"]
