"""The `keras-bert` command.

Flags keep the names of google-research/bert's tools (`create_pretraining_data.py`,
`run_pretraining.py`, `run_classifier.py`) so existing scripts carry over.
Each subcommand that trains or evaluates ends with one JSON line of metrics.
"""

import argparse
import contextlib
import json
import os
import sys
import warnings

from keras_bert_impl.utils.remote_flags import flags_made_local
from keras_bert_impl.utils.remote_flags import named_by_url


def _bool(value):
    if isinstance(value, bool):
        return value
    if value.lower() in ("1", "true", "yes", "y"):
        return True
    if value.lower() in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _print_json(metrics):
    print(json.dumps(metrics, sort_keys=True), flush=True)


def _add_demo(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="pretrain a tiny BERT on the embedded default corpus, in minutes on a CPU",
    )
    parser.add_argument("--output_dir", default="runs/demo")
    parser.add_argument(
        "--train_minutes",
        type=float,
        default=4.0,
        help="wall-clock budget of the training phase",
    )
    parser.add_argument("--num_train_steps", type=int, default=3000)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.set_defaults(handler=_run_demo)


def _run_demo(args):
    from keras_bert_impl.recipes.demo import run_demo

    return run_demo(
        output_dir=args.output_dir,
        train_minutes=args.train_minutes,
        num_train_steps=args.num_train_steps,
        random_seed=args.random_seed,
    )


def _add_chinese_word_segmenter(parser):
    parser.add_argument(
        "--chinese_word_segmenter",
        choices=("jieba",),
        default=None,
        help="with --do_whole_word_mask=true: mask whole words of Chinese text as "
        "this segmenter cuts them (Chinese BERT-wwm; pip install jieba)",
    )


def _add_create_pretraining_data(subparsers):
    parser = subparsers.add_parser(
        "create-pretraining-data",
        help="masked-LM + next-sentence TFRecords from raw text (the original recipe)",
    )
    parser.add_argument("--input_file", required=True, help="comma-separated globs")
    parser.add_argument("--output_file", required=True, help="comma-separated paths")
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--do_lower_case", type=_bool, default=True)
    parser.add_argument("--do_whole_word_mask", type=_bool, default=False)
    _add_chinese_word_segmenter(parser)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--masked_lm_prob", type=float, default=0.15)
    parser.add_argument("--short_seq_prob", type=float, default=0.1)
    parser.add_argument("--dupe_factor", type=int, default=10)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument(
        "--num_workers", type=int, default=None, help="processes (default: all CPUs)"
    )
    parser.add_argument(
        "--pack_sequences",
        type=_bool,
        default=False,
        help="several instances per row (for pretrain; it detects packed files)",
    )
    parser.add_argument(
        "--max_instances_per_row",
        type=int,
        default=8,
        help="most instances in a packed row",
    )
    parser.set_defaults(handler=_run_create_pretraining_data)


def _run_create_pretraining_data(args):
    from keras_bert_impl.data import create_pretraining_data

    summary = create_pretraining_data(
        input_files=args.input_file,
        output_files=args.output_file,
        vocab_file=args.vocab_file,
        do_lower_case=args.do_lower_case,
        do_whole_word_mask=args.do_whole_word_mask,
        chinese_word_segmenter=args.chinese_word_segmenter,
        max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq,
        masked_lm_prob=args.masked_lm_prob,
        short_seq_prob=args.short_seq_prob,
        dupe_factor=args.dupe_factor,
        random_seed=args.random_seed,
        num_workers=args.num_workers,
        pack_sequences=args.pack_sequences,
        max_instances_per_row=args.max_instances_per_row,
    )
    return summary


