"""Reader for CoNLL-2003 NER files: one `token POS chunk NER` line per token."""

import dataclasses
import re

from keras_bert_impl.data.data_format_error import DataFormatError
from keras_bert_impl.data.data_format_error import read_utf8_text

CONLL2003_NER_LABELS = (
    "O",
    "B-PER",
    "I-PER",
    "B-ORG",
    "I-ORG",
    "B-LOC",
    "I-LOC",
    "B-MISC",
    "I-MISC",
)
"""CoNLL-2003's NER tags in IOB2, in the order that gives class ids."""

_COLUMN_NAMES = "token POS chunk NER"
_DOCUMENT_START = "-DOCSTART-"
# Columns are separated by spaces (or tabs in some copies); other Unicode whitespace,
# such as a no-break space, can be part of a token, so str.split() is not used.
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")


@dataclasses.dataclass(frozen=True)
class ConllSentence:
    """One sentence of a CoNLL-2003 file, a tag per token in each tag column.

    Args:
        tokens: tuple of str. The words.
        pos_tags: tuple of str. Part-of-speech tags.
        chunk_tags: tuple of str. Syntactic chunk tags (IOB2 after reading).
        ner_tags: tuple of str. Named-entity tags, members of the label list (IOB2).
        start_line: int. 1-based line of the sentence's first token in the file.

    Example:

    >>> sentence = ConllSentence(("EU", "rejects"), ("NNP", "VBZ"), ("B-NP", "B-VP"),
    ...                          ("B-ORG", "O"), start_line=3)
    >>> list(zip(sentence.tokens, sentence.ner_tags))
    [('EU', 'B-ORG'), ('rejects', 'O')]
    """

    tokens: tuple[str, ...]
    pos_tags: tuple[str, ...]
    chunk_tags: tuple[str, ...]
    ner_tags: tuple[str, ...]
    start_line: int


def iob1_to_iob2(tags):
    """Rewrites one sentence's tags from IOB1 to IOB2.

    IOB1 (the original CoNLL-2003 release, `eng.train`/`eng.testa`/`eng.testb`) starts
    a chunk with `I-X` and uses `B-X` only for a chunk that directly follows another
    chunk of the same type X. IOB2 starts every chunk with `B-X`. So an `I-X` becomes
    `B-X` exactly when the token before it is not inside an X chunk: it is the
    sentence's first token, or follows `O`, or follows a tag of another type. `B-X`,
    `O` and an `I-X` that continues an X chunk are unchanged; valid IOB2 input comes
    back unchanged.

    Args:
        tags: sequence of str. One sentence's tags (`O`, `B-X`, `I-X`).

    Returns:
        list of str: the IOB2 tags.

    Example:

    >>> iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-MISC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC', 'B-MISC']
    """
    converted = []
    previous_type = None
    for tag in tags:
        if tag.startswith("I-") and tag[2:] != previous_type:
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous_type = tag[2:] if tag[:2] in ("B-", "I-") else None
    return converted


def read_conll2003(path, tag_scheme="iob2", label_list=CONLL2003_NER_LABELS):
    """Reads a CoNLL-2003 file into sentences, with chunk and NER tags in IOB2.

    Lines hold `token POS chunk NER` separated by spaces; blank lines end sentences;
    `-DOCSTART-` lines mark documents and are skipped (they also end a sentence).

    Args:
        path: str or path-like. The file (`train.txt`, `valid.txt`, `eng.testa`, ...).
        tag_scheme: `"iob2"` (the default; the common `train.txt`/`valid.txt`/
            `test.txt` copies) or `"iob1"` (the original release's `eng.*` files):
            IOB1 tags are rewritten to IOB2 by `iob1_to_iob2`, in both the chunk and
            the NER column. With `"iob2"`, an `I-X` NER tag that does not continue an
            X entity is an error, which is how IOB1 input shows itself.
        label_list: sequence of str. The allowed NER tags (after conversion).

    Returns:
        list of ConllSentence, in file order.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "eng.testa"
    >>> _ = path.write_text("-DOCSTART- -X- -X- O\\n\\n"
    ...                     "Peter NNP I-NP I-PER\\nBlackburn NNP I-NP I-PER\\n")
    >>> read_conll2003(path, tag_scheme="iob1")[0].ner_tags
    ('B-PER', 'I-PER')
    """
    if tag_scheme not in ("iob1", "iob2"):
        raise ValueError(f"tag_scheme must be 'iob1' or 'iob2', got {tag_scheme!r}")
    allowed_tags = frozenset(label_list)
    sentences = []
    rows = []
    text = read_utf8_text(path)
    # Split on "\n" only: str.splitlines would also break at \x1c, \x85, \u2028...
    lines = text.split("\n")
    for line_number, line in enumerate(lines, start=1):
        stripped = line.rstrip("\r").strip(" \t")
        fields = _COLUMN_SEPARATOR.split(stripped) if stripped else []
        if not fields or fields[0] == _DOCUMENT_START:
            _close_sentence(rows, sentences, path, tag_scheme, allowed_tags)
            continue
        if len(fields) != 4:
            raise DataFormatError(
                path,
                line_number,
                f"wrong number of space-separated columns ({_COLUMN_NAMES})",
                expected="4 columns",
                found=f"{len(fields)} columns: {line.rstrip()!r}",
            )
        rows.append((line_number, fields))
    _close_sentence(rows, sentences, path, tag_scheme, allowed_tags)
    return sentences


def _close_sentence(rows, sentences, path, tag_scheme, allowed_tags):
    """Turns the rows gathered so far into a sentence and empties `rows`."""
    if not rows:
        return
    line_numbers = [line_number for line_number, _ in rows]
    tokens, pos_tags, chunk_tags, ner_tags = (
        list(c) for c in zip(*(f for _, f in rows))
    )
    rows.clear()
    if tag_scheme == "iob1":
        chunk_tags = iob1_to_iob2(chunk_tags)
        ner_tags = iob1_to_iob2(ner_tags)
    previous_type = None
    for line_number, tag in zip(line_numbers, ner_tags):
        if tag not in allowed_tags:
            raise DataFormatError(
                path,
                line_number,
                "NER tag not in the label set",
                expected=sorted(allowed_tags),
                found=tag,
            )
        if tag.startswith("I-") and tag[2:] != previous_type:
            raise DataFormatError(
                path,
                line_number,
                f"{tag} does not continue an entity of type {tag[2:]}, which IOB2 "
                "forbids (an IOB1 file? read it with tag_scheme='iob1')",
                expected=f"B-{tag[2:]}",
                found=tag,
            )
        previous_type = tag[2:] if tag[:2] in ("B-", "I-") else None
    sentences.append(
        ConllSentence(
            tuple(tokens),
            tuple(pos_tags),
            tuple(chunk_tags),
            tuple(ner_tags),
            start_line=line_numbers[0],
        )
    )
