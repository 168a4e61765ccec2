"""Old import paths of modules and names that moved, kept working for one release.

Importing an old path or reading a moved name from its old package returns the
object from its new home and emits a `DeprecationWarning` naming the new path.
The tables are strings: this module imports nothing of the package until an
old path is actually used.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

REMOVAL = "keras_bert_impl 0.3"

# old module -> new module, both under keras_bert_impl. (`export.export_from_run`
# is not here: that path names the function, in MOVED_NAMES, as users called it.)
_MOVED = {
    "data.default_corpus": "data.pretraining.default_corpus",
    "data.length_bucketing": "utils.length_bucketing",
    "data.pretraining_data": "data.pretraining.create_pretraining_data",
    "data.pretraining_dataset": "data.pretraining.pretraining_dataset",
    "data.sequence_packing": "data.pretraining.sequence_packing",
    "demo": "recipes.demo",
    "convert.preset_conversion": "recipes.convert_to_preset",
    "models.preset_mixin": "utils.preset_io",
    "training.adam_weight_decay": "optimizers.adam_weight_decay",
    "training.gradients": "optimizers.gradients",
    "training.lamb": "optimizers.lamb",
    "training.linear_warmup_decay": "optimizers.linear_warmup_decay",
    "training.metrics": "data.metrics",
    "training.optimizers": "optimizers.create_optimizer",
    "training.run_finetuning": "recipes.run_finetuning",
    "training.run_pretraining": "recipes.run_pretraining",
    "training.variable_patterns": "optimizers.variable_patterns",
}
MOVED_MODULES = {
    f"keras_bert_impl.{old}": f"keras_bert_impl.{new}" for old, new in _MOVED.items()
}

# package -> {name: module that now defines it}
MOVED_NAMES = {
    "keras_bert_impl.training": {
        "AdamWeightDecay": "keras_bert_impl.optimizers",
        "Lamb": "keras_bert_impl.optimizers",
        "LinearWarmupDecay": "keras_bert_impl.optimizers",
        "create_optimizer": "keras_bert_impl.optimizers",
    },
    "keras_bert_impl.convert": {
        "convert_to_preset": "keras_bert_impl.recipes.convert_to_preset",
    },
    "keras_bert_impl.recipes.run_finetuning": {
        "read_prediction_inputs": "keras_bert_impl.recipes.predict",
        "run_prediction": "keras_bert_impl.recipes.predict",
    },
    "keras_bert_impl.export": {
        "export_from_run": "keras_bert_impl.recipes.export_from_run",
    },
    "keras_bert_impl.export.export_saved_model": {
        "JAX_PLATFORMS": "keras_bert_impl.export.saved_model_archive",
        "SERVING_SIGNATURE": "keras_bert_impl.export.saved_model_archive",
        "TOKEN_IDS_SIGNATURE": "keras_bert_impl.export.saved_model_archive",
    },
    "keras_bert_impl.presets": {
        "PRESETS": "keras_bert_impl.presets.catalog",
        "VOCABULARIES": "keras_bert_impl.presets.catalog",
        "GLUE_RECIPE": "keras_bert_impl.presets.catalog",
        "SQUAD_RECIPE": "keras_bert_impl.presets.catalog",
        "NER_RECIPE": "keras_bert_impl.presets.catalog",
        "backbone_parameter_count": "keras_bert_impl.presets.parameter_count",
        "task_head_parameter_count": "keras_bert_impl.presets.parameter_count",
        "file_sha256": "keras_bert_impl.utils.file_io",
    },
}


def _warn(old, new, stacklevel):
    warnings.warn(
        f"{old} moved to {new}; the old path stops working in {REMOVAL}.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def moved_attribute(package, name):
    """Module-level `__getattr__` for a package some of whose names moved."""
    new_module = MOVED_NAMES.get(package, {}).get(name)
    if new_module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    # Frames: _warn, moved_attribute, the package's __getattr__, the user's line.
    _warn(f"{package}.{name}", f"{new_module}.{name}", stacklevel=4)
    return getattr(importlib.import_module(new_module), name)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        # Frames: _warn, create_module, then the user's import line (the warnings
        # module skips importlib's own frames).
        _warn(spec.name, MOVED_MODULES[spec.name], stacklevel=3)
        return importlib.import_module(MOVED_MODULES[spec.name])

    def exec_module(self, module):
        pass  # The new module is already executed.


def install_moved_module_finder():
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
