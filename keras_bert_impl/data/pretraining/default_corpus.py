"""The embedded default corpus: real English that ships with every Python.

Documents are the topics of the language reference (`pydoc_data.topics`) and
the docstrings of the standard library's modules, read with `ast` from the
source files (nothing is imported or executed). The text is written in the
original BERT input format: one sentence per line, a blank line between
documents.
"""

import ast
import pathlib
import re
import sysconfig

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
# Lines that are code, grammar rules, tables or section rules, not prose.
_NON_PROSE = re.compile(r"^(\s{2,}|>>>|\.\.\.|[*=\-~+|]{3,})")
MIN_SENTENCE_CHARS = 12
MIN_SENTENCES_PER_DOCUMENT = 2


def _prose_paragraphs(text):
    paragraph = []
    for line in text.splitlines():
        if not line.strip() or _NON_PROSE.match(line):
            if paragraph:
                yield " ".join(paragraph)
                paragraph = []
            continue
        paragraph.append(line.strip())
    if paragraph:
        yield " ".join(paragraph)


def split_sentences(text):
    """Splits prose into sentences (skipping code blocks and rules)."""
    sentences = []
    for paragraph in _prose_paragraphs(text):
        for sentence in _SENTENCE_END.split(paragraph):
            sentence = " ".join(sentence.split())
            if len(sentence) >= MIN_SENTENCE_CHARS:
                sentences.append(sentence)
    return sentences


def _topic_documents():
    import pydoc_data.topics

    for name in sorted(pydoc_data.topics.topics):
        yield split_sentences(pydoc_data.topics.topics[name])


def _docstrings(path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    nodes = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    return [doc for node in nodes if (doc := ast.get_docstring(node))]


def _stdlib_documents():
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    skipped = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo"}
    for path in sorted(stdlib.rglob("*.py")):
        if skipped.intersection(path.relative_to(stdlib).parts):
            continue
        sentences = [s for doc in _docstrings(path) for s in split_sentences(doc)]
        yield sentences


def default_corpus_documents(max_documents=None):
    """The corpus as a list of documents, each a list of sentences; deterministic."""
    documents = []
    for source in (_topic_documents(), _stdlib_documents()):
        for sentences in source:
            if len(sentences) >= MIN_SENTENCES_PER_DOCUMENT:
                documents.append(sentences)
                if max_documents and len(documents) >= max_documents:
                    return documents
    return documents


def write_documents(documents, path):
    """Writes documents in the original format; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n\n".join("\n".join(sentences) for sentences in documents))
        file.write("\n")
    return path


def write_default_corpus(directory, heldout_every=20):
    """Writes `train.txt` and `heldout.txt` (every `heldout_every`-th document).

    Returns:
        `(train_path, heldout_path, num_train_documents, num_heldout_documents)`.
    """
    documents = default_corpus_documents()
    if not documents:
        raise RuntimeError(
            "The embedded default corpus came out empty: this Python ships neither "
            "pydoc_data.topics nor standard-library sources."
        )
    heldout = documents[::heldout_every]
    train = [d for i, d in enumerate(documents) if i % heldout_every]
    directory = pathlib.Path(directory)
    return (
        write_documents(train, directory / "train.txt"),
        write_documents(heldout, directory / "heldout.txt"),
        len(train),
        len(heldout),
    )
