"""Outputs given as URLs: written locally, uploaded only once the command succeeded."""

import pathlib

import pytest

from keras_bert_impl.utils.remote_outputs import remote_output
from keras_bert_impl.utils.run_directory_lock import RunDirectoryError

pytest.importorskip("tensorflow")


@pytest.fixture(autouse=True)
def host_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _files(folder):
    return {
        path.relative_to(folder).as_posix(): path.read_text()
        for path in pathlib.Path(folder).rglob("*")
        if path.is_file()
    }


def _write_saved_model(folder, version):
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_text(f"graph {version}")
    (folder / "variables" / f"variables-{version}.index").write_text("index")


def test_a_folder_is_uploaded_when_the_command_succeeds(tmp_path):
    url = f"file://{tmp_path}/bucket/serving/1"
    with remote_output(url, "--out") as local:
        _write_saved_model(local, 1)
        assert not (tmp_path / "bucket").exists()  # nothing before it succeeded
    assert _files(tmp_path / "bucket" / "serving" / "1") == {
        "saved_model.pb": "graph 1",
        "variables/variables-1.index": "index",
    }
    assert not local.exists()


def test_a_failed_command_uploads_nothing(tmp_path):
    with (
        pytest.raises(RuntimeError),
        remote_output(f"file://{tmp_path}/bucket/model.onnx", "--out") as local,
    ):
        local.write_text("half a model")
        raise RuntimeError("the export failed")
    assert not (tmp_path / "bucket").exists()
    assert not local.exists()


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path, monkeypatch):
    import tensorflow as tf

    served = tmp_path / "bucket" / "serving"
    _write_saved_model(served, 1)
    with pytest.raises(RunDirectoryError, match="--out=file://.* --overwrite"):
        with remote_output(f"file://{served}", "--out"):
            raise AssertionError("the command ran before the output was refused")
    # Replaced: the new files first, then the old ones the new output lacks,
    # so the URL never holds nothing.
    events = []
    copy, remove = tf.io.gfile.copy, tf.io.gfile.remove
    monkeypatch.setattr(
        tf.io.gfile, "copy", lambda *a, **k: events.append("upload") or copy(*a, **k)
    )
    monkeypatch.setattr(
        tf.io.gfile, "remove", lambda path: events.append("delete") or remove(path)
    )
    with remote_output(f"file://{served}", "--out", overwrite=True) as local:
        _write_saved_model(local, 2)
    assert _files(served) == {
        "saved_model.pb": "graph 2",
        "variables/variables-2.index": "index",
    }
    assert events == ["upload", "upload", "delete"]


def test_an_output_holding_an_input_is_refused(tmp_path):
    url = f"file://{tmp_path}/bucket/run"
    for output in (url, f"file://{tmp_path}/bucket"):
        with pytest.raises(RunDirectoryError, match="holds the input"):
            with remote_output(output, "--out", overwrite=True, inputs=[url]):
                raise AssertionError("not refused")
    with remote_output(f"{url}/export", "--out", inputs=[url]) as local:
        local.write_text("inside the input's folder is fine")
