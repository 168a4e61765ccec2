"""The SavedModel stores each weight once (keras-team/keras#23553 on TF)."""

import numpy as np
import tensorflow as tf

from keras_bert_impl.export import export_saved_model
from keras_bert_impl.models import BertClassifier
from tests.bert_test_case import tiny_backbone
from tests.bert_test_case import tiny_preprocessor


def test_every_weight_is_stored_once(tmp_path):
    classifier = BertClassifier(
        tiny_backbone(), num_classes=2, preprocessor=tiny_preprocessor()
    )
    path = export_saved_model(classifier, tmp_path / "serving")
    reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    stored = sum(
        int(np.prod(shape))
        for name, shape in reader.get_variable_to_shape_map().items()
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH"
    )
    # Each weight once (twice would be 2x), plus a few seed-generator states.
    assert classifier.count_params() <= stored < 1.1 * classifier.count_params()
