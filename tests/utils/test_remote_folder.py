"""Run directories on object stores: a local mirror, synced through tf.io.gfile.

`file://` URLs take the same `tf.io.gfile` calls as `gs://` without a bucket
(TensorFlow's in-memory `ram://` appends where a write should replace).
"""

import os
import pathlib

import pytest

from keras_bert_impl.utils.remote_folder import DOWNLOADS_FILE
from keras_bert_impl.utils.remote_folder import RemoteFolder
from keras_bert_impl.utils.remote_folder import mirror_folder
from keras_bert_impl.utils.remote_folder import remote_folder_of
from keras_bert_impl.utils.run_directory import MARKER_FILE
from keras_bert_impl.utils.run_directory import RunDirectoryError
from keras_bert_impl.utils.run_directory import guarded_run
from tests.utils.recorded_gfile import recorded_copies

pytest.importorskip("tensorflow")


@pytest.fixture(autouse=True)
def host_cache(tmp_path, monkeypatch):
    """This host's cache, where mirrors live; no lock settling wait."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "host-a-cache"))
    monkeypatch.setattr(
        "keras_bert_impl.utils.run_directory_lock.REMOTE_LOCK_SETTLE_S", 0.0
    )
    return tmp_path / "host-a-cache"


def _files(folder):
    folder = pathlib.Path(folder)
    return {
        path.relative_to(folder).as_posix(): path.read_text()
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_push_uploads_what_changed_and_deletes_only_what_the_run_deleted(tmp_path):
    bucket = tmp_path / "bucket" / "run"
    bucket.mkdir(parents=True)
    (bucket / "notes.txt").write_text("the user's")
    folder = RemoteFolder(f"file://{bucket}", tmp_path / "mirror")
    folder.pull()
    local = folder.local
    (local / "checkpoints").mkdir()
    (local / "checkpoints" / "ckpt-2.weights.h5").write_text("step 2")
    (local / MARKER_FILE).write_text('{"command": "pretrain"}')
    (local / ".keras_bert_impl.lock").write_text("{}")  # a process's own
    (local / "checkpoints" / ".tmp-9-ckpt-4.weights.h5").write_text("half")
    folder.push()
    assert _files(bucket) == {
        "notes.txt": "the user's",
        "checkpoints/ckpt-2.weights.h5": "step 2",
        MARKER_FILE: '{"command": "pretrain"}',
    }
    # A newer checkpoint replaces the old one, as the run rotates them; a
    # file that appeared in the bucket meanwhile was never seen: it stays.
    (bucket / "added_meanwhile.txt").write_text("someone's")
    (local / "checkpoints" / "ckpt-2.weights.h5").unlink()
    (local / "checkpoints" / "ckpt-4.weights.h5").write_text("step 4")
    (local / "notes.txt").unlink()  # pulled, then deleted by the run
    folder.push()
    assert set(_files(bucket)) == {
        "added_meanwhile.txt",
        "checkpoints/ckpt-4.weights.h5",
        MARKER_FILE,
    }


def test_pull_makes_the_mirror_what_the_folder_holds(tmp_path):
    bucket = tmp_path / "bucket"
    (bucket / "checkpoints").mkdir(parents=True)
    (bucket / "checkpoints" / "ckpt-4.weights.h5").write_text("step 4")
    (bucket / "eval_results.json").write_text("{}")
    mirror = tmp_path / "mirror"
    (mirror / "checkpoints").mkdir(parents=True)
    (mirror / "checkpoints" / "ckpt-6.weights.h5").write_text("a stale copy")
    (mirror / "eval_results.json").write_text('{"old": 1}')
    folder = RemoteFolder(f"file://{bucket}", mirror)
    assert folder.pull() == 2
    assert _files(mirror) == {
        "checkpoints/ckpt-4.weights.h5": "step 4",
        "eval_results.json": "{}",
        DOWNLOADS_FILE: (mirror / DOWNLOADS_FILE).read_text(),
    }


def test_pull_downloads_a_file_rewritten_at_the_same_size(tmp_path):
    # A killed run's mirror, then another host's run moved the folder on: its
    # metadata names another checkpoint in as many bytes.
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    metadata = bucket / "training_metadata.json"
    metadata.write_text('{"checkpoint": "ckpt-20"}')
    folder = RemoteFolder(f"file://{bucket}", tmp_path / "mirror")
    folder.pull()
    metadata.write_text('{"checkpoint": "ckpt-40"}')
    os.utime(metadata, ns=(0, metadata.stat().st_mtime_ns + 10**9))
    RemoteFolder(f"file://{bucket}", tmp_path / "mirror").pull()
    assert (folder.local / metadata.name).read_text() == '{"checkpoint": "ckpt-40"}'


def test_a_run_given_a_url_writes_there_and_resumes_on_another_host(
    tmp_path, monkeypatch
):
    @guarded_run("pretrain", recognized=("checkpoints",))
    def run(output_dir, step):
        output_dir = pathlib.Path(output_dir)
        assert remote_folder_of(output_dir / "checkpoints") is not None
        found = sorted(p.name for p in (output_dir / "checkpoints").glob("ckpt-*"))
        (output_dir / "checkpoints").mkdir(exist_ok=True)
        (output_dir / "checkpoints" / f"ckpt-{step}.weights.h5").write_text("w")
        return found

    url = f"file://{tmp_path}/bucket/run"
    assert run(url, 2) == []
    assert set(_files(tmp_path / "bucket" / "run")) == {
        MARKER_FILE,
        "checkpoints/ckpt-2.weights.h5",
    }
    assert not mirror_folder(url).exists()  # deleted after a run that ended well
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "host-b-cache"))
    assert run(url, 4) == ["ckpt-2.weights.h5"]
    with pytest.raises(RunDirectoryError, match="output of `keras-bert pretrain`"):
        guarded_run("finetune")(lambda output_dir: None)(url)


def test_a_users_folder_in_a_bucket_is_refused_and_left_as_it_was(
    tmp_path, monkeypatch
):
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / "thesis.txt").write_text("mine")

    def download(folder):
        raise AssertionError("a user's folder was copied down before refusing it")

    monkeypatch.setattr(RemoteFolder, "pull", download)
    written = []
    run = guarded_run("pretrain")(lambda output_dir: written.append(output_dir))
    with pytest.raises(RunDirectoryError, match="did not write"):
        run(f"file://{bucket}")
    assert not written
    assert _files(bucket) == {"thesis.txt": "mine"}


def test_a_failed_run_still_uploads_what_it_wrote(tmp_path):
    @guarded_run("pretrain")
    def run(output_dir):
        (pathlib.Path(output_dir) / "logs").mkdir()
        (pathlib.Path(output_dir) / "logs" / "events").write_text("step 1")
        raise KeyboardInterrupt

    url = f"file://{tmp_path}/bucket"
    with pytest.raises(KeyboardInterrupt):
        run(url)
    assert _files(tmp_path / "bucket")["logs/events"] == "step 1"
    assert not mirror_folder(url).exists()


def test_an_upload_appears_whole_where_a_copy_is_written_in_place(
    tmp_path, monkeypatch
):
    # A run killed mid-upload must not leave a half checkpoint under its name
    # (a `file://` copy writes in place; a bucket object appears complete).
    bucket = tmp_path / "bucket"
    folder = RemoteFolder(f"file://{bucket}", tmp_path / "mirror")
    folder.pull()
    (folder.local / "ckpt-2.weights.h5").write_text("step 2")
    copies = recorded_copies(monkeypatch, "target")
    folder.push()
    assert copies == [".ckpt-2.weights.h5.upload"]
    assert _files(bucket) == {"ckpt-2.weights.h5": "step 2"}
