"""`keras-bert pretrain --strategy=multiworker` as two processes on localhost.

Each test starts the job's processes with the environment a user sets
(`TF_CONFIG` on TensorFlow, `KERAS_DISTRIBUTION_*` on JAX, as in
docs/distributed.md), bounds their time and kills whatever is left.
"""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.utils.run_directory import run_directory_lock
from tests.recipes.test_run_pretraining import _pretrain_flags
from tests.recipes.test_run_pretraining import _records
from tests.recipes.test_run_pretraining import sample_corpus  # noqa: F401

JOB_SECONDS = 300
# How long the processes left may take to stop after one is killed.
STOP_SECONDS = 60


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _process_environments(count):
    """One environment per process, naming the job the way a user does."""
    base = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if keras.backend.backend() == "tensorflow":
        workers = [f"localhost:{port}" for port in _free_ports(count)]
        return [
            dict(
                base,
                TF_CONFIG=json.dumps(
                    {
                        "cluster": {"worker": workers},
                        "task": {"type": "worker", "index": i},
                    }
                ),
            )
            for i in range(count)
        ]
    (port,) = _free_ports(1)
    return [
        dict(
            base,
            KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{port}",
            KERAS_DISTRIBUTION_NUM_PROCESSES=str(count),
            KERAS_DISTRIBUTION_PROCESS_ID=str(i),
        )
        for i in range(count)
    ]


def _job_command(flags):
    """What every process of the job runs: the CLI with `--strategy=multiworker`."""
    return [
        sys.executable,
        "-m",
        "keras_bert_impl.cli",
        *flags,
        "--strategy=multiworker",
    ]


