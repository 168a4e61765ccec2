"""`keras-bert demo`: pretrain a tiny BERT from scratch on text every Python ships.

Builds the embedded default corpus (`pydoc_data.topics` and the standard
library's docstrings), learns a WordPiece vocabulary from it, creates
masked-LM / next-sentence pretraining data with the original recipe,
pretrains a tiny BERT for a few minutes, shows masked-word predictions and
ends with one JSON line: held-out masked-LM and next-sentence accuracy
before and after training.
"""

import pathlib
import time

import numpy as np

from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.run_directory import guarded_run

DEMO_VOCABULARY_SIZE = 6000
DEMO_SEQUENCE_LENGTH = 128
DEMO_MAX_PREDICTIONS = 20
DEMO_BACKBONE = dict(
    num_layers=2,
    num_heads=2,
    hidden_dim=128,
    intermediate_dim=512,
    max_sequence_length=DEMO_SEQUENCE_LENGTH,
)
SHOWCASE_SENTENCES = (
    "The if statement is used for conditional execution.",
    "Return a new list containing all items from the iterable in ascending order.",
    "Raise an exception if the file does not exist.",
    "This module provides access to the mathematical functions.",
)


def _step(number, text):
    print(f"[{number}/6] {text}", flush=True)


def _masked_word_predictions(pretrainer, tokenizer, sentences, top_k=5):
    """Masks one word of each sentence and returns the model's top guesses."""
    import keras

    showcase = []
    for sentence in sentences:
        token_ids = list(tokenizer(sentence))
        pieces = [tokenizer.id_to_token(i) for i in token_ids]
        # Mask the longest whole-word token: a content word, not punctuation.
        candidates = [
            i
            for i, piece in enumerate(pieces)
            if piece.isalpha()
            and (i + 1 == len(pieces) or not pieces[i + 1].startswith("##"))
        ]
        if not candidates:
            continue
        position = max(candidates, key=lambda i: (len(pieces[i]), -i))
        masked = list(token_ids)
        masked[position] = tokenizer.mask_token_id
        ids = [tokenizer.cls_token_id, *masked, tokenizer.sep_token_id]
        inputs = {
            "token_ids": np.array([ids], "int32"),
            "segment_ids": np.zeros((1, len(ids)), "int32"),
            "padding_mask": np.ones((1, len(ids)), "int32"),
            "mask_positions": np.array([[position + 1]], "int32"),
        }
        logits = pretrainer.predict(inputs, verbose=0)["mlm_logits"][0, 0]
        probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
        best = np.argsort(-probabilities)[:top_k]
        showcase.append(
            {
                "text": " ".join(
                    "[MASK]" if i == position else p for i, p in enumerate(pieces)
                ).replace(" ##", ""),
                "answer": pieces[position],
                "predictions": [
                    (tokenizer.id_to_token(int(i)), float(probabilities[i]))
                    for i in best
                ],
            }
        )
    return showcase