def _add_pretrain(subparsers):
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain BERT (masked LM + next sentence); rerun to resume",
    )
    source = parser.add_argument_group("data: TFRecords or raw text")
    source.add_argument(
        "--input_file",
        help="TFRecords from create-pretraining-data (globs, commas; packed ones "
        "are detected)",
    )
    source.add_argument("--corpus", help="raw text files or folders (original format)")
    source.add_argument("--vocab_file", help="vocabulary for --corpus")
    source.add_argument("--do_lower_case", type=_bool, default=True)
    source.add_argument("--do_whole_word_mask", type=_bool, default=False)
    _add_chinese_word_segmenter(source)
    source.add_argument("--eval_input_file", help="held-out TFRecords for metrics")
    parser.add_argument("--output_dir", required=True)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--preset", help="architecture of a preset (trained from scratch)"
    )
    model.add_argument("--bert_config_file", help="an original bert_config.json")
    parser.add_argument("--init_checkpoint", help="weights to start from")
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--eval_batch_size", type=int, default=8)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--num_train_steps", type=int, default=100000)
    parser.add_argument("--num_warmup_steps", type=int, default=10000)
    parser.add_argument("--max_eval_steps", type=int, default=100)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--optimizer", choices=("adamw", "lamb"), default="adamw")
    parser.add_argument("--gradient_accumulation_steps", type=int, default=None)
    parser.add_argument("--save_checkpoints_steps", type=int, default=1000)
    parser.add_argument(
        "--iterations_per_loop", type=int, default=1, help="steps per execution"
    )
    _add_distribution_flags(parser)
    parser.add_argument("--model_parallel", type=int, default=1)
    parser.add_argument(
        "--dtype",
        default=None,
        help="dtype policy, e.g. mixed_bfloat16, or mixed_float16 (GPUs; with "
        "dynamic loss scaling)",
    )
    parser.add_argument("--random_seed", type=int, default=12345)
    _add_overwrite(parser, "--output_dir")
    parser.set_defaults(handler=_run_pretrain)


def _run_pretrain(args):
    from keras_bert_impl.recipes.run_pretraining import run_pretraining

    not_options = ("handler", "command", "debug", "own_process")
    options = {k: v for k, v in vars(args).items() if k not in not_options}
    return run_pretraining(**options)


def _add_distribution_flags(parser):
    parser.add_argument(
        "--strategy",
        default="default",
        help="tensorflow: default|mirrored|multiworker|tpu; "
        "jax: default|data_parallel|multiworker (several processes: see "
        "docs/distributed.md)",
    )
    parser.add_argument("--tpu_name", default=None)


def _add_finetune(subparsers):
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a preset on GLUE, CoNLL-2003, SQuAD or SWAG; rerun to resume",
    )
    parser.add_argument(
        "--task_name",
        required=True,
        help="a GLUE folder name (sst-2, mrpc, sts-b, ...), conll2003, squad, "
        "squad_v2 or swag",
    )
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--preset", required=True, help="preset name or folder")
    parser.add_argument("--vocab_file", help="vocabulary, when the preset has none")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--eval_batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--num_train_epochs", type=float, default=3.0)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--save_checkpoints_steps", type=int, default=1000)
    parser.add_argument(
        "--feature_layers",
        help="feature-based: comma-separated backbone layers (e.g. -4,-3,-2,-1) "
        "feeding the head of a frozen backbone",
    )
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument(
        "--doc_stride",
        type=int,
        default=128,
        help="squad: pieces between the starts of a context's windows",
    )
    parser.add_argument(
        "--max_query_length",
        type=int,
        help="squad: longest question in pieces (default 64, at most half the "
        "sequence)",
    )
    parser.add_argument(
        "--dtype",
        default=None,
        help="dtype policy, e.g. mixed_bfloat16, or mixed_float16 (GPUs; with "
        "dynamic loss scaling)",
    )
    _add_distribution_flags(parser)
    _add_overwrite(parser, "--output_dir")
    parser.set_defaults(handler=_run_finetune)


def _run_finetune(args):
    from keras_bert_impl.recipes.run_finetuning import run_finetuning

    feature_layers = None
    if args.feature_layers:
        feature_layers = tuple(int(i) for i in args.feature_layers.split(","))
    return run_finetuning(
        task_name=args.task_name,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        preset=args.preset,
        max_seq_length=args.max_seq_length,
        train_batch_size=args.train_batch_size,
        eval_batch_size=args.eval_batch_size,
        learning_rate=args.learning_rate,
        num_train_epochs=args.num_train_epochs,
        warmup_proportion=args.warmup_proportion,
        save_checkpoints_steps=args.save_checkpoints_steps,
        vocab_file=args.vocab_file,
        feature_layers=feature_layers,
        random_seed=args.random_seed,
        doc_stride=args.doc_stride,
        max_query_length=args.max_query_length,
        dtype=args.dtype,
        strategy=args.strategy,
        tpu_name=args.tpu_name,
        overwrite=args.overwrite,
    )


def _add_evaluate(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="dev metrics of a fine-tuned run directory"
    )
    parser.add_argument("--model", required=True, help="run directory of finetune")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--eval_batch_size", type=int, default=32)
    _add_inference_dtype(parser)
    parser.set_defaults(handler=_run_evaluate)