@contextlib.contextmanager
def _started_job(flags, stderr=subprocess.DEVNULL):
    """The job's two processes, started; whatever is left is killed at the end."""
    processes = [
        subprocess.Popen(
            _job_command(flags),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )
        for env in _process_environments(2)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def run_job(flags, count=2, log_dir=None):
    """Runs `keras-bert FLAGS --strategy=multiworker` as `count` processes.

    Stops early when one process fails (the others would wait for it until
    their own timeouts), and kills whatever is left at the end.

    Returns:
        list of `(returncode, stdout, stderr)`, one per process.
    """
    command = _job_command(flags)
    logs = pathlib.Path(log_dir or tempfile.mkdtemp(prefix="job-logs-"))
    outputs = [(logs / f"{i}.out", logs / f"{i}.err") for i in range(count)]
    processes = []
    try:
        for env, (out, err) in zip(_process_environments(count), outputs):
            with open(out, "w") as stdout, open(err, "w") as stderr:
                processes.append(
                    subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
                )
        deadline = time.monotonic() + JOB_SECONDS
        while any(p.poll() is None for p in processes):
            failed = any(p.poll() not in (None, 0) for p in processes)
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    return [
        (process.returncode, out.read_text(), err.read_text())
        for process, (out, err) in zip(processes, outputs)
    ]


def final_lines_of_job(flags, log_dir):
    """Runs the job (`run_job`); every process must exit 0.

    Returns:
        list of dicts: each process's final JSON line.
    """
    results = run_job(flags, log_dir=log_dir)
    for returncode, _, stderr in results:
        assert returncode == 0, stderr[-3000:]
    return [json.loads(stdout.strip().splitlines()[-1]) for _, stdout, _ in results]


def _losses(run):
    curves = json.loads((run / "training_curves.json").read_text())
    return {entry["step"]: entry["loss"] for entry in curves["train"]}


def test_two_processes_train_as_one_process_on_the_same_global_batch(
    sample_corpus,  # noqa: F811 (the fixture imported above)
    shared_data,
    tmp_path,
    capsys,
):
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    flags = _pretrain_flags(sample_corpus, train, train, 40, tmp_path / "one")
    flags[flags.index("--save_checkpoints_steps=50")] = "--save_checkpoints_steps=20"
    assert main(flags) == 0
    capsys.readouterr()

    job = tmp_path / "job"
    flags[flags.index(f"--output_dir={tmp_path / 'one'}")] = f"--output_dir={job}"
    finals = final_lines_of_job(flags, tmp_path)
    # Every process reports the same evaluation (metrics are reduced over the job).
    assert finals[0] == finals[1]
    assert finals[0]["global_step"] == 40
    # The chief alone wrote the run: one checkpoint series, no other lock left.
    assert sorted(p.name for p in (job / "checkpoints").glob("ckpt-*")) == [
        "ckpt-20.weights.h5",
        "ckpt-40.weights.h5",
    ]
    assert not list(job.glob("*.lock"))
    assert (job / "model" / "task.weights.h5").is_file()
    # Same global batches and initial weights (both checked per process in
    # session 13: equal run to run), so the training loss tracks the
    # one-process run. Not to the last digit: on TF, two-process runs differ
    # from one another from the first step (by up to 0.013 at step 1, 0.05 at
    # step 20 and 0.13 at step 40 over five runs; cause not found, see
    # docs/distributed.md), while the loss falls by ~2.5 over the 40 steps.
    one, two = _losses(tmp_path / "one"), _losses(job)
    assert sorted(one) == sorted(two)
    np.testing.assert_allclose(
        [two[s] for s in sorted(two)], [one[s] for s in sorted(one)], atol=0.25
    )
    assert one[max(one)] < one[min(one)] - 0.5


@pytest.fixture
def job_flags(sample_corpus, shared_data, tmp_path, capsys):  # noqa: F811
    """`steps -> flags` of a small pretraining job writing into `tmp_path/job`."""
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    return lambda steps: _pretrain_flags(
        sample_corpus, train, train, steps, tmp_path / "job"
    )


def test_a_killed_process_stops_the_job_and_a_restart_resumes(job_flags, tmp_path):
    job = tmp_path / "job"
    flags = job_flags(2000)
    flags[flags.index("--save_checkpoints_steps=50")] = "--save_checkpoints_steps=10"
    with _started_job(flags) as processes:
        deadline = time.monotonic() + JOB_SECONDS
        while not list((job / "checkpoints").glob("ckpt-20.*")):
            assert time.monotonic() < deadline, "no checkpoint in time"
            assert all(p.poll() is None for p in processes), "the job ended early"
            time.sleep(0.2)
        # Kill the chief, the process that writes (possibly mid-write). The
        # other stops, neither finishing nor hanging: measured ~5 s on TF,
        # ~1 s on JAX (a non-chief's death takes JAX ~75 s: its heartbeat).
        processes[0].send_signal(signal.SIGKILL)
        assert processes[1].wait(timeout=STOP_SECONDS) != 0
    killed_at = max(
        int(p.name.split("-")[1].split(".")[0])
        for p in (job / "checkpoints").glob("ckpt-*.weights.h5")
    )
    assert killed_at < 2000

    # The same command on every process resumes and ends at the planned step.
    flags[flags.index("--num_train_steps=2000")] = f"--num_train_steps={killed_at + 20}"
    final = final_lines_of_job(flags, tmp_path)[0]
    assert final["global_step"] == killed_at + 20
    curves = _losses(job)
    assert max(curves) == killed_at + 20


def test_a_job_on_a_folder_another_run_holds_is_refused_by_every_process(
    job_flags, tmp_path
):
    job = tmp_path / "job"
    flags = job_flags(20)
    # A one-process run (this test's process) holds the folder. The job's
    # chief is refused by that lock; its other process, whose own lock is
    # free, must be refused too rather than wait for a chief that never comes.
    with run_directory_lock(job), _started_job(flags, subprocess.PIPE) as processes:
        errors = [p.communicate(timeout=STOP_SECONDS)[1] for p in processes]
    for process, stderr in zip(processes, errors):
        assert process.returncode != 0
        assert f"in use by another run (host {socket.gethostname()}, " in stderr
    assert not list(job.glob(".keras_bert_impl.*.lock"))


def test_a_job_writes_into_a_bucket_through_its_chief(job_flags, tmp_path, monkeypatch):
    # `--output_dir=gs://...` as on a TPU pod slice, with a `file://` URL: each
    # process runs in its own local mirror; the chief alone uploads.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bucket = tmp_path / "bucket" / "job"
    flags = job_flags(20)
    flags[flags.index(f"--output_dir={tmp_path / 'job'}")] = (
        f"--output_dir=file://{bucket}"
    )
    finals = final_lines_of_job(flags, tmp_path)
    assert finals[0] == finals[1]
    assert finals[0]["global_step"] == 20
    names = {p.relative_to(bucket).as_posix() for p in bucket.rglob("*")}
    assert "checkpoints/ckpt-20.weights.h5" in names
    assert "model/task.weights.h5" in names
    assert not [name for name in names if name.endswith(".lock")]
    # The mirrors of a job that ended well are gone.
    assert not list((tmp_path / "cache").rglob("*.h5"))
