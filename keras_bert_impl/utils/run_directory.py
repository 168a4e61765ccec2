"""Guards for the folders commands write: one run at a time, nothing overwritten.

A folder a command writes gets a marker file naming the command that made it. A
later command refuses a non-empty folder without that marker (the user's own
files), unless the user passes `--overwrite`. A run directory is also locked
while a run uses it: the lock file holds the host and pid of its holder, so a
second run fails at once naming the first, and the lock of a dead process is
taken over with a message.
"""

import contextlib
import functools
import inspect
import json
import os
import pathlib
import socket
import time
import warnings

from keras_bert_impl.utils.cloud_tpu_host import cloud_tpu_worker
from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import write_json

MARKER_FILE = ".keras_bert_impl.json"
LOCK_FILE = ".keras_bert_impl.lock"
OWN_FILES_PREFIX = ".keras_bert_impl."
# The settings a resumed run must share with the run it resumes.
RUN_SETTINGS_FILE = "run_settings.json"


class RunDirectoryError(ValueError):
    """A folder cannot be used as asked; the message says why and what to do."""


def local_path(path, flag):
    """`path` as a `pathlib.Path`, refusing URLs (`gs://...`).

    Outputs are written with local file operations (the lock's exclusive
    create, staged renames): `pathlib` would read `gs://bucket/run` as the
    relative folder `gs:/bucket/run` and write the run there, on this disk.
    """
    text = os.fspath(path)
    if "://" in text:
        raise RunDirectoryError(
            f"{flag}={text}: expected a local folder, got a URL; outputs are not "
            "written to object stores directly yet. Mount the bucket as a folder "
            "(e.g. with gcsfuse) and pass its path."
        )
    return pathlib.Path(text)


def check_new_output(path, flag, overwrite=False, inputs=()):
    """Refuses an output path whose writing would destroy something.

    Writers replace their output folder as a whole (staged and renamed), so an
    output that holds, or is, one of the command's `inputs` is always refused,
    and an existing file or non-empty folder is refused unless `overwrite`.
    """
    path = local_path(path, flag).expanduser().absolute()
    for source in inputs:
        source = pathlib.Path(source).expanduser().absolute()
        if path == source or path in source.parents:
            raise RunDirectoryError(
                f"{flag}={path}: it holds the input {source}, which writing there "
                "would delete. Pass an output folder outside the input."
            )
    if path.is_file() or (path.is_dir() and any(path.iterdir())):
        if not overwrite:
            raise RunDirectoryError(
                f"{flag}={path}: already exists and is not empty; refusing to "
                "replace it. Pass a new path, or --overwrite to replace it."
            )
    return path


def check_output_directory(
    path, command, overwrite=False, flag="--output_dir", recognized=()
):
    """Makes sure `command` may write into `path`, then marks the folder as its own.

    Allowed: a missing or empty folder, or one an earlier run of `command`
    made (a rerun resumes there): marked, or, for runs written before markers
    existed, holding one of the `recognized` entries (e.g. `checkpoints`).
    Refused, unless `overwrite`: a non-empty folder without the marker or with
    another command's marker. A file or a URL is always refused. Returns the
    folder.
    """
    path = local_path(path, flag)
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(
            f"{flag}={path}: expected a folder, got a file. Pass another path."
        )
    marker = path / MARKER_FILE
    earlier_run = any((path / name).exists() for name in recognized)
    # Only the files of keras-bert's own bookkeeping (the marker, its staged
    # copy, locks) say nothing of the user: the processes of one job start
    # together, and one may see the other's marker half-written.
    if path.is_dir() and _has_other_files(path) and not overwrite:
        if not marker.is_file() and not earlier_run:
            raise RunDirectoryError(
                f"{flag}={path}: the folder holds files that keras-bert did not "
                "write; refusing to write into it. Pass an empty or new folder, or "
                "--overwrite to write there anyway."
            )
        made_by = read_json(marker).get("command") if marker.is_file() else command
        if made_by != command:
            raise RunDirectoryError(
                f"{flag}={path}: the folder holds the output of `keras-bert "
                f"{made_by}`, not `{command}`. Pass another folder, or --overwrite."
            )
    path.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_json(marker, {"command": command})
    return path


def _has_other_files(path):
    # `atomic_write` stages the marker as `.` + its name + a random suffix.
    own = OWN_FILES_PREFIX.lstrip(".")
    return any(not entry.name.lstrip(".").startswith(own) for entry in path.iterdir())


def guarded_run(command, recognized=()):
    """Decorates a run function that has an `output_dir` argument.

    The decorated function takes `overwrite=False` too; before running it
    checks the folder (`check_output_directory`) and holds its lock for the
    whole run (`run_directory_lock`). A run that fails before writing anything
    (a bad flag, a missing input) removes the marker it wrote and the folder it
    created, so a mistake leaves nothing behind.
    """

    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(*args, overwrite=False, **kwargs):
            output_dir = signature.bind_partial(*args, **kwargs).arguments["output_dir"]
            created = not pathlib.Path(output_dir).exists()
            marked = (pathlib.Path(output_dir) / MARKER_FILE).exists()
            check_output_directory(
                output_dir, command, overwrite, recognized=recognized
            )
            try:
                with run_directory_lock(output_dir):
                    return function(*args, **kwargs)
            except BaseException:
                if not marked:
                    _remove_if_unused(output_dir, created)
                raise

        return run

    return decorate


def _remove_if_unused(path, created):
    """Undoes `guarded_run`'s marker, and the folder if `created`, when the run
    wrote nothing else there."""
    path = pathlib.Path(path)
    if [entry.name for entry in path.iterdir()] == [MARKER_FILE]:
        (path / MARKER_FILE).unlink()
        if created:
            path.rmdir()


def _tf_config():
    """This process's `TF_CONFIG` as a dict ({} when unset or not JSON)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _job_process_name():
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


def _refuse_if_chief_is_another_runs(path, process, job):
    """A job's non-chief process is refused when another run (not `job`) holds
    the chief's lock: the chief is refused then, and the others would wait
    for it."""
    if not process:
        return
    chief_lock = path / LOCK_FILE
    holder = _holder(chief_lock)
    if holder and holder.get("job") != job and not _is_dead(holder):
        raise _in_use_error(path, holder, chief_lock)


def _holder(lock):
    try:
        return json.loads(lock.read_text(encoding="utf-8"))
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
    process, job = _job_process_name(), _job_identity()
    _refuse_if_chief_is_another_runs(path, process, job)
    lock = path / (
        LOCK_FILE.replace(".lock", f".{process}.lock") if process else LOCK_FILE
    )
    me = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
        "job": job,
    }
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


def check_run_config(path, config, compatible_keys, flag="--output_dir"):
    """Records a run's configuration, or checks a rerun against the recorded one.

    `compatible_keys` are the entries a resumed run must share with the run it
    resumes (architecture, vocabulary, sequence length, ...): a difference is
    an error naming every differing field, never a silent restart.
    """
    record = pathlib.Path(path) / RUN_SETTINGS_FILE
    if not record.is_file():
        write_json(record, config)
        return
    recorded = read_json(record)
    differing = [
        f"{key}: recorded {recorded.get(key)!r}, now {config.get(key)!r}"
        for key in compatible_keys
        if recorded.get(key) != config.get(key)
    ]
    if differing:
        raise RunDirectoryError(
            f"{flag}={path} holds a run with another configuration ("
            + "; ".join(differing)
            + "). Resume it with the same settings, or pass a new folder."
        )
