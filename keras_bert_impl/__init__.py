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
from keras_bert_impl import export  # noqa: E402,F401

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
from keras_bert_impl.tokenizers import BertPreprocessor  # noqa: E402
from keras_bert_impl.tokenizers import BertTokenizer  # noqa: E402
from keras_bert_impl.utils.moved_modules import install_moved_module_finder  # noqa: E402
from keras_bert_impl.utils.version import __version__  # noqa: E402,F401

install_moved_module_finder()

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
