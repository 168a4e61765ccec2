"""The contenders: our package, keras-hub (same Keras backend) and transformers (torch).

Every builder returns a callable that runs one unit of work (one train step,
one inference batch, one end-to-end pass over a list of strings, one epoch of
fine-tuning on lists of strings and labels) and blocks until its results are on
the host. Weights are random: only speed is
measured here (correctness against the same peers is in tests/convert).
"""

import numpy as np
from _common import SHARED

VOCAB = SHARED / "vocab" / "uncased" / "vocab.txt"


# ---------------------------------------------------------------- inputs


def pretraining_batch(config, batch, length, num_masks, seed=0):
    """A random pretraining batch in the package's `fit` format (numpy)."""
    rng = np.random.default_rng(seed)
    vocab = config["vocabulary_size"]
    positions = np.stack(
        [
            np.sort(rng.choice(np.arange(1, length), num_masks, replace=False))
            for _ in range(batch)
        ]
    ).astype("int32")
    segment_ids = np.zeros((batch, length), "int32")
    segment_ids[:, length // 2 :] = 1
    x = {
        "token_ids": rng.integers(999, vocab, (batch, length)).astype("int32"),
        "segment_ids": segment_ids,
        "padding_mask": np.ones((batch, length), "int32"),
        "mask_positions": positions,
    }
    y = {
        "mlm_logits": rng.integers(999, vocab, (batch, num_masks)).astype("int32"),
        "nsp_logits": rng.integers(0, 2, (batch,)).astype("int32"),
    }
    sample_weight = {
        "mlm_logits": np.ones((batch, num_masks), "float32"),
        "nsp_logits": np.ones((batch,), "float32"),
    }
    return x, y, sample_weight


def encoder_batch(config, batch, length, seed=0):
    x, _, _ = pretraining_batch(config, batch, length, 1, seed)
    x.pop("mask_positions")
    return x


# ---------------------------------------------------------------- train step


def ours_pretrainer(
    config, dropout=0.1, jit_compile="auto", steps_per_execution=1, dtype=None
):
    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertPretrainer

    backbone = BertBackbone(**config, dropout=dropout, dtype=dtype)
    pretrainer = BertPretrainer(backbone)
    pretrainer.compile(jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return pretrainer


def ours_train_step(config, batch, length, num_masks, **options):
    pretrainer = ours_pretrainer(config, **options)
    x, y, sample_weight = pretraining_batch(config, batch, length, num_masks)

    def step():
        pretrainer.train_on_batch(x, y, sample_weight=sample_weight)

    step.model = pretrainer
    return step


def _bert_adamw():
    """Our pretraining optimizer (BERT's AdamW), for the keras-hub peer too."""
    try:
        from keras_bert_impl.optimizers import create_optimizer
    except ImportError:
        import keras

        return keras.optimizers.AdamW(
            1e-4, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0
        )
    return create_optimizer("adamw", learning_rate=1e-4)


def keras_hub_train_step(
    config, batch, length, num_masks, jit_compile="auto", dtype=None
):
    """keras-hub's `BertMaskedLM`: the masked-LM head only (it has no NSP head)."""
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(**config, dropout=0.1, dtype=dtype)
    model = keras_hub.models.BertMaskedLM(backbone)
    # The same optimizer and loss as ours, so the step differs only by the model.
    model.compile(
        optimizer=_bert_adamw(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()],
        jit_compile=jit_compile,
    )
    x, y, sample_weight = pretraining_batch(config, batch, length, num_masks)

    def step():
        model.train_on_batch(
            x, y["mlm_logits"], sample_weight=sample_weight["mlm_logits"]
        )

    step.model = model
    return step


def _hf_config(config, dropout=0.1, **kwargs):
    import transformers

    return transformers.BertConfig(
        vocab_size=config["vocabulary_size"],
        hidden_size=config["hidden_dim"],
        num_hidden_layers=config["num_layers"],
        num_attention_heads=config["num_heads"],
        intermediate_size=config["intermediate_dim"],
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        max_position_embeddings=512,
        **kwargs,
    )


def transformers_train_step(config, batch, length, num_masks, dtype=None):
    """`BertForPreTraining` with AdamW and grad clipping, as its Trainer does.

    `dtype="mixed_bfloat16"` runs the forward pass under `torch.autocast`
    (bfloat16), as its Trainer's `--bf16` does; weights stay float32.
    """
    import torch
    import transformers

    model = transformers.BertForPreTraining(_hf_config(config)).train()
    model.to(torch_device())
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6
    )
    x, y, _ = pretraining_batch(config, batch, length, num_masks)
    labels = np.full((batch, length), -100, "int64")
    np.put_along_axis(labels, x["mask_positions"], y["mlm_logits"], axis=1)
    inputs = _on_torch_device(
        {
            "input_ids": x["token_ids"],
            "token_type_ids": x["segment_ids"],
            "attention_mask": x["padding_mask"],
            "labels": labels,
            "next_sentence_label": y["nsp_logits"],
        }
    )

    def step():
        _torch_train_step(model, optimizer, inputs, dtype)

    step.model = model
    return step


def torch_device():
    """Where the fixed-shape torch peers run: the GPU when there is one
    (`benchmarks/device_check.sh`), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _on_torch_device(arrays):
    """NumPy integer arrays as int64 torch tensors on `torch_device()`."""
    import torch

    return {
        key: torch.from_numpy(np.asarray(value).astype("int64")).to(torch_device())
        for key, value in arrays.items()
    }


def torch_precision(dtype, device=None):
    """The context a torch peer runs under for a Keras dtype policy name:
    `torch.autocast` to bfloat16 for `mixed_bfloat16`, nothing for float32.
    `device`: where the peer runs (default `torch_device()`)."""
    import contextlib

    import torch

    if dtype in (None, "float32"):
        return contextlib.nullcontext()
    if dtype != "mixed_bfloat16":
        raise ValueError(f"no torch peer for dtype={dtype!r}")
    return torch.autocast(device or torch_device(), dtype=torch.bfloat16)


def _torch_train_step(model, optimizer, inputs, dtype=None):
    """One AdamW step with clip-norm 1.0, as Hugging Face's Trainer takes it."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    with torch_precision(dtype):
        loss = model(**inputs).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    loss.item()


# ---------------------------------------------------------------- inference


def ours_inference_step(
    config, batch, length, jit_compile="auto", dtype=None, quantize=None
):
    from keras_bert_impl.models import BertBackbone

    backbone = BertBackbone(**config, dtype=dtype)
    if quantize:  # On TF, "auto" then means XLA (models/quantized_layers.py).
        backbone.quantize(quantize)
    if jit_compile != "auto":
        backbone.compile(jit_compile=jit_compile)
    x = encoder_batch(config, batch, length)

    def step():
        backbone.predict_on_batch(x)

    step.model = backbone
    return step


def keras_hub_inference_step(config, batch, length, dtype=None, quantize=None):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(**config, dtype=dtype)
    if quantize:
        backbone.quantize(quantize)
        # Its best setting: Keras' "auto" keeps TF on CPUs out of XLA, where
        # TF's own int8 matmul kernel is several times slower than XLA's.
        backbone.compile(jit_compile=True)
    x = encoder_batch(config, batch, length)

    def step():
        backbone.predict_on_batch(x)

    step.model = backbone
    return step


def transformers_inference_step(config, batch, length, dtype=None, quantize=None):
    import torch
    import transformers

    model = transformers.BertModel(_hf_config(config)).eval()
    if quantize == "int8":  # torch's dynamic int8 Linear (weights int8, per row)
        model = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8
        )
    else:
        model.to(torch_device())
    x = encoder_batch(config, batch, length)
    inputs = _on_torch_device(
        {
            "input_ids": x["token_ids"],
            "token_type_ids": x["segment_ids"],
            "attention_mask": x["padding_mask"],
        }
    )
    if quantize == "int8":  # torch's dynamic int8 kernels are CPU kernels
        inputs = {key: value.cpu() for key, value in inputs.items()}

    def step():
        with torch.inference_mode(), torch_precision(dtype):
            model(**inputs).pooler_output.float().cpu().numpy()

    step.model = model
    return step


