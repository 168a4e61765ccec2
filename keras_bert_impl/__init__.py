"""BERT as a Keras 3 package: models, tokenizers, pretraining and fine-tuning.

Example:
```python
import keras_bert_impl as kb

backbone = kb.BertBackbone.from_preset("all_minilm_l6_v2")
classifier = kb.BertClassifier(backbone, num_classes=2)
```
"""

__version__ = "0.1.0"

# Registers the optimizers so that saved `.keras` models load.
from keras_bert_impl import training  # noqa: E402,F401
from keras_bert_impl.models import BertBackbone  # noqa: E402
from keras_bert_impl.models import BertClassifier  # noqa: E402
from keras_bert_impl.models import BertMultipleChoice  # noqa: E402
from keras_bert_impl.models import BertPretrainer  # noqa: E402
from keras_bert_impl.models import BertQuestionAnswerer  # noqa: E402
from keras_bert_impl.models import BertTokenClassifier  # noqa: E402
from keras_bert_impl.tokenizers import BertPreprocessor  # noqa: E402
from keras_bert_impl.tokenizers import BertTokenizer  # noqa: E402

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
