from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.bert_pretrainer import BertPretrainer
from keras_bert_impl.models.bert_task import BertTask

__all__ = ["BertBackbone", "BertPretrainer", "BertTask"]