# ---------------------------------------------------------------- real text


def read_sst2(split, limit=None):
    """The first `limit` SST-2 `split` ("train", "dev") sentences and labels."""
    path = SHARED / "glue" / "SST-2" / f"{split}.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.split("\t") for line in lines if line.strip()][:limit]
    return [row[0] for row in rows], [int(row[1]) for row in rows]


def ours_text_embedder(config, batch, sequence_length, bucket_lengths):
    """Strings -> pooled embeddings, in input order, with length bucketing.

    The package's `BertPreprocessor` runs once over all the strings (eager tf
    ops), `bucketed_batches` cuts them into batches of at most
    `len(bucket_lengths)` shapes, and the backbone embeds each batch.
    """
    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer
    from keras_bert_impl.utils.length_bucketing import bucketed_batches

    backbone = BertBackbone(**config)
    preprocessor = BertPreprocessor(
        BertTokenizer(VOCAB), sequence_length=sequence_length
    )

    def embed(sentences):
        features = preprocessor(list(sentences))
        output = np.zeros((len(sentences), config["hidden_dim"]), "float32")
        shapes = set()
        for rows, inputs in bucketed_batches(features, batch, bucket_lengths):
            shapes.add(inputs["token_ids"].shape)
            pooled = backbone.predict_on_batch(inputs)["pooled_output"]
            output[rows] = np.asarray(pooled)[: len(rows)]
        embed.shapes = sorted(shapes)
        return output

    embed.model = backbone
    return embed


