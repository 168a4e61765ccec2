"""NER features: words to WordPiece inputs with first-sub-token labels, and back."""

import numpy as np

from keras_bert_impl.data import _featurization
from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
from keras_bert_impl.data.conll import ConllSentence

IGNORE_INDEX = -100
"""Label of the positions that carry no tag: the loss and metrics skip them."""


class NerFeaturizer:
    """Turns tagged sentences into `BertTokenClassifier` inputs and labels.

    The paper's CoNLL-2003 setup: each word is tokenized on its own into
    WordPieces, the sentence is packed as `[CLS] pieces [SEP]`, and only the
    first sub-token of each word carries the word's tag; the other sub-tokens,
    `[CLS]`, `[SEP]` and padding are labeled `ignore_index` (-100), which
    `BertTokenClassifier` leaves out of its loss and accuracy. A prediction
    for a word is read at its first sub-token (`predictions_to_tags`).

    A sentence longer than `sequence_length - 2` pieces is cut; the words
    whose first piece falls beyond the cut, and words with no piece at all
    (e.g. made only of control characters), get `default_tag` when mapped
    back. `featurize` counts both in its result.

    Args:
        tokenizer: `BertTokenizer` (`tokenize`, `cls_token_id`,
            `sep_token_id`, `pad_token_id`).
        label_list: sequence of str. The tags; a tag's index is its class id.
        sequence_length: int. Padded length of every sequence.
        default_tag: str. Tag of words that have no prediction.

    Example:
    ```python
    featurizer = NerFeaturizer(tokenizer, CONLL2003_NER_LABELS, sequence_length=128)
    features = featurizer.featurize(read_conll2003("train.txt"))
    tagger.fit(features["x"], features["labels"])
    tags = featurizer.predictions_to_tags(tagger.predict(features["x"]), features)
    compute_ner_metrics(tags, [s.ner_tags for s in sentences])
    ```
    """

    def __init__(
        self,
        tokenizer,
        label_list=CONLL2003_NER_LABELS,
        sequence_length=128,
        default_tag="O",
    ):
        if sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3, got {sequence_length}")
        self.tokenizer = tokenizer
        self.label_list = tuple(label_list)
        self.sequence_length = int(sequence_length)
        self.default_tag = default_tag
        self._label_ids = {label: index for index, label in enumerate(self.label_list)}

    def featurize(self, sentences, tags=None):
        """Inputs, labels and word positions for a list of sentences.

        Args:
            sentences: list of `ConllSentence` (tags taken from `ner_tags`), or
                list of word lists.
            tags: optional list of tag lists (for word lists); None for
                unlabeled text.

        Returns:
            dict with `x` (the backbone's input dict, `(n, sequence_length)`
            int32 arrays), `labels` (`(n, sequence_length)` int32 class ids,
            -100 off the first sub-tokens; None without tags), `word_starts`
            (`(n, max_words)` int32: position of each word's first sub-token,
            -1 for none), `num_words` (`(n,)` int32), `truncated_words` and
            `empty_words` (counts of words without a labeled position).
        """
        words, tags = self._words_and_tags(sentences, tags)
        flat_words = [word for sentence in words for word in sentence]
        flat_pieces = _featurization.tokenize_batch(self.tokenizer, flat_words)
        max_pieces = self.sequence_length - 2
        max_words = max((len(sentence) for sentence in words), default=0)
        rows, label_rows = [], []
        word_starts = np.full((len(words), max(max_words, 1)), -1, np.int32)
        truncated = empty = 0
        cursor = 0
        for index, sentence in enumerate(words):
            pieces = []
            labels = [IGNORE_INDEX]  # [CLS]
            for word_index in range(len(sentence)):
                word_pieces = flat_pieces[cursor + word_index]
                if not word_pieces:
                    empty += 1
                    continue
                if len(pieces) >= max_pieces:
                    truncated += 1
                    continue
                word_starts[index, word_index] = len(pieces) + 1
                label = IGNORE_INDEX
                if tags is not None:
                    label = self._label_id(tags[index][word_index], index, word_index)
                labels += [label] + [IGNORE_INDEX] * (len(word_pieces) - 1)
                pieces += word_pieces
            cursor += len(sentence)
            pieces = pieces[:max_pieces]
            labels = labels[: max_pieces + 1]
            rows.append(
                _featurization.pack(self.tokenizer, pieces, None, self.sequence_length)
            )
            padded = np.full(self.sequence_length, IGNORE_INDEX, np.int32)
            padded[: len(labels)] = labels
            label_rows.append(padded)
        return {
            "x": _featurization.stack_inputs(rows),
            "labels": np.stack(label_rows) if tags is not None else None,
            "word_starts": word_starts,
            "num_words": np.array([len(s) for s in words], np.int32),
            "truncated_words": truncated,
            "empty_words": empty,
        }

    def predictions_to_tags(self, predictions, features):
        """Word-level tags from token-level predictions.

        Args:
            predictions: logits or probabilities `(n, sequence, num_classes)`,
                or class ids `(n, sequence)`.
            features: the dict `featurize` returned for the same sentences.

        Returns:
            list of lists of tag strings, one tag per word of each sentence.
        """
        predictions = np.asarray(predictions)
        if predictions.ndim == 3:
            predictions = predictions.argmax(axis=-1)
        word_starts = features["word_starts"]
        result = []
        for index, num_words in enumerate(features["num_words"]):
            sentence_tags = []
            for word_index in range(int(num_words)):
                position = word_starts[index, word_index]
                if position < 0:
                    sentence_tags.append(self.default_tag)
                else:
                    class_id = int(predictions[index, position])
                    sentence_tags.append(self.label_list[class_id])
            result.append(sentence_tags)
        return result

    def _words_and_tags(self, sentences, tags):
        sentences = list(sentences)
        if sentences and isinstance(sentences[0], ConllSentence):
            if tags is None:
                tags = [sentence.ner_tags for sentence in sentences]
            sentences = [sentence.tokens for sentence in sentences]
        words = [list(sentence) for sentence in sentences]
        if tags is not None:
            tags = [list(sentence_tags) for sentence_tags in tags]
            if len(tags) != len(words):
                raise ValueError(
                    f"{len(words)} sentences but {len(tags)} tag sequences were given."
                )
            for index, (sentence, sentence_tags) in enumerate(zip(words, tags)):
                if len(sentence) != len(sentence_tags):
                    raise ValueError(
                        f"Sentence {index} has {len(sentence)} words but "
                        f"{len(sentence_tags)} tags."
                    )
        return words, tags

    def _label_id(self, tag, sentence_index, word_index):
        if tag not in self._label_ids:
            raise ValueError(
                f"Sentence {sentence_index}, word {word_index}: tag {tag!r} is not "
                f"in the label list {list(self.label_list)}."
            )
        return self._label_ids[tag]
