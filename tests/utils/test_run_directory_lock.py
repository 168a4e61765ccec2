"""Run-directory locks: one run per folder, one lock per process of a job."""

import json
import os
import socket
import subprocess
import sys

import pytest

from keras_bert_impl.utils.run_directory_lock import LOCK_FILE
from keras_bert_impl.utils.run_directory_lock import RunDirectoryError
from keras_bert_impl.utils.run_directory_lock import remote_folder_lock
from keras_bert_impl.utils.run_directory_lock import run_directory_lock


def test_a_second_run_on_a_locked_folder_fails_naming_the_first(tmp_path):
    with run_directory_lock(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(RunDirectoryError, match=f"pid {os.getpid()}"):
            with run_directory_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_FILE).exists()
    with run_directory_lock(tmp_path):  # Free again.
        pass


def test_the_lock_of_a_dead_process_is_taken_over_with_a_message(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / LOCK_FILE).write_text(
        json.dumps(
            {"host": socket.gethostname(), "pid": int(dead.stdout), "started": 0}
        )
    )
    with pytest.warns(UserWarning, match="no longer running"):
        with run_directory_lock(tmp_path):
            pass


def _tf_config(index):
    return json.dumps(
        {
            "cluster": {"worker": ["a:1", "b:2"]},
            "task": {"type": "worker", "index": index},
        }
    )


def _jax_job(process):
    return {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": "a:1",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
        "KERAS_DISTRIBUTION_PROCESS_ID": str(process),
    }


def _tpu_pod_slice_host(worker):
    # A pod slice's host before JAX discovers the slice (GKE's variables; a
    # TPU VM's metadata server says the same, tests/utils/test_cloud_tpu_host.py).
    return {"TPU_WORKER_ID": str(worker), "TPU_WORKER_HOSTNAMES": "host-0,host-1"}


JOBS = [
    ({"TF_CONFIG": _tf_config(0)}, {"TF_CONFIG": _tf_config(1)}, "worker-1"),
    (_jax_job(0), _jax_job(1), "process-1"),
    (_tpu_pod_slice_host(0), _tpu_pod_slice_host(1), "tpu-worker-1"),
]


@pytest.mark.parametrize("chief_environment, environment, process", JOBS)
def test_each_process_of_a_job_holds_its_own_lock_beside_the_chiefs(
    tmp_path, monkeypatch, chief_environment, environment, process
):
    for name, value in chief_environment.items():
        monkeypatch.setenv(name, value)
    with run_directory_lock(tmp_path):  # the job's chief's
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        with run_directory_lock(tmp_path):
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
                [LOCK_FILE, f".keras_bert_impl.{process}.lock"]
            )
            # A second job's process of the same rank is refused.
            with pytest.raises(RunDirectoryError, match="in use by another run"):
                with run_directory_lock(tmp_path):
                    pass


@pytest.mark.parametrize("chief_environment, environment, process", JOBS)
def test_a_jobs_other_process_is_refused_with_its_chief_when_another_run_holds_it(
    tmp_path, monkeypatch, chief_environment, environment, process
):
    # A one-process run holds the folder: the job's chief is refused by its
    # lock, and its other processes, whose own locks are free, must not go on
    # to wait for that chief.
    with run_directory_lock(tmp_path):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        with pytest.raises(RunDirectoryError, match=f"pid {os.getpid()}"):
            with run_directory_lock(tmp_path):
                pass
    assert not (tmp_path / f".keras_bert_impl.{process}.lock").exists()


def test_a_folder_on_an_object_store_is_locked_as_a_local_one(tmp_path, monkeypatch):
    # A `file://` URL takes the same `tf.io.gfile` calls as `gs://`, without a
    # bucket (TF's in-memory `ram://` appends where a write should replace).
    tf = pytest.importorskip("tensorflow")
    monkeypatch.setattr(
        "keras_bert_impl.utils.run_directory_lock.REMOTE_LOCK_SETTLE_S", 0.0
    )
    url = f"file://{tmp_path}/run"
    with remote_folder_lock(url):
        holder = json.loads(tf.io.gfile.GFile(f"{url}/{LOCK_FILE}").read())
        assert holder["pid"] == os.getpid()
        with pytest.raises(
            RunDirectoryError, match=f"run is in use .*pid {os.getpid()}"
        ):
            with remote_folder_lock(url):
                pass
    assert not tf.io.gfile.exists(f"{url}/{LOCK_FILE}")
    # Another host's lock is never taken over: its process cannot be checked.
    with tf.io.gfile.GFile(f"{url}/{LOCK_FILE}", "w") as file:
        file.write(json.dumps({"host": "tpu-vm-7", "pid": 1, "started": 0}))
    with pytest.raises(
        RunDirectoryError, match=f"host tpu-vm-7.*delete {url}/{LOCK_FILE}"
    ):
        with remote_folder_lock(url):
            pass


def test_of_two_runs_taking_a_remote_lock_at_once_the_overwritten_one_is_refused(
    tmp_path, monkeypatch
):
    # Both found no lock and wrote theirs; the other's write landed last.
    tf = pytest.importorskip("tensorflow")
    url = f"file://{tmp_path}/run"
    lock = f"{url}/{LOCK_FILE}"

    def the_other_run_writes(seconds):
        with tf.io.gfile.GFile(lock, "w") as file:
            file.write(json.dumps({"host": "other-host", "pid": 7, "started": 1}))

    monkeypatch.setattr(
        "keras_bert_impl.utils.run_directory_lock.time.sleep", the_other_run_writes
    )
    with pytest.raises(RunDirectoryError, match="host other-host, pid 7"):
        with remote_folder_lock(url):
            pass
    assert json.loads(tf.io.gfile.GFile(lock).read())["pid"] == 7


def test_a_jobs_other_host_is_refused_when_another_run_holds_the_buckets_chief_lock(
    tmp_path, monkeypatch
):
    pytest.importorskip("tensorflow")
    monkeypatch.setattr(
        "keras_bert_impl.utils.run_directory_lock.REMOTE_LOCK_SETTLE_S", 0.0
    )
    url = f"file://{tmp_path}/run"
    with remote_folder_lock(url):  # a one-process run
        for name, value in _tpu_pod_slice_host(1).items():
            monkeypatch.setenv(name, value)
        with pytest.raises(RunDirectoryError, match=f"pid {os.getpid()}"):
            with remote_folder_lock(url):
                pass
    assert not list(tmp_path.glob("run/*tpu-worker-1.lock"))