def ours_text_classifier_predict(
    config, batch, sequence_length, quantize=None, dtype=None
):
    """The plain user path: `BertClassifier.predict` on a Python list of strings.

    Whatever `predict` does with raw strings (tokenizing, short texts packed
    several to a row, else length-sorted batches cut to their longest text
    on TF, to the lengths that pay for their compile under XLA, outputs back
    in input order) is what gets timed.
    """
    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    classifier = BertClassifier(
        BertBackbone(**config, dtype=dtype),
        2,
        preprocessor=BertPreprocessor(
            BertTokenizer(VOCAB), sequence_length=sequence_length
        ),
    )

    if quantize:
        classifier.quantize(quantize)

    def predict(sentences):
        return classifier.predict(list(sentences), batch_size=batch, verbose=0)

    predict.model = classifier
    return predict


def keras_hub_text_embedder(config, batch, sequence_length, dtype=None):
    """keras-hub's own pipeline: its preprocessor at a fixed length, its backbone."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone(**config, dtype=dtype)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(VOCAB), lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )

    def embed(sentences):
        # The same route as ours: the preprocessor over all strings at once,
        # then the backbone batch by batch (no tf.data tracing cost either).
        features = {
            key: np.asarray(value)
            for key, value in preprocessor(list(sentences)).items()
        }
        outputs = []
        for start in range(0, len(sentences), batch):
            inputs = {
                key: value[start : start + batch] for key, value in features.items()
            }
            pooled = backbone.predict_on_batch(inputs)["pooled_output"]
            outputs.append(np.asarray(pooled, "float32"))
        return np.concatenate(outputs)

    embed.model = backbone
    return embed


def transformers_text_embedder(
    config, batch, sequence_length, dtype=None, quantize=None
):
    """Hugging Face's fast tokenizer, length-sorted batches, dynamic padding.

    `quantize="int8"`: torch's dynamic int8 `Linear`, as `transformers_inference_step`.
    """
    import torch
    import transformers

    model = transformers.BertModel(_hf_config(config)).eval()
    if quantize == "int8":
        model = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8
        )
    tokenizer = transformers.BertTokenizer(vocab=str(VOCAB))

    def embed(sentences):
        output = np.zeros((len(sentences), config["hidden_dim"]), "float32")
        batches = _length_sorted_batches(tokenizer, sentences, batch, sequence_length)
        with torch.inference_mode(), torch_precision(dtype, "cpu"):
            for rows, padded in batches:
                output[rows] = model(**padded).pooler_output.float().numpy()
        return output

    embed.model = model
    return embed


def ours_text_classifier_evaluate(config, batch, sequence_length, dtype=None):
    """`BertClassifier.evaluate(strings, labels)`: its default loss and accuracy."""
    predict = ours_text_classifier_predict(config, batch, sequence_length, dtype=dtype)

    def evaluate(sentences, labels):
        return predict.model.evaluate(
            list(sentences), np.asarray(labels), batch_size=batch, verbose=0
        )

    evaluate.model = predict.model
    return evaluate


def keras_hub_text_classifier_evaluate(config, batch, sequence_length, dtype=None):
    """keras-hub's `BertTextClassifier.evaluate(strings, labels)`, its user path."""
    import keras
    import keras_hub

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(VOCAB), lowercase=True)
    classifier = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(**config, dtype=dtype),
        num_classes=2,
        preprocessor=keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length
        ),
    )
    classifier.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    def evaluate(sentences, labels):
        return classifier.evaluate(
            list(sentences), np.asarray(labels), batch_size=batch, verbose=0
        )

    evaluate.model = classifier
    return evaluate


