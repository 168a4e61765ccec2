"""A model out to a Hugging Face BERT folder that transformers loads."""

import json
import pathlib

import numpy as np

from keras_bert_impl.convert.google_checkpoint import bert_config_from_backbone
from keras_bert_impl.convert.huggingface import ACTIVATION_TO_HIDDEN_ACT
from keras_bert_impl.convert.huggingface import head_weight_map
from keras_bert_impl.convert.target_checks import attached_tokenizer
from keras_bert_impl.convert.target_checks import write_vocabulary
from keras_bert_impl.convert.weight_map import backbone_weight_map
from keras_bert_impl.models.bert_backbone import BertBackbone
from keras_bert_impl.models.bert_classifier import BertClassifier
from keras_bert_impl.models.bert_pretrainer import BertPretrainer
from keras_bert_impl.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_impl.models.bert_token_classifier import BertTokenClassifier
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json


def huggingface_config_from_backbone(backbone):
    return {
        **bert_config_from_backbone(
            backbone, ACTIVATION_TO_HIDDEN_ACT[backbone.activation]
        ),
        "architectures": ["BertForPreTraining"],
        "model_type": "bert",
        "layer_norm_eps": backbone.layer_norm_epsilon,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


def _task_config(model):
    """`config.json` entries of the `BertFor*` class that holds `model`'s heads."""
    if isinstance(model, BertBackbone):
        return {"architectures": ["BertModel"]}
    if isinstance(model, BertPretrainer):
        return {"architectures": ["BertForPreTraining"]}
    if getattr(model, "feature_layers", None) is not None or not isinstance(
        model, (BertClassifier, BertTokenClassifier, BertQuestionAnswerer)
    ):
        raise ValueError(
            "to_huggingface saves a BertBackbone, BertPretrainer, BertClassifier, "
            "BertTokenClassifier or BertQuestionAnswerer (without feature_layers), "
            f"not this {type(model).__name__}; save its .backbone instead."
        )
    if isinstance(model, BertQuestionAnswerer):
        return {"architectures": ["BertForQuestionAnswering"]}
    labels = [f"LABEL_{index}" for index in range(model.num_classes)]
    token_level = isinstance(model, BertTokenClassifier)
    config = {
        "architectures": [
            "BertForTokenClassification"
            if token_level
            else "BertForSequenceClassification"
        ],
        "classifier_dropout": model.dropout,
        "id2label": dict(enumerate(labels)),
        "label2id": {label: index for index, label in enumerate(labels)},
    }
    if model.num_classes == 1 and not token_level:
        config["problem_type"] = "regression"
    return config


def huggingface_tensors(model):
    """Every weight of a backbone, pretrainer or task model, as Hugging Face names it.

    Names and layouts are those of `BertModel` for a backbone and of the
    `BertFor*` classes (backbone under `bert.`) for a model with heads.
    """
    backbone = model if isinstance(model, BertBackbone) else model.backbone
    prefix = "" if model is backbone else "bert."
    tensors = {
        prefix + spec.huggingface_name: _huggingface_value(spec)
        for spec in backbone_weight_map(backbone)
    }
    for spec in head_weight_map(model):
        tensors[spec.huggingface_name] = _huggingface_value(spec)
    return tensors


def to_huggingface(model, folder, preprocessor=None):
    """Saves a model as a Hugging Face BERT folder.

    Writes `config.json` and `model.safetensors` that transformers loads with
    identical outputs: `BertModel` for a `BertBackbone`, `BertForPreTraining`
    for a `BertPretrainer`, `BertForSequenceClassification` for a
    `BertClassifier` (`problem_type="regression"` for `num_classes=1`),
    `BertForTokenClassification` for a `BertTokenClassifier` and
    `BertForQuestionAnswering` for a `BertQuestionAnswerer` (task models
    without `feature_layers`). `from_huggingface` reads each back
    bit-identical, as the same class. With a tokenizer (the model's
    preprocessor's, or `preprocessor`: a `BertPreprocessor` or `BertTokenizer`)
    the folder also holds `vocab.txt` and `tokenizer_config.json`, so
    `transformers.BertTokenizer.from_pretrained(folder)` tokenizes as ours.
    The folder is replaced atomically.
    """
    task_config = _task_config(model)
    tokenizer = attached_tokenizer(model, preprocessor)
    backbone = model if isinstance(model, BertBackbone) else model.backbone
    config = {**huggingface_config_from_backbone(backbone), **task_config}
    tensors = huggingface_tensors(model)
    if isinstance(model, BertPretrainer):
        # transformers ties the decoder to the word embeddings; it still expects
        # the decoder's bias alias.
        tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"]
    folder = pathlib.Path(folder)
    with staged_directory(folder) as staging:
        _write_folder(staging, config, tensors, tokenizer, backbone)
    return folder


def _write_folder(staging, config, tensors, tokenizer, backbone):
    from safetensors.numpy import save_file

    save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
    with open(staging / "config.json", "w", encoding="utf-8") as file:
        json.dump(config, file, indent=2)
    if tokenizer is not None:
        write_vocabulary(staging / "vocab.txt", tokenizer)
        write_json(
            staging / "tokenizer_config.json",
            {
                "tokenizer_class": "BertTokenizer",
                "do_lower_case": tokenizer.lowercase,
                "strip_accents": tokenizer.strip_accents,
                "model_max_length": backbone.max_sequence_length,
            },
        )


def _huggingface_value(spec):
    value = np.asarray(spec.variable.numpy(), dtype="float32")
    return np.ascontiguousarray(value.T if spec.huggingface_transposed else value)
