"""README's "Coming from keras-hub" / "Coming from Hugging Face" snippets run.

Our snippets (the code blocks after `*keras_bert_impl:*`) run in order in one
namespace, offline, in a folder holding the local checkpoints they name: a
tiny folder written by transformers (`./my_bert`) and one by keras-hub
(`./my_keras_hub_preset`). A snippet repeated in the second section runs once,
so the real MiniLM weights load once.
"""

import pathlib
import re

import pytest

from tests import huggingface_reference
from tests.bert_test_case import TINY_BACKBONE_CONFIG
from tests.bert_test_case import TINY_VOCABULARY
from tests.convert import google_reference

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = ("## Coming from keras-hub", "## Coming from Hugging Face")
OUR_SNIPPET = re.compile(r"\*keras_bert_impl:\*\n```python\n(.*?)```", re.DOTALL)


def our_snippets():
    text = README.read_text(encoding="utf-8")
    snippets = []
    for heading in SECTIONS:
        assert heading in text, f"README.md lost its section {heading!r}"
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        found = OUR_SNIPPET.findall(section)
        assert len(found) == 3, f"{heading}: expected 3 snippets, found {len(found)}"
        snippets += [s for s in found if s not in snippets]
    return snippets


@pytest.fixture
def checkpoint_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    huggingface_reference.random_bert_for_pretraining(tmp_path / "my_bert")
    size = huggingface_reference.TINY_CONFIG["vocab_size"]
    vocabulary = google_reference.tiny_vocabulary(size)
    (tmp_path / "my_bert" / "vocab.txt").write_text(
        "".join(f"{t}\n" for t in vocabulary)
    )
    keras_hub = pytest.importorskip("keras_hub")
    folder = str(tmp_path / "my_keras_hub_preset")
    config = {**TINY_BACKBONE_CONFIG, "vocabulary_size": len(TINY_VOCABULARY)}
    keras_hub.models.BertBackbone(**config).save_to_preset(folder)
    keras_hub.models.BertTokenizer(vocabulary=TINY_VOCABULARY).save_to_preset(folder)


def test_our_readme_snippets_run(checkpoint_folders):
    namespace = {}
    for snippet in our_snippets():
        exec(compile(snippet, str(README), "exec"), namespace)
    assert namespace["classifier"].predict(["word1"], verbose=0).shape == (1, 2)
    assert namespace["tokenizer"].get_vocabulary() == TINY_VOCABULARY
