"""`keras-bert convert --to FORMAT`: a checkpoint out into another library's format."""

import warnings

from keras_bert_impl.convert import load_checkpoint
from keras_bert_impl.convert import to_google_checkpoint
from keras_bert_impl.convert import to_huggingface
from keras_bert_impl.convert import to_keras_hub
from keras_bert_impl.convert.source_format import detect_source_format
from keras_bert_impl.convert.source_format import read_source_vocabulary
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.utils.run_directory import check_new_output
from keras_bert_impl.utils.vocabulary_file import read_vocabulary

TARGET_FORMATS = ("keras_hub", "huggingface", "google")


def convert_checkpoint(
    source, target_format, output, source_format="auto", overwrite=False
):
    """Writes the checkpoint at `source` as a `target_format` folder at `output`.

    The source is read as `keras-bert convert --preset` reads it (Google TF1,
    Hugging Face, keras-hub, a keras-bert preset or run); its vocabulary, when
    it has one, goes along (`vocab.txt`, or keras-hub's tokenizer asset).

    Returns:
        dict with `output`, `format` and the `model` class written.

    Example:
    ```python
    convert_checkpoint("runs/sst2", "huggingface", "sst2_hf")
    ```
    """
    if target_format not in TARGET_FORMATS:
        raise ValueError(
            f"--to={target_format}: expected one of {TARGET_FORMATS} (or keras_bert "
            "with --preset)."
        )
    if source_format == "auto":
        source_format = detect_source_format(source)
    output = check_new_output(output, "--output", overwrite, inputs=[source])
    model, _ = load_checkpoint(source, source_format)
    preprocessor = getattr(model, "preprocessor", None)
    file, tokens, _, lowercase = read_source_vocabulary(source, source_format)
    if preprocessor is None and (tokens is not None or file.is_file()):
        tokens = tokens if tokens is not None else read_vocabulary(file)
        tokenizer = BertTokenizer(tokens, lowercase=bool(lowercase))
        preprocessor = BertPreprocessor(tokenizer)
    if target_format == "keras_hub":
        if isinstance(model, BertPretrainer):
            # keras-hub has no next-sentence head, so no model for these heads.
            warnings.warn(
                "keras-hub has no BERT pretraining model (MLM + NSP): writing the "
                "backbone only.",
                stacklevel=2,
            )
            model = model.backbone
        to_keras_hub(model, output, preprocessor)
    elif target_format == "google":
        to_google_checkpoint(model, output, preprocessor)
    else:
        to_huggingface(model, output, preprocessor)
    return {
        "output": str(output),
        "format": target_format,
        "model": type(model).__name__,
    }