def transformers_text_classifier_evaluate(config, batch, sequence_length, dtype=None):
    """`BertForSequenceClassification`'s loss and accuracy, dynamic padding."""
    import transformers

    model = transformers.BertForSequenceClassification(
        _hf_config(config, num_labels=2)
    ).eval()
    tokenizer = transformers.BertTokenizer(vocab=str(VOCAB))

    def evaluate(sentences, labels):
        return _transformers_scores(
            model, tokenizer, sentences, labels, batch, sequence_length, dtype
        )

    evaluate.model = model
    return evaluate


def _transformers_scores(
    model, tokenizer, sentences, labels, batch, sequence_length, dtype=None
):
    """`[loss, accuracy]` of a transformers classifier: the evaluation loop a
    torch user writes (the fast tokenizer, length-sorted batches padded to
    their longest member, `torch.inference_mode`)."""
    import torch

    labels = torch.as_tensor(np.asarray(labels))
    loss_sum, correct = 0.0, 0
    was_training = model.training
    model.eval()
    batches = _length_sorted_batches(tokenizer, sentences, batch, sequence_length)
    with torch.inference_mode(), torch_precision(dtype, "cpu"):
        for rows, padded in batches:
            out = model(**padded, labels=labels[rows])
            loss_sum += float(out.loss) * len(rows)
            correct += int((out.logits.argmax(-1) == labels[rows]).sum())
    model.train(was_training)
    return [loss_sum / len(labels), correct / len(labels)]


