"""Pretraining data: raw text -> masked-LM / next-sentence TFRecords -> tf.data.

`corpus` reads and tokenizes text files; `instances` pairs sentences and masks them
(google-research/bert's algorithm); `example_encoding` writes `tf.train.Example`s;
`create_pretraining_data` runs it all in worker processes; `sequence_packing` packs
several instances a row; `pretraining_dataset` reads the records for
`BertPretrainer`, with `dynamic_masking`; `default_corpus` is the text that ships
with Python. The public names are exported by `keras_bert_impl.data`.
"""
