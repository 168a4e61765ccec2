"""BERT as a Keras 3 package: models, tokenizers, pretraining and fine-tuning.

Example:
```python
import keras_bert_impl as kb

backbone = kb.BertBackbone.from_preset("all_minilm_l6_v2")
classifier = kb.BertClassifier(backbone, num_classes=2)
```
"""

# First of all: JAX decides on its persistent cache at its first compile, and
# XLA reads its flags when JAX creates its first client.
from keras_bert_impl.utils.jax_compilation_cache import use_persistent_jax_cache
from keras_bert_impl.utils.jax_cpu_compilation import use_quick_cpu_compilation

use_persistent_jax_cache()
use_quick_cpu_compilation()

# `kb.convert`, `kb.export`, `kb.data` are reachable as attributes; importing
# convert also registers its weight readers with the preset loader.
from keras_bert_impl import convert  # noqa: E402,F401
from keras_bert_impl import data  # noqa: E402,F401

# Registers the optimizers so that saved `.keras` models load, and BERT's
# AdamW as the optimizer of `compile(optimizer="auto")`.
from keras_bert_impl import optimizers  # noqa: E402,F401
from keras_bert_impl import training  # noqa: E402,F401
from keras_bert_impl.models import BertBackbone  # noqa: E402
from keras_bert_impl.models import BertClassifier  # noqa: E402
from keras_bert_impl.models import BertMultipleChoice  # noqa: E402
from keras_bert_impl.models import BertPretrainer  # noqa: E402
from keras_bert_impl.models import BertQuestionAnswerer  # noqa: E402
from keras_bert_impl.models import BertTokenClassifier  # noqa: E402
from keras_bert_impl.utils.moved_modules import install_moved_module_finder  # noqa: E402
from keras_bert_impl.utils.version import __version__  # noqa: E402,F401

install_moved_module_finder()


# The tokenizers (registered here as the presets' preprocessor loader and as
# Keras-serializable layers) and the exports need TensorFlow and
# tensorflow-text. Where they are not installed (a JAX or torch machine that
# feeds token ids) the package imports without them, and those names say so.
_TENSORFLOW_MODULES = ("tensorflow", "tensorflow_text")
try:
    from keras_bert_impl import export  # noqa: E402,F401
    from keras_bert_impl.tokenizers import BertPreprocessor  # noqa: E402
    from keras_bert_impl.tokenizers import BertTokenizer  # noqa: E402
except ModuleNotFoundError as error:
    if (error.name or "").split(".")[0] not in _TENSORFLOW_MODULES:
        raise
    _without_tensorflow = error

    def __getattr__(name):
        if name in ("BertPreprocessor", "BertTokenizer", "export"):
            raise ModuleNotFoundError(
                f"keras_bert_impl.{name} needs TensorFlow and tensorflow-text "
                f"({_without_tensorflow}). Install them (`pip install "
                "keras_bert_impl` installs both), or feed the models token ids.",
                name=_without_tensorflow.name,
            )
        raise AttributeError(f"module 'keras_bert_impl' has no attribute '{name}'")


__all__ = [
    "BertBackbone",
    "BertClassifier",
    "BertMultipleChoice",
    "BertPretrainer",
    "BertQuestionAnswerer",
    "BertPreprocessor",
    "BertTokenClassifier",
    "BertTokenizer",
]
