"""Data for BERT: task readers, featurizers, metrics and pretraining data.

Example:
```python
import keras_bert_impl as kb

train = kb.data.read_glue("sst-2", "glue_data/SST-2", split="train")
kb.data.create_pretraining_data("corpus.txt", "train.tfrecord", "vocab.txt")
dataset = kb.data.pretraining_dataset("train.tfrecord", batch_size=32)
```
"""

import importlib
import sys
import types

# Public name -> the module (under this package) that defines it. Names load on
# first use: the metrics pull in scikit-learn, SciPy and seqeval, which
# `import keras_bert_impl` (it imports this package) should not pay for.
_PUBLIC_NAMES = {
    "DataFormatError": "data_format_error",
    # Task readers.
    "GLUE_TASKS": "glue",
    "GlueExample": "glue",
    "read_glue": "glue",
    "read_glue_tsv": "glue",
    "CONLL2003_NER_LABELS": "conll",
    "ConllSentence": "conll",
    "iob1_to_iob2": "conll",
    "read_conll2003": "conll",
    "SquadAnswer": "squad",
    "SquadExample": "squad",
    "read_squad": "squad",
    "SWAG_NUM_CHOICES": "swag",
    "SwagExample": "swag",
    "read_swag": "swag",
    # Featurizers.
    "NerFeaturizer": "ner_featurizer",
    "SquadFeaturizer": "squad_featurizer",
    "SwagFeaturizer": "swag_featurizer",
    # Metrics.
    "accuracy": "metrics",
    "accuracy_and_f1": "metrics",
    "compute_glue_metrics": "metrics",
    "compute_ner_metrics": "metrics",
    "f1": "metrics",
    "matthews_corrcoef": "metrics",
    "pearson": "metrics",
    "pearson_and_spearman": "metrics",
    "spearman": "metrics",
    "evaluate_squad_v1": "squad_evaluation",
    "evaluate_squad_v2": "squad_evaluation",
    # Pretraining data.
    "create_pretraining_data": "pretraining.create_pretraining_data",
    "default_corpus_documents": "pretraining.default_corpus",
    "write_default_corpus": "pretraining.default_corpus",
    "write_documents": "pretraining.default_corpus",
    "dynamic_mask": "pretraining.dynamic_masking",
    "pretraining_dataset": "pretraining.pretraining_dataset",
    "pack_instances": "pretraining.sequence_packing",
}

__all__ = sorted(_PUBLIC_NAMES)


def __getattr__(name):
    module = _PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC_NAMES))


class _DataPackage(types.ModuleType):
    # Importing the moved module `keras_bert_impl.data.pretraining_dataset` by its
    # old path would set this package's attribute of that name to the module,
    # hiding the function `pretraining_dataset` for the rest of the process.
    def __setattr__(self, name, value):
        if name in _PUBLIC_NAMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _DataPackage
