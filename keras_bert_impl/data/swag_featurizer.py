"""SWAG features: each ending packed with its context, choices stacked."""

import numpy as np

from keras_bert_impl.data import _featurization


class SwagFeaturizer:
    """Turns `SwagExample`s into `BertMultipleChoice` inputs `(n, choices, length)`.

    As the reference SWAG fine-tuning (the paper's setup): for each candidate
    ending, segment A is the context (`sent1`) and segment B the shared start
    of the second sentence (`sent2`) followed by the ending; the pair is cut
    `longest_first` (one piece off the end of the longer segment at a time)
    to fit `[CLS] A [SEP] B [SEP]` in `sequence_length`.

    Args:
        tokenizer: `BertTokenizer` (`tokenize` and the `cls`/`sep`/`pad`
            token ids).
        sequence_length: int. Padded length of each packed choice.

    Example:
    ```python
    featurizer = SwagFeaturizer(tokenizer, sequence_length=128)
    features = featurizer.featurize(read_swag("train.csv"))
    model = BertMultipleChoice(backbone, num_choices=4)
    model.fit(features["x"], features["labels"], batch_size=16)
    ```
    """

    def __init__(self, tokenizer, sequence_length=128):
        if sequence_length < 4:
            raise ValueError(f"sequence_length must be >= 4, got {sequence_length}")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)

    def featurize(self, examples):
        """Packed choices of a list of `SwagExample` (from `read_swag`).

        Returns:
            dict with `x` (the backbone's input dict, each array
            `(n, num_choices, sequence_length)` int32) and `labels` (`(n,)`
            int32 index of the right ending; None when any example has no
            label, as in the test file).
        """
        examples = list(examples)
        if not examples:
            raise ValueError("Nothing to featurize: no examples were given.")
        num_choices = len(examples[0].choices)
        texts = []
        for example in examples:
            if len(example.choices) != num_choices:
                raise ValueError(
                    f"Example {example.video_id}/{example.fold_index} has "
                    f"{len(example.choices)} choices, the first one {num_choices}."
                )
            texts.append(example.context)
            texts.extend(example.choices)
        pieces = _featurization.tokenize_batch(self.tokenizer, texts)
        rows = []
        stride = num_choices + 1
        for index in range(len(examples)):
            context = pieces[index * stride]
            for choice in pieces[index * stride + 1 : (index + 1) * stride]:
                first, second = list(context), list(choice)
                _featurization.truncate_longest_first(
                    first, second, self.sequence_length - 3
                )
                rows.append(
                    _featurization.pack(
                        self.tokenizer, first, second, self.sequence_length
                    )
                )
        x = {
            name: value.reshape(len(examples), num_choices, self.sequence_length)
            for name, value in _featurization.stack_inputs(rows).items()
        }
        labels = None
        if all(example.label is not None for example in examples):
            labels = np.array([example.label for example in examples], np.int32)
        return {"x": x, "labels": labels}
