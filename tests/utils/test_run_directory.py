"""Run directories: nothing a user made is overwritten, one run at a time."""

import pathlib

import pytest

from keras_bert_impl.utils.file_io import atomic_write
from keras_bert_impl.utils.run_directory import MARKER_FILE
from keras_bert_impl.utils.run_directory import RunDirectoryError
from keras_bert_impl.utils.run_directory import check_new_output
from keras_bert_impl.utils.run_directory import check_output_directory
from keras_bert_impl.utils.run_directory import check_run_config
from keras_bert_impl.utils.run_directory import guarded_run
from keras_bert_impl.utils.run_directory_lock import LOCK_FILE


def test_a_new_or_empty_folder_is_taken_and_marked(tmp_path):
    check_output_directory(tmp_path / "run", "pretrain")
    check_output_directory(tmp_path / "run", "pretrain")  # A rerun resumes there.
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output_directory(empty, "finetune")


def test_a_users_folder_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(
        RunDirectoryError, match="--output_dir=.*did not write.*--overwrite"
    ):
        check_output_directory(tmp_path, "pretrain")
    check_output_directory(tmp_path, "pretrain", overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "mine"


def test_another_commands_folder_and_a_file_are_refused(tmp_path):
    check_output_directory(tmp_path / "run", "pretrain")
    (tmp_path / "run" / "ckpt").write_text("x")
    with pytest.raises(RunDirectoryError, match="keras-bert pretrain"):
        check_output_directory(tmp_path / "run", "export", flag="--out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        RunDirectoryError, match="--out=.*expected a folder, got a file"
    ):
        check_output_directory(tmp_path / "file", "export", flag="--out")


def test_a_rerun_with_other_settings_names_every_differing_field(tmp_path):
    settings = {"architecture": "tiny", "max_seq_length": 128, "learning_rate": 1e-4}
    keys = ("architecture", "max_seq_length")
    check_run_config(tmp_path, settings, keys)
    check_run_config(tmp_path, {**settings, "learning_rate": 5e-5}, keys)
    with pytest.raises(RunDirectoryError) as error:
        check_run_config(
            tmp_path, {**settings, "architecture": "base", "max_seq_length": 512}, keys
        )
    assert "architecture: recorded 'tiny', now 'base'" in str(error.value)
    assert "max_seq_length: recorded 128, now 512" in str(error.value)


def test_a_new_output_never_replaces_its_input_or_a_users_folder(tmp_path):
    source = tmp_path / "runs" / "sst2"
    source.mkdir(parents=True)
    for output in (tmp_path / "runs", source, tmp_path):
        with pytest.raises(RunDirectoryError, match="holds the input"):
            check_new_output(output, "--out", overwrite=True, inputs=[source])
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="--out=.*not empty.*--overwrite"):
        check_new_output(tmp_path / "serving", "--out", inputs=[source])
    check_new_output(tmp_path / "serving", "--out", overwrite=True, inputs=[source])
    check_new_output(tmp_path / "new", "--out", inputs=[source])


def test_a_run_failing_before_writing_removes_only_the_folder_it_made(tmp_path):
    @guarded_run("finetune")
    def failing_run(output_dir, write=False):
        if write:
            (pathlib.Path(output_dir) / "checkpoint").write_text("x")
        raise ValueError("bad flag")

    new = tmp_path / "new"
    with pytest.raises(ValueError, match="bad flag"):
        failing_run(new)
    assert not new.exists()
    # What a failing run wrote stays (a resume needs it), and so does a user's folder.
    with pytest.raises(ValueError):
        failing_run(new, write=True)
    assert (new / "checkpoint").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(ValueError):
        failing_run(mine)
    assert mine.is_dir() and not any(mine.iterdir())


def test_a_folder_with_only_keras_berts_own_files_is_not_a_users_folder(tmp_path):
    # What a job's other process may see while its chief marks the folder: a
    # staged marker, a lock. Neither makes the folder the user's.
    (tmp_path / LOCK_FILE).write_text("{}")
    with atomic_write(tmp_path / MARKER_FILE) as staged:
        staged.write("{")
        assert check_output_directory(tmp_path, "pretrain") == tmp_path
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".keras_bert_impl.json").unlink()
    with pytest.raises(RunDirectoryError, match="did not write"):
        check_output_directory(tmp_path, "pretrain")


def test_a_url_is_refused_naming_the_flag_and_nothing_is_written(tmp_path, monkeypatch):
    # pathlib reads gs://bucket/run as the local folder gs:/bucket/run.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunDirectoryError, match=r"--output_dir=gs://bucket/run: .*URL"):
        check_output_directory("gs://bucket/run", "pretrain")
    with pytest.raises(RunDirectoryError, match=r"--out=s3://bucket/model: .*gcsfuse"):
        check_new_output("s3://bucket/model", "--out")
    assert not list(tmp_path.iterdir())
