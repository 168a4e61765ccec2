"""Atomic writes, staged folders that clean up after killed writers, JSON errors."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import staged_directory
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.preset_files import available_presets


def test_write_json_round_trips_and_leaves_no_temporary_file(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert read_json(tmp_path / "a.json") == {"a": [1, 2], "b": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_invalid_json_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json:1:2: expected valid JSON"):
        read_json(tmp_path / "config.json")


def test_invalid_json_names_the_line_and_column(tmp_path):
    (tmp_path / "task.json").write_text('{\n  "task": "glue",\n  "labels": [1, 2,]\n}')
    with pytest.raises(ValueError, match=r"task\.json:3:19: expected valid JSON"):
        read_json(tmp_path / "task.json")
    (tmp_path / "run_config.json").write_bytes(b'{\n  "name": "caf\xe9"\n}')
    with pytest.raises(ValueError, match=r"run_config\.json:2:15: expected UTF-8 JSON"):
        read_json(tmp_path / "run_config.json")


def test_a_failed_staged_write_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "preset"
    target.mkdir()
    (target / "old").write_text("kept")
    with pytest.raises(RuntimeError):
        with staged_directory(target) as staging:
            (staging / "new").write_text("x")
            raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["preset"]
    assert (target / "old").read_text() == "kept"


def test_a_killed_writers_folder_is_removed_by_the_next_write(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_HOME", str(tmp_path))
    script = textwrap.dedent(f"""
        import os, signal
        from keras_bert_impl.utils.file_io import staged_directory
        with staged_directory({str(tmp_path / "mine")!r}) as staging:
            (staging / "config.json").write_text("{{}}")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".mine.partial-")
    assert "mine" not in available_presets()  # Never listed as a preset.
    with staged_directory(tmp_path / "mine") as staging:
        (staging / "config.json").write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_a_live_writers_folder_is_left_alone(tmp_path):
    live = tmp_path / f".mine.partial-{os.getpid()}-abc"
    live.mkdir()
    with staged_directory(tmp_path / "mine"):
        pass
    assert live.is_dir()
