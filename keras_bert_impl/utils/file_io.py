"""Reading and writing the package's files: JSON, whole folders, checksums.

Every writer here writes to a temporary path beside its target and renames it
into place, so an interrupted write never leaves a half-written file or folder.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import tempfile


def read_json(path):
    """A JSON file's content; a malformed file is an error naming file:line:column."""
    path = pathlib.Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise ValueError(
            f"{path}:{line}:{column}: expected UTF-8 JSON, got byte "
            f"{raw[error.start]:#04x}; re-save the file as UTF-8."
        ) from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}:{error.lineno}:{error.colno}: expected valid JSON, got "
            f"'{error.msg}'; fix the file there or re-create it."
        ) from error


def write_json(path, content):
    """Writes `content` as sorted, indented JSON; atomic (temp file + rename)."""
    path = pathlib.Path(path)
    with atomic_write(path, mode="w", encoding="utf-8") as file:
        json.dump(content, file, indent=2, sort_keys=True)
        file.write("\n")


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_args):
    """Yields a file object whose content replaces `path` only if the block succeeds."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(descriptor)
    try:
        with open(temporary, mode, **open_args) as file:
            yield file
        # mkstemp makes the file private (0600); a written file gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def staged_directory(target):
    """Yields a temporary folder that replaces `target` only if the block succeeds.

    The folder is created beside `target` (same file system, so the final
    `os.replace` is atomic); on any error it is deleted and `target` is left as
    it was. Never leaves a half-written folder behind.
    """
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target)
    # The writer's pid in the name tells a later write whether it is still alive.
    staging = pathlib.Path(
        tempfile.mkdtemp(
            prefix=f".{target.name}.partial-{os.getpid()}-", dir=target.parent
        )
    )
    try:
        # mkdtemp makes the folder private (0700); a preset gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        yield staging
        previous = None
        if target.exists():
            previous = pathlib.Path(
                tempfile.mkdtemp(
                    prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent
                )
            )
            os.replace(target, previous / target.name)
        try:
            os.replace(staging, target)
        except BaseException:
            if previous is not None:
                os.replace(previous / target.name, target)
            raise
        finally:
            if previous is not None:
                shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _process_is_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Alive, owned by another user.
    return True


def remove_stale_staging(target):
    """Deletes the temporary folders of writes of `target` whose process died.

    A write killed mid-way (SIGKILL, power loss) cannot clean up after itself;
    the next write of the same target does. Folders of a writer that is still
    running, and the old pid-less names, are left alone unless their writer is
    known to be dead.
    """
    target = pathlib.Path(target)
    for kind in ("partial", "old"):
        for folder in target.parent.glob(f".{target.name}.{kind}-*"):
            pid = folder.name[len(f".{target.name}.{kind}-") :].split("-")[0]
            if pid.isdigit() and not _process_is_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def file_sha256(path):
    """The sha256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
