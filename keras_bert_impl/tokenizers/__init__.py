"""Tokenization and preprocessing: WordPiece, packing, preprocessors, vocabularies."""

from keras_bert_impl.tokenizers.bert_packer import BertPacker
from keras_bert_impl.tokenizers.bert_preprocessor import BertPreprocessor
from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
from keras_bert_impl.tokenizers.learn_vocabulary import learn_vocabulary

__all__ = ["BertPacker", "BertPreprocessor", "BertTokenizer", "learn_vocabulary"]
