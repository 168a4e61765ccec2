"""Guards for the folders commands write: one run at a time, nothing overwritten.

A folder a command writes gets a marker file naming the command that made it. A
later command refuses a non-empty folder without that marker (the user's own
files), unless the user passes `--overwrite`. A run directory is also locked
while a run uses it (`run_directory_lock`).
"""

import functools
import inspect
import os
import pathlib

from keras_bert_impl.utils.file_io import read_json
from keras_bert_impl.utils.file_io import write_json
from keras_bert_impl.utils.remote_folder import is_url
from keras_bert_impl.utils.remote_folder import remote_run_directory
from keras_bert_impl.utils.run_directory_lock import RunDirectoryError
from keras_bert_impl.utils.run_directory_lock import run_directory_lock

MARKER_FILE = ".keras_bert_impl.json"
OWN_FILES_PREFIX = ".keras_bert_impl."
# The settings a resumed run must share with the run it resumes.
RUN_SETTINGS_FILE = "run_settings.json"


def local_path(path, flag):
    """`path` as a `pathlib.Path`, refusing URLs (`gs://...`).

    These outputs are written with local file operations (staged renames):
    `pathlib` would read `gs://bucket/run` as the relative folder
    `gs:/bucket/run` and write there, on this disk. Only a run's
    `--output_dir` may be a URL (`guarded_run`: a synced local mirror).
    """
    text = os.fspath(path)
    if is_url(text):
        raise RunDirectoryError(
            f"{flag}={text}: expected a local path, got a URL; only a run's "
            "--output_dir is written to object stores. Write to a local path and "
            "copy it up (gsutil cp -r), or mount the bucket with gcsfuse."
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
            raise _users_folder_error(flag, path)
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


def _users_folder_error(flag, path):
    return RunDirectoryError(
        f"{flag}={path}: the folder holds files that keras-bert did not "
        "write; refusing to write into it. Pass an empty or new folder, or "
        "--overwrite to write there anyway."
    )


def _has_other_files(path):
    # `atomic_write` stages the marker as `.` + its name + a random suffix.
    own = OWN_FILES_PREFIX.lstrip(".")
    return any(not entry.name.lstrip(".").startswith(own) for entry in path.iterdir())


def guarded_run(command, recognized=()):
    """Decorates a run function that has an `output_dir` argument.

    The decorated function takes `overwrite=False` too; before running it
    checks the folder (`check_output_directory`) and holds its lock for the
    whole run (`run_directory_lock`). A run that fails before writing
    anything (a bad flag, a missing input) removes the marker it wrote and the
    folder it created, so a mistake leaves nothing behind. An `output_dir`
    URL (`gs://...`) runs in a local mirror of that folder, synced
    (`remote_run_directory`).
    """

    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(*args, overwrite=False, **kwargs):
            bound = signature.bind_partial(*args, **kwargs)
            output_dir = bound.arguments["output_dir"]
            if is_url(output_dir):

                def refuse_a_users_folder(names):
                    # Checked before the folder is downloaded into the mirror.
                    if names and MARKER_FILE not in names and not overwrite:
                        raise _users_folder_error("--output_dir", output_dir)

                with remote_run_directory(output_dir, refuse_a_users_folder) as mirror:
                    bound.arguments["output_dir"] = os.fspath(mirror)
                    return run(*bound.args, overwrite=overwrite, **bound.kwargs)
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