def _add_inference_dtype(parser):
    parser.add_argument(
        "--dtype",
        default=None,
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
        help="dtype policy to compute in (default: float32, as the run saved its "
        "weights); with mixed_bfloat16 on TensorFlow the weights stay in "
        "oneDNN's AMX layout for the command",
    )


def _run_evaluate(args):
    from keras_bert_impl.recipes.run_finetuning import run_evaluation

    return run_evaluation(
        args.model,
        args.data_dir,
        args.eval_batch_size,
        dtype=args.dtype,
        inference_only_process=args.own_process,
    )


def _add_predict(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="one JSON object per input line from a fine-tuned run",
        description="Prints one JSON object per input line: GLUE "
        '{"text_a", "text_b"} -> {"label", "probabilities"} (or {"score"}); '
        'conll2003 {"text_a"} (words separated by spaces) -> {"tags"}, one per '
        'word; squad, squad_v2 {"question", "context"} -> {"answer", "start", '
        '"end"}; swag {"sent1", "sent2", "ending0".."ending3"} (SWAG\'s CSV '
        'columns, sent2 optional) -> {"label": ending index, "probabilities"}. '
        'A plain text line reads as {"text_a": line}.',
    )
    parser.add_argument("--model", required=True, help="run directory of finetune")
    parser.add_argument(
        "--input",
        required=True,
        help="JSON lines (fields as above) or plain text lines",
    )
    parser.add_argument("--batch_size", type=int, default=32)
    _add_inference_dtype(parser)
    parser.set_defaults(handler=_run_predict)


def _run_predict(args):
    from keras_bert_impl.recipes.predict import run_prediction

    results = run_prediction(
        args.model,
        args.input,
        args.batch_size,
        dtype=args.dtype,
        inference_only_process=args.own_process,
    )
    for result in results:
        _print_json(result)
    return None


def _add_export(subparsers):
    parser = subparsers.add_parser(
        "export", help="a SavedModel, LiteRT or ONNX model that serves raw strings"
    )
    parser.add_argument("--model", required=True, help="run directory or preset")
    parser.add_argument(
        "--out",
        required=True,
        help="SavedModel directory, or the .tflite file with --format=litert, "
        "the .onnx file with --format=onnx",
    )
    parser.add_argument(
        "--format",
        default="saved_model",
        choices=("saved_model", "litert", "onnx"),
        help="saved_model (TF Serving, every model), litert (one .tflite) or "
        "onnx (one .onnx for ONNX Runtime); litert and onnx: classifiers and "
        "backbones",
    )
    parser.add_argument(
        "--quantize",
        choices=("int8",),
        default=None,
        help="litert, onnx: int8 weights and matmuls (the runtime's dynamic "
        "quantization)",
    )
    _add_overwrite(parser, "--out")
    parser.set_defaults(handler=_run_export)


def _run_export(args):
    from keras_bert_impl.recipes.export_from_run import export_from_run
    from keras_bert_impl.recipes.run_finetuning import run_export_options

    # A finetune run knows its labels, input arity and sequence length.
    options = run_export_options(args.model)
    if args.quantize:
        if args.format == "saved_model":
            raise ValueError(
                f"--quantize={args.quantize} applies to --format=litert or onnx, got "
                f"--format={args.format}. Quantize a SavedModel's model in Python "
                "(model.quantize('int8')) before exporting it."
            )
        options["quantize"] = args.quantize
    result = export_from_run(
        args.model, args.out, overwrite=args.overwrite, format=args.format, **options
    )
    return {args.format: str(result[args.format])}


def _add_convert(subparsers):
    parser = subparsers.add_parser(
        "convert",
        help="a Google TF1, Hugging Face, keras-hub or keras-bert checkpoint "
        "into a preset",
    )
    parser.add_argument(
        "--source",
        required=True,
        help="checkpoint folder (a task preset also takes a finetune run)",
    )
    parser.add_argument(
        "--to",
        choices=("keras_bert", "keras_hub", "huggingface", "google"),
        default="keras_bert",
        help="format written: a keras-bert preset (--preset), or another "
        "library's folder (--output)",
    )
    parser.add_argument(
        "--preset", help="with --to=keras_bert: preset name (cache) or folder"
    )
    parser.add_argument("--output", help="with another --to: the folder to write")
    parser.add_argument(
        "--source_format",
        choices=("auto", "google", "huggingface", "keras_hub", "keras_bert"),
        default="auto",
    )
    _add_overwrite(parser, "--preset or --output")
    parser.set_defaults(handler=_run_convert)


