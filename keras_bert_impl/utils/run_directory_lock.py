"""Run-directory locks: one run per folder, one lock per process of a job.

A run directory is locked while a run uses it: the lock file holds the host
and pid of its holder, so a second run fails at once naming the first, and
the lock of a dead process is taken over with a message. Each process of a
multi-process job holds a lock of its own, named by its place in the job.
"""

import contextlib
import json
import os
import pathlib
import socket
import time
import warnings

from keras_bert_impl.utils.cloud_tpu_host import cloud_tpu_worker

LOCK_FILE = ".keras_bert_impl.lock"


class RunDirectoryError(ValueError):
    """A folder cannot be used as asked; the message says why and what to do."""


def _tf_config():
    """This process's `TF_CONFIG` as a dict ({} when unset or not JSON)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def job_process_name():
    """'' for a single process or a job's chief, else e.g. 'worker-1'.

    The processes of one multi-process job share its run directory, each
    holding a lock of its own: a TensorFlow job names them in `TF_CONFIG`
    (its chief, or worker 0 without one, is the chief), a JAX job in
    `KERAS_DISTRIBUTION_PROCESS_ID` (process 0 is the chief), and the hosts
    of a Cloud TPU pod slice by their worker number ('tpu-worker-1').
    """
    config = _tf_config()
    task = config.get("task") or {}
    if task.get("type"):
        kind, index = task["type"], int(task.get("index", 0))
        has_chief = "chief" in (config.get("cluster") or {})
        if kind == "chief" or (kind == "worker" and index == 0 and not has_chief):
            return ""
        return f"{kind}-{index}"
    process = os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "").strip()
    if not process:
        tpu_worker = _cloud_tpu_job_worker()
        return f"tpu-worker-{tpu_worker[0]}" if tpu_worker and tpu_worker[0] else ""
    return "" if process == "0" else f"process-{process}"


def _cloud_tpu_job_worker():
    """`cloud_tpu_worker()` where this host is one of several, else None.

    A pod slice's hosts start with no `KERAS_DISTRIBUTION_*` (JAX discovers
    the slice later), yet each needs its own lock on a shared folder.
    """
    worker = cloud_tpu_worker()
    return worker if worker and worker[1] > 1 else None


def _job_identity():
    """What the processes of one multi-process job share, or None for one process.

    TensorFlow: the cluster of `TF_CONFIG`; JAX: the coordinator address and
    process count of `KERAS_DISTRIBUTION_*`; a Cloud TPU pod slice: its hosts.
    Recorded in each lock so that a job's other processes tell their own
    chief's lock from another run's.
    """
    config = _tf_config()
    if (config.get("task") or {}).get("type"):
        return json.dumps(config.get("cluster") or {}, sort_keys=True)
    if os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "").strip():
        return "{} x{}".format(
            os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", ""),
            os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", ""),
        )
    tpu_worker = _cloud_tpu_job_worker()
    return f"Cloud TPU {tpu_worker[2]}" if tpu_worker else None


def _in_use_error(path, holder, lock):
    started = holder.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started))
    return RunDirectoryError(
        f"{path} is in use by another run (host {holder.get('host')}, "
        f"pid {holder.get('pid')}, since {since} UTC). Wait for it to "
        f"end or pass another folder; if that process is gone, delete "
        f"{lock}."
    )


def _refuse_if_chief_is_another_runs(path, process, job, read_holder=None):
    """A job's non-chief process is refused when another run (not `job`) holds
    the chief's lock: the chief is refused then, and the others would wait
    for it. `read_holder(lock)` reads a lock (default: a local file's)."""
    if not process:
        return
    chief_lock = f"{os.fspath(path).rstrip('/')}/{LOCK_FILE}"
    holder = (read_holder or _holder)(chief_lock)
    if holder and holder.get("job") != job and not _is_dead(holder):
        raise _in_use_error(path, holder, chief_lock)


def _holder(lock):
    try:
        return json.loads(pathlib.Path(lock).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _is_dead(holder):
    if holder.get("host") != socket.gethostname() or not holder.get("pid"):
        return False  # Another host's process cannot be checked from here.
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _lock_name(process):
    return LOCK_FILE.replace(".lock", f".{process}.lock") if process else LOCK_FILE


def _lock_record(job):
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
        "job": job,
    }


@contextlib.contextmanager
def run_directory_lock(path):
    """Holds `path`'s lock for the block; a second holder fails at once.

    The lock is a file created with O_EXCL (atomic on local and network file
    systems) that records host, pid and start time; it is removed on exit.
    Each process of a multi-process job holds its own (`.NAME.worker-1.lock`
    beside the chief's), so a second job is refused as a second run is; a
    job's other processes are also refused when another run (one that is not
    their job, a one-process run included) holds the chief's lock, as their
    chief is: they would otherwise wait for a chief that never comes.
    """
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    process, job = job_process_name(), _job_identity()
    _refuse_if_chief_is_another_runs(path, process, job)
    lock = path / _lock_name(process)
    me = _lock_record(job)
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if not _is_dead(holder):
                raise _in_use_error(path, holder, lock) from None
            warnings.warn(
                f"{path}: taking over the lock of pid {holder.get('pid')}, which "
                "is no longer running (an earlier run was killed).",
                stacklevel=3,
            )
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(me, file)
        break
    try:
        yield path
    finally:
        if _holder(lock).get("pid") == me["pid"]:
            lock.unlink(missing_ok=True)


# How long a new remote lock is left before it is read back (see below).
REMOTE_LOCK_SETTLE_S = 1.0


@contextlib.contextmanager
def remote_folder_lock(url):
    """`run_directory_lock` for a folder on an object store (`gs://...`).

    Object stores have no exclusive create through `tf.io.gfile`, so the
    lock is written when absent and read back a moment later: of two runs
    that start within the same moment, the one whose lock was overwritten is
    refused. A lock of a process on another host is never taken over; the
    error says to delete it when that process is gone.
    """
    import tensorflow as tf  # Only URL output folders need it.

    gfile = tf.io.gfile
    process, job = job_process_name(), _job_identity()
    _refuse_if_chief_is_another_runs(url, process, job, _remote_holder)
    lock = f"{os.fspath(url).rstrip('/')}/{_lock_name(process)}"
    holder = _remote_holder(lock)
    if holder:
        if not _is_dead(holder):
            raise _in_use_error(url, holder, lock)
        warnings.warn(
            f"{url}: taking over the lock of pid {holder.get('pid')}, which is "
            "no longer running (an earlier run was killed).",
            stacklevel=3,
        )
    me = _lock_record(job)
    gfile.makedirs(os.fspath(url))
    with gfile.GFile(lock, "w") as file:
        file.write(json.dumps(me))
    time.sleep(REMOTE_LOCK_SETTLE_S)
    holder = _remote_holder(lock)
    if holder != me:
        raise _in_use_error(url, holder, lock)
    try:
        yield
    finally:
        if _remote_holder(lock) == me:
            gfile.remove(lock)


def _remote_holder(lock):
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(lock, "r") as file:
            return json.loads(file.read())
    except (tf.errors.NotFoundError, ValueError):
        return {}
