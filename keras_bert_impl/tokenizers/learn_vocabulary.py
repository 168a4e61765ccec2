"""Learning a WordPiece vocabulary that fits `BertTokenizer`."""

import os

DEFAULT_RESERVED_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _is_path(x):
    return isinstance(x, os.PathLike) or (isinstance(x, str) and os.path.isfile(x))


def _batches(texts_or_files, batch_size):
    """Yields lists of strings from files, texts or a `tf.data.Dataset`."""
    import tensorflow as tf

    if isinstance(texts_or_files, tf.data.Dataset):
        dataset = texts_or_files
        while dataset.element_spec.shape.rank:
            dataset = dataset.unbatch()
        for batch in dataset.batch(batch_size).as_numpy_iterator():
            yield list(batch)
        return
    if isinstance(texts_or_files, (str, os.PathLike)):
        if not _is_path(texts_or_files):
            raise ValueError(f"No such file: {os.fspath(texts_or_files)!r}")
        texts_or_files = [texts_or_files]
    items = list(texts_or_files)
    if items and all(_is_path(x) for x in items):
        for path in items:
            with open(path, encoding="utf-8", errors="replace") as f:
                batch = []
                for line in f:
                    batch.append(line)
                    if len(batch) == batch_size:
                        yield batch
                        batch = []
                if batch:
                    yield batch
        return
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def _learn(learner, counts, size, reserved_tokens, learn_params):
    """tensorflow-text's learner, with its threshold search bracketed first.

    The learner binary-searches the count threshold between `lower_thresh`
    (10) and the largest word count, each probe a full learning run. Every
    word counted at least `t` times becomes a token at threshold `t`, so the
    answer lies above the `(size + 1)`-th largest word count: probing upwards
    from there by doubling brackets the answer in a few runs, and the
    learner's own search then runs inside the bracket. Explicit
    `upper_thresh`/`lower_thresh` skip the bracketing.
    """
    params = dict(learn_params)
    if "upper_thresh" in params:
        return learner.learn(counts, size, reserved_tokens, **params)
    lower = params.pop("lower_thresh", 10)
    slack = size * params.get("slack_ratio", 0.05)
    top = max(counts.values())

    def vocabulary_at(threshold):
        return learner.learn(
            counts,
            size,
            reserved_tokens,
            upper_thresh=threshold,
            lower_thresh=threshold,
            **params,
        )

    ranked = sorted(counts.values(), reverse=True)
    probe = max(lower, ranked[size] + 1 if len(ranked) > size else lower)
    previous = lower
    while True:
        vocabulary = vocabulary_at(probe)
        if len(vocabulary) <= size:
            if size - len(vocabulary) <= slack or probe <= previous:
                return vocabulary
            break
        if probe >= top:
            return vocabulary
        previous, probe = probe + 1, min(2 * probe, top)
    return learner.learn(
        counts,
        size,
        reserved_tokens,
        upper_thresh=probe,
        lower_thresh=previous if previous < probe else lower,
        **params,
    )


def learn_vocabulary(
    texts_or_files,
    vocabulary_size,
    lowercase=True,
    strip_accents=None,
    split_on_cjk=True,
    reserved_tokens=DEFAULT_RESERVED_TOKENS,
    output_file=None,
    batch_size=8192,
    **learn_params,
):
    """Learns a WordPiece vocabulary from text, for `BertTokenizer`.

    The text is split into words with exactly the normalisation of
    `BertTokenizer(lowercase=..., strip_accents=..., split_on_cjk=...)`
    (cleaning, casing, accents, CJK and punctuation splitting), words are
    counted, and the vocabulary is learned by tensorflow-text's WordPiece
    learner (`tensorflow_text.tools.wordpiece_vocab`, the algorithm behind
    `bert_vocab_from_dataset`). The result starts with `reserved_tokens`,
    then every single character kept (bare and with the `##` prefix), then
    the learned pieces by decreasing frequency.

    Args:
        texts_or_files: a path or list of paths to text files (one text per
            line), an iterable of strings, or a `tf.data.Dataset` of strings.
        vocabulary_size: the maximum vocabulary size; the learner lands
            within `slack_ratio` (default 5%) below it.
        lowercase, strip_accents, split_on_cjk: the `BertTokenizer` settings
            the vocabulary is for.
        reserved_tokens: tokens placed first, in order (ids 0, 1, ...).
        output_file: if given, the vocabulary is written there as a standard
            vocab.txt (one token per line, UTF-8).
        batch_size: texts normalised per tf call.
        **learn_params: passed to the learner
            (`wordpiece_tokenizer_learner_lib.learn`): `upper_thresh`,
            `lower_thresh`, `num_iterations`, `max_input_tokens`,
            `max_token_length`, `max_unique_chars`, `slack_ratio`.

    Returns:
        The vocabulary, a list of strings.

    Example:
    >>> vocab = learn_vocabulary(
    ...     ["The quick brown fox.", "The lazy dog."] * 50, vocabulary_size=60
    ... )
    >>> vocab[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    >>> BertTokenizer(vocab).tokenize("The fox.")  # doctest: +SKIP
    """
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab import (
        wordpiece_tokenizer_learner_lib as learner,
    )

    from keras_bert_impl.tokenizers._bert_normalizer import Normalizer

    if int(vocabulary_size) <= len(reserved_tokens):
        raise ValueError(
            "`vocabulary_size` must exceed the number of reserved tokens "
            f"({len(reserved_tokens)}). Received: {vocabulary_size}"
        )
    normalizer = Normalizer(lowercase, strip_accents, split_on_cjk)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split_words(texts):
        words = normalizer.split(texts)["words"]
        return tf.strings.unicode_encode(words, "UTF-8")

    def word_arrays():
        for batch in _batches(texts_or_files, batch_size):
            batch = [t if isinstance(t, bytes) else str(t) for t in batch]
            yield split_words(tf.constant(batch)).numpy()

    try:
        counts = learner.count_words(word_arrays())
    except StopIteration:  # raised by count_words when there are no words
        counts = None
    if not counts:
        raise ValueError("No words found in `texts_or_files`.")
    vocabulary = _learn(
        learner, counts, int(vocabulary_size), list(reserved_tokens), learn_params
    )
    if output_file is not None:
        with open(output_file, "w", encoding="utf-8") as f:
            for token in vocabulary:
                f.write(token + "\n")
    return vocabulary
