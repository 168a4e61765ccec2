from keras_bert_impl.layers.bert_embeddings import BertEmbeddings
from keras_bert_impl.layers.bert_encoder_block import BertEncoderBlock
from keras_bert_impl.layers.bert_masked_lm_head import BertMaskedLMHead
from keras_bert_impl.layers.bert_self_attention import BertSelfAttention

__all__ = [
    "BertEmbeddings",
    "BertEncoderBlock",
    "BertMaskedLMHead",
    "BertSelfAttention",
]