def _add_overwrite(parser, flag):
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace an existing non-empty {flag} (never one holding the input)",
    )


def _run_convert(args):
    if args.to == "keras_bert":
        from keras_bert_impl.recipes.convert_to_preset import convert_to_preset

        if args.preset is None or args.output is not None:
            raise ValueError(
                "--to=keras_bert writes a preset: pass --preset=NAME_OR_DIR (not "
                "--output), or --to=keras_hub|huggingface|google with --output=DIR."
            )
        path = convert_to_preset(
            args.source,
            args.preset,
            source_format=args.source_format,
            overwrite=args.overwrite,
        )
        return {"preset": str(path)}
    from keras_bert_impl.recipes.convert_checkpoint import convert_checkpoint

    if args.output is None or args.preset is not None:
        raise ValueError(
            f"--to={args.to} writes a folder: pass --output=DIR (not --preset)."
        )
    return convert_checkpoint(
        args.source, args.to, args.output, args.source_format, args.overwrite
    )


def _add_presets(subparsers):
    parser = subparsers.add_parser("presets", help="list presets and their weights")
    parser.set_defaults(handler=_run_presets)


def _run_presets(args):
    from keras_bert_impl.presets import list_presets

    rows = list_presets()
    width = max((len(row["name"]) for row in rows), default=4)
    task_width = max((len(row["task"] or "backbone") for row in rows), default=4)
    print(f"{'name':<{width}}  {'task':<{task_width}}  {'parameters':>12}  weights")
    for row in rows:
        weights = "present" if row["weights_present"] else "absent"
        task = row["task"] or "backbone"
        print(
            f"{row['name']:<{width}}  {task:<{task_width}}  "
            f"{row['parameters']:>12,}  {weights}"
        )
    return None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-bert",
        description="BERT in Keras 3: pretraining, fine-tuning, conversion, export.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_demo,
        _add_create_pretraining_data,
        _add_pretrain,
        _add_finetune,
        _add_evaluate,
        _add_predict,
        _add_convert,
        _add_export,
        _add_presets,
    ):
        add(subparsers)
    for command in subparsers.choices.values():
        command.add_argument(
            "--debug",
            action="store_true",
            help="show the Python traceback of an error instead of one line",
        )
    return parser


# Per command, the flags naming its inputs and its outputs that may be URLs
# (`gs://...`): inputs are read from local copies, outputs written locally and
# uploaded when the command succeeds. (`--output_dir` and the TFRecord flags
# take URLs themselves.)
URL_FLAGS = {
    "create-pretraining-data": (("vocab_file",), ()),
    "pretrain": (
        ("corpus", "vocab_file", "preset", "bert_config_file", "init_checkpoint"),
        (),
    ),
    "finetune": (("data_dir", "preset", "vocab_file"), ()),
    "evaluate": (("model", "data_dir"), ()),
    "predict": (("model", "input"), ()),
    "export": (("model",), ("out",)),
    "convert": (("source",), ("preset", "output")),
}
# A run folder's parts that `evaluate`, `predict` and `export` never read
# (they read `model/`, `run_config.json` and `vocab.txt`): not downloaded.
URL_INPUT_SKIPS = {"model": ("checkpoints", "logs")}


def main(argv=None, own_process=False):
    """Runs one `keras-bert` subcommand; returns the exit status.

    `own_process=True` (the `keras-bert` command) says the process runs this
    subcommand alone, so `predict` and `evaluate` may set process-wide
    inference settings (`utils/inference_process.py`) that would be wrong for
    a caller that trains afterwards.
    """
    args = build_parser().parse_args(argv)
    args.own_process = own_process
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Keras warns that a finite evaluation dataset "ran out of data" when it
    # ends, which is how evaluation is meant to end.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    try:
        with contextlib.ExitStack() as uploads:
            inputs, outputs = URL_FLAGS.get(args.command, ((), ()))
            written = flags_made_local(args, inputs, outputs, uploads, URL_INPUT_SKIPS)
            metrics = args.handler(args)
        metrics = named_by_url(metrics, written)
    except (ValueError, OSError) as error:
        # Bad input (a wrong value, a missing file, a directory where a file
        # belongs) is reported in one line that names the problem.
        if args.debug:
            raise
        print(f"keras-bert {args.command}: error: {error}", file=sys.stderr)
        return 2
    if metrics is not None:
        _print_json(metrics)
    return 0


def console_main():
    """The `keras-bert` console command: one subcommand in its own process."""
    return main(own_process=True)


if __name__ == "__main__":
    sys.exit(console_main())
