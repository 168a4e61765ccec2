"""The shipped presets as the tests know them, and the script that writes them."""

import importlib.util
import json
import pathlib

from keras_bert_impl.utils.preset_files import shipped_presets_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]

# DESIGN.md's numbers; the rest are those of each release's architecture.
DOCUMENTED_PARAMETERS = {
    "bert_tiny_en_uncased": 4_385_920,
    "bert_mini_en_uncased": 11_170_560,
    "bert_small_en_uncased": 28_763_648,
    "bert_medium_en_uncased": 41_373_184,
    "bert_base_en_uncased": 109_482_240,
    "bert_base_en": 108_310_272,
    "bert_large_en_uncased": 335_141_888,
    "bert_large_en": 333_579_264,
    "bert_large_en_uncased_wwm": 335_141_888,
    "bert_base_zh": 102_267_648,
    "bert_base_multi": 177_853_440,
    "all_minilm_l6_v2": 22_713_216,
    # Task presets: the backbone plus one dense layer (hidden x outputs + bias),
    # e.g. transformers' BertForSequenceClassification(bert-base-uncased):
    # 109,483,778.
    "bert_base_en_uncased_sst2": 109_483_778,
    "bert_base_en_uncased_mrpc": 109_483_778,
    "bert_base_en_uncased_squad": 109_483_778,
    "bert_large_en_uncased_wwm_squad": 335_143_938,
    "bert_base_en_conll2003": 108_317_193,
}
TASK_PRESETS = {
    "bert_base_en_uncased_sst2": "BertClassifier",
    "bert_base_en_uncased_mrpc": "BertClassifier",
    "bert_base_en_uncased_squad": "BertQuestionAnswerer",
    "bert_large_en_uncased_wwm_squad": "BertQuestionAnswerer",
    "bert_base_en_conll2003": "BertTokenClassifier",
}


def shipped(name, file_name):
    """A shipped preset's JSON file, parsed."""
    return json.loads((shipped_presets_dir() / name / file_name).read_text())


def _import_script(path):
    # tools/ holds scripts, not a package: import the file by its path.
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The generator of the shipped folders (`write_shipped_presets`, `main`).
write_presets = _import_script(ROOT / "tools" / "write_presets.py")