@guarded_run("demo", recognized=("run", "corpus", "pretraining_data"))
def run_demo(
    output_dir="runs/demo", train_minutes=4.0, num_train_steps=3000, random_seed=12345
):
    """Runs the whole demo; returns `{"before": {...}, "after": {...}}`.

    A second run in the same `output_dir` reuses what the first made (corpus,
    vocabulary, records) and resumes its training; a folder holding other
    files is refused unless `overwrite=True`.
    """
    import keras

    from keras_bert_impl.data import pretraining_dataset
    from keras_bert_impl.data import write_default_corpus
    from keras_bert_impl.recipes.run_pretraining import build_pretrainer
    from keras_bert_impl.recipes.run_pretraining import create_records_once
    from keras_bert_impl.recipes.run_pretraining import reported_metrics
    from keras_bert_impl.recipes.run_pretraining import run_pretraining
    from keras_bert_impl.tokenizers.bert_tokenizer import BertTokenizer
    from keras_bert_impl.tokenizers.learn_vocabulary import learn_vocabulary

    started = time.monotonic()
    output_dir = pathlib.Path(output_dir)
    run_dir = output_dir / "run"
    corpus_dir = output_dir / "corpus"
    _step(1, "Building the default corpus from the text that ships with Python")
    train_text, heldout_text, num_train, num_heldout = write_default_corpus(corpus_dir)
    print(f"      {num_train} training and {num_heldout} held-out documents")

    _step(2, f"Learning a WordPiece vocabulary of up to {DEMO_VOCABULARY_SIZE} tokens")
    vocab_file = output_dir / "vocab.txt"
    if not vocab_file.is_file():
        learn_vocabulary(
            [str(train_text)],
            vocabulary_size=DEMO_VOCABULARY_SIZE,
            output_file=str(vocab_file),
        )
    tokenizer = BertTokenizer(str(vocab_file), lowercase=True)
    print(f"      {tokenizer.vocabulary_size()} tokens in {vocab_file}")

    _step(3, "Creating masked-LM + next-sentence pretraining data")
    data_dir = output_dir / "pretraining_data"
    records = {}
    for split, text, dupe_factor in (
        ("train", train_text, 2),
        ("heldout", heldout_text, 1),
    ):
        records[split] = data_dir / f"{split}.tfrecord"
        summary = create_records_once(
            str(text),
            records[split],
            vocab_file,
            data_dir / f"{split}_summary.json",
            max_seq_length=DEMO_SEQUENCE_LENGTH,
            max_predictions_per_seq=DEMO_MAX_PREDICTIONS,
            dupe_factor=dupe_factor,
            random_seed=random_seed,
        )
        print(f"      {split}: {summary['instances']} instances")

    backbone_config = dict(vocabulary_size=tokenizer.vocabulary_size(), **DEMO_BACKBONE)
    _step(4, "Measuring the untrained model on held-out data")
    keras.utils.set_random_seed(random_seed)
    untrained = build_pretrainer(backbone_config=backbone_config)
    heldout = pretraining_dataset(
        str(records["heldout"]), 32, shuffle=False, drop_remainder=False
    )
    before = reported_metrics(untrained.evaluate(heldout, return_dict=True, verbose=0))
    del untrained

    _step(5, f"Pretraining for up to {train_minutes:g} minutes")
    after = run_pretraining(
        output_dir=str(run_dir),
        input_file=str(records["train"]),
        eval_input_file=str(records["heldout"]),
        backbone_config=backbone_config,
        vocab_file=str(vocab_file),
        dynamic_masking=True,
        train_batch_size=32,
        eval_batch_size=32,
        max_seq_length=DEMO_SEQUENCE_LENGTH,
        max_predictions_per_seq=DEMO_MAX_PREDICTIONS,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_train_steps // 10,
        max_eval_steps=10_000,
        learning_rate=1e-3,
        save_checkpoints_steps=250,
        random_seed=random_seed,
        time_budget_seconds=train_minutes * 60,
    )

    _step(6, "Masked-word predictions of the pretrained model")
    from keras_bert_impl.models.bert_pretrainer import BertPretrainer

    pretrained = BertPretrainer.from_preset(str(run_dir / RUN_MODEL_DIR))
    for example in _masked_word_predictions(pretrained, tokenizer, SHOWCASE_SENTENCES):
        guesses = ", ".join(f"{token} ({p:.1%})" for token, p in example["predictions"])
        print(
            f"      {example['text']}\n        answer: {example['answer']}; "
            f"model: {guesses}"
        )
    print(
        f"      finished in {time.monotonic() - started:.0f} s; "
        f"run directory: {run_dir} (TensorBoard logs, training_curves.png)"
    )
    keys = ("masked_lm_accuracy", "next_sentence_accuracy")
    return {
        "before": {k: before[k] for k in keys},
        "after": {k: after[k] for k in keys},
    }
