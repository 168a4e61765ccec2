import pytest

from keras_bert_impl.presets.parameter_count import backbone_parameter_count
from keras_bert_impl.presets.parameter_count import task_head_parameter_count
from tests.presets.shipped_presets import DOCUMENTED_PARAMETERS
from tests.presets.shipped_presets import TASK_PRESETS
from tests.presets.shipped_presets import shipped


@pytest.mark.parametrize("name", sorted(DOCUMENTED_PARAMETERS))
def test_parameter_count_from_config_and_metadata(name):
    config = shipped(name, "config.json")["config"]
    parameters = backbone_parameter_count(config)
    if name in TASK_PRESETS:
        task = shipped(name, "task.json")["config"]
        parameters += task_head_parameter_count(config["hidden_dim"], task)
    assert parameters == DOCUMENTED_PARAMETERS[name]
    assert (
        shipped(name, "metadata.json")["parameter_count"]
        == (DOCUMENTED_PARAMETERS[name])
    )


def test_counts_equal_keras_on_a_small_architecture():
    from keras_bert_impl.models import BertQuestionAnswerer
    from tests.bert_test_case import tiny_backbone

    backbone = tiny_backbone(num_layers=2)
    assert backbone.count_params() == backbone_parameter_count(backbone.get_config())
    answerer = BertQuestionAnswerer(backbone)
    assert answerer.count_params() == backbone.count_params() + (
        task_head_parameter_count(backbone.hidden_dim, {})
    )
