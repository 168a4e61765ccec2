"""A user's mistake on the command line is one line; --debug shows the traceback."""

import pytest

from keras_bert_impl import cli


def _create_pretraining_data_args(shared_data, tmp_path, *extra):
    return [
        "create-pretraining-data",
        f"--input_file={shared_data / 'bert_sample_text' / 'sample_text.txt'}",
        f"--output_file={tmp_path / 'out.tfrecord'}",
        f"--vocab_file={tmp_path}",
        *extra,
    ]


def test_directory_as_vocab_file_is_one_line_without_traceback(
    shared_data, tmp_path, capsys
):
    assert cli.main(_create_pretraining_data_args(shared_data, tmp_path)) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-bert create-pretraining-data: error:")
    assert f"--vocab_file {tmp_path} is a directory" in error
    assert "\n" not in error and "Traceback" not in error


def test_debug_shows_the_traceback(shared_data, tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        cli.main(_create_pretraining_data_args(shared_data, tmp_path, "--debug"))


def _commands():
    subparsers = next(a for a in cli.build_parser()._actions if a.choices)
    return subparsers.choices


def test_every_path_flag_takes_a_url():
    # Read through local copies or written then uploaded (`cli.URL_FLAGS`), or
    # read and written through tf.io.gfile by the code itself.
    through_gfile = {"output_dir", "input_file", "eval_input_file", "output_file"}
    named = {"model", "input", "preset", "source", "out", "output", "corpus"}
    named.add("init_checkpoint")
    for command, parser in _commands().items():
        inputs, outputs = cli.URL_FLAGS.get(command, ((), ()))
        flags = {action.dest for action in parser._actions if action.option_strings}
        assert set(inputs) | set(outputs) <= flags, command
        paths = {f for f in flags if f in named or f.endswith(("_file", "_dir"))}
        assert paths <= set(inputs) | set(outputs) | through_gfile, command