def _length_sorted_batches(tokenizer, sentences, batch, sequence_length):
    """`(rows, padded inputs)` of `sentences`, sorted by length, each batch
    padded to its longest member (transformers' dynamic padding)."""
    encoded = tokenizer(list(sentences), truncation=True, max_length=sequence_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        padded = tokenizer.pad(
            {key: [encoded[key][r] for r in rows] for key in encoded},
            return_tensors="pt",
        )
        yield rows, padded


# ---------------------------------------------------------------- fine-tuning


def _keras_fit(classifier, batch):
    """One epoch of a Keras classifier's `fit` on lists of strings, validating
    on `validation` (`(sentences, labels)`) when given."""

    def fit(sentences, labels, validation=None):
        classifier.fit(
            list(sentences),
            list(labels),
            batch_size=batch,
            epochs=1,
            validation_data=None
            if validation is None
            else tuple(list(part) for part in validation),
            verbose=0,
        )

    fit.model = classifier
    return fit


def ours_text_classifier_fit(
    config, batch, sequence_length, pad_partial_batches=True, dtype=None
):
    """The plain user path: `BertClassifier.fit` on Python lists of strings.

    Compiled as the task compiles itself (BERT's AdamW, warmup + decay, XLA
    where Keras' `"auto"` picks it); whatever `fit` does with raw strings
    (the preprocessor in `tf.data`, length bucketing) is what gets timed.
    `pad_partial_batches=False` compiles an unweighted accuracy instead of
    the default weighted one, which keeps each bucket's last batch partial
    (one more XLA program per bucket). `dtype`: the backbone's policy
    (`"mixed_bfloat16"`; None is float32).
    """
    import keras

    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.tokenizers import BertPreprocessor
    from keras_bert_impl.tokenizers import BertTokenizer

    classifier = BertClassifier(
        BertBackbone(**config, dropout=0.1, dtype=dtype),
        2,
        preprocessor=BertPreprocessor(
            BertTokenizer(VOCAB), sequence_length=sequence_length
        ),
    )
    if not pad_partial_batches:
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        classifier.compile(metrics=[accuracy], weighted_metrics=None)

    return _keras_fit(classifier, batch)


def keras_hub_text_classifier_fit(config, batch, sequence_length, dtype=None):
    """keras-hub's `BertTextClassifier` + its preprocessor at a fixed length,
    its backbone under `dtype` (None: float32)."""
    import keras
    import keras_hub

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=str(VOCAB), lowercase=True)
    classifier = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(**config, dropout=0.1, dtype=dtype),
        num_classes=2,
        preprocessor=keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length
        ),
    )
    # Its own loss and metric, our optimizer (its default is plain Adam): the
    # optimizer update over 110M weights is a sizeable part of a short step.
    classifier.compile(
        optimizer=_bert_adamw(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    return _keras_fit(classifier, batch)


def transformers_text_classifier_fit(
    config, batch, sequence_length, group_by_length=False, seed=0, dtype=None
):
    """`BertForSequenceClassification` in a plain torch loop, dynamic padding.

    The fast tokenizer truncates to `sequence_length`; batches are shuffled
    (or, with `group_by_length`, drawn by the Trainer's `LengthGroupedSampler`:
    similar lengths together) and padded to their longest member by
    `DataCollatorWithPadding`; AdamW with clip-norm 1.0 as in our recipe.
    `dtype="mixed_bfloat16"`: forward passes under `torch.autocast` to
    bfloat16 (float32 weights and optimizer), as the Trainer's `bf16=True`.
    """
    import torch
    import transformers
    from transformers.trainer_pt_utils import LengthGroupedSampler

    model = transformers.BertForSequenceClassification(
        _hf_config(config, num_labels=2)
    ).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=5e-5, weight_decay=0.01, eps=1e-6
    )
    tokenizer = transformers.BertTokenizer(vocab=str(VOCAB))
    collator = transformers.DataCollatorWithPadding(tokenizer, return_tensors="pt")
    generator = torch.Generator().manual_seed(seed)

    def fit(sentences, labels, validation=None):
        encoded = tokenizer(
            list(sentences), truncation=True, max_length=sequence_length
        )
        features = [
            {key: encoded[key][index] for key in encoded} | {"labels": label}
            for index, label in enumerate(labels)
        ]
        if group_by_length:
            lengths = [len(ids) for ids in encoded["input_ids"]]
            sampler = LengthGroupedSampler(batch, lengths=lengths, generator=generator)
            order = list(sampler)
        else:
            order = torch.randperm(len(features), generator=generator).tolist()
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            inputs = collator([features[index] for index in rows])
            _torch_train_step(model, optimizer, inputs, dtype)
        if validation is not None:  # as Keras' fit validates after the epoch
            _transformers_scores(
                model, tokenizer, *validation, batch, sequence_length, dtype
            )

    fit.model = model
    return fit
