"""Run directories on object stores (`gs://bucket/run`): a local mirror, synced.

A run given a URL as its output folder runs in a local mirror of it and
copies the mirror up through `tf.io.gfile` (any file system TensorFlow has:
`gs://`, `s3://` with its plugin, `hdfs://`, `file://`): after each
checkpoint and when the run ends. A rerun, on this host or another, first
copies the folder down, so it resumes from the last uploaded checkpoint.

Why a mirror instead of writing through `tf.io.gfile` everywhere: the run's
writers (Keras' h5 checkpoints, matplotlib, the marker, staged renames) rely
on local renames to never leave a half-written file, and object stores have
no rename (on GCS it is a copy and a delete). An object uploaded whole
appears at once or not at all, so the upload keeps that promise.

Files and folders whose name starts with "." are a writer's temporary files
or a process's lock and stay local, except the folder's marker.
"""

import contextlib
import json
import os
import pathlib
import shutil
import warnings

from keras_bert_impl.utils.run_directory_lock import job_process_name
from keras_bert_impl.utils.run_directory_lock import remote_folder_lock

# The marker (`run_directory.MARKER_FILE`) says which command made the folder.
KEPT_DOTFILES = (".keras_bert_impl.json",)
# Where an uploaded object appears only once complete.
OBJECT_STORE_SCHEMES = ("gs", "s3")
# In a local copy: what each downloaded file was, there and here (not synced).
DOWNLOADS_FILE = ".keras_bert_impl.downloads.json"


def is_url(path):
    """Whether `path` names a folder of a file system other than this disk's."""
    return "://" in os.fspath(path)


def _gfile():
    import tensorflow as tf  # Only URL output folders need it.

    return tf.io.gfile


def mirror_folder(url, process="", kind="remote_runs"):
    """The local copy of `url`: `$XDG_CACHE_HOME/keras_bert_impl/<kind>/...`.

    Each process of a job (`process`, '' for the chief) has its own, as each
    host of a pod slice does.
    """
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    scheme, _, rest = os.fspath(url).partition("://")
    parts = [part for part in rest.split("/") if part not in ("", ".", "..")]
    copies = pathlib.Path(base, "keras_bert_impl", kind)
    return copies.joinpath(process or "chief", scheme, *parts)


class Downloads:
    """Each downloaded file of a local copy: its source's stat and its own.

    A file is downloaded again when its source changed (size or time) or the
    local file did; a size alone misses a rewritten file of the same length
    (a `training_metadata.json` naming `ckpt-40` instead of `ckpt-20`).
    """

    def __init__(self, folder):
        self.path = pathlib.Path(folder) / DOWNLOADS_FILE
        try:
            self.files = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.files = {}

    def fetch(self, gfile, url, target, source_stat, relative):
        """Makes `target` the file at `url` (whose `remote_stat` is `source_stat`)."""
        target = pathlib.Path(target)
        known = self.files.get(relative)
        if target.is_file() and known == [list(source_stat), _stat(target)]:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Per process: two commands on this host may copy the same URL at once.
        staged = target.with_name(f".{target.name}.download-{os.getpid()}")
        gfile.copy(url, os.fspath(staged), overwrite=True)
        os.replace(staged, target)
        self.files[relative] = [list(source_stat), _stat(target)]

    def forget(self, relative):
        self.files.pop(relative, None)

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        staged.write_text(json.dumps(self.files))
        os.replace(staged, self.path)


def _stat(path):
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def remote_stat(gfile, url):
    """`(size, modification time)` of the file at `url`."""
    stat = gfile.stat(url)
    return (stat.length, stat.mtime_nsec)


def _synced(relative):
    return not any(
        part.startswith(".") and part not in KEPT_DOTFILES
        for part in pathlib.PurePosixPath(relative).parts
    )


def _join(url, relative):
    return os.fspath(url).rstrip("/") + "/" + relative


def upload_whole(gfile, path, target):
    """Copies the local file `path` to `target`, appearing whole or not at all.

    An object store's upload is such (the object exists once complete); on
    other file systems (`file://`, `hdfs://`) a copy is written in place, so
    it goes to a temporary name first and is renamed.
    """
    if target.partition("://")[0] in OBJECT_STORE_SCHEMES:
        gfile.copy(os.fspath(path), target, overwrite=True)
        return
    folder, _, name = target.rpartition("/")
    staged = f"{folder}/.{name}.upload"
    gfile.copy(os.fspath(path), staged, overwrite=True)
    gfile.rename(staged, target, overwrite=True)


class RemoteFolder:
    """A folder at `url` and its local mirror `local`.

    `pull()` makes the mirror what the folder holds; `push()` uploads the
    mirror's new and changed files and deletes the uploaded files that the
    run has since deleted (old checkpoints). A file in the folder that this
    object never saw is never deleted.
    """

    def __init__(self, url, local):
        self.url = os.fspath(url).rstrip("/")
        self.local = pathlib.Path(local)
        # relative path -> (size, mtime_ns) of the local copy last in sync.
        self._in_sync = {}

    def remote_files(self, skip=()):
        """The folder's files (relative paths, '/'-separated) and their stats.

        `skip`: names of subfolders left out (not even asked their stats).
        """
        gfile = _gfile()
        if not gfile.isdir(self.url):
            return {}
        files = {}
        for folder, _, names in gfile.walk(self.url):
            for name in names:
                path = folder.rstrip("/") + "/" + name
                relative = path[len(self.url) + 1 :]
                if _synced(relative) and relative.split("/")[0] not in skip:
                    files[relative] = remote_stat(gfile, path)
        return files

    def _local_files(self):
        if not self.local.is_dir():
            return {}
        files = {}
        for path in self.local.rglob("*"):
            relative = path.relative_to(self.local).as_posix()
            if path.is_file() and _synced(relative):
                files[relative] = path
        return files

    def pull(self, remote=None):
        """Makes the mirror hold what the folder holds; returns the files' count.

        `remote`: the folder's `remote_files()` where the caller has listed
        them already (a listing costs a request per file on GCS).
        """
        gfile = _gfile()
        remote = self.remote_files() if remote is None else remote
        self.local.mkdir(parents=True, exist_ok=True)
        downloads = Downloads(self.local)
        for relative, path in self._local_files().items():
            if relative not in remote:
                path.unlink()
                downloads.forget(relative)
        for relative, stat in sorted(remote.items()):
            target = self.local / relative
            url = _join(self.url, relative)
            downloads.fetch(gfile, url, target, stat, relative)
            stat = target.stat()
            self._in_sync[relative] = (stat.st_size, stat.st_mtime_ns)
        downloads.save()
        return len(remote)

    def push(self):
        """Uploads new and changed files, then deletes what the run deleted.

        Files upload in path order, so a checkpoint lands before the
        `training_metadata.json` beside it that names it.
        """
        gfile = _gfile()
        local = self._local_files()
        made = set()
        for relative, path in sorted(local.items()):
            stat = path.stat()
            state = (stat.st_size, stat.st_mtime_ns)
            if self._in_sync.get(relative) == state:
                continue
            target = _join(self.url, relative)
            parent = target.rsplit("/", 1)[0]
            if parent not in made:
                gfile.makedirs(parent)
                made.add(parent)
            upload_whole(gfile, path, target)
            self._in_sync[relative] = state
        for relative in sorted(set(self._in_sync) - set(local)):
            target = _join(self.url, relative)
            if gfile.exists(target):
                gfile.remove(target)
            del self._in_sync[relative]

    def remove_mirror(self):
        """Deletes the local mirror (a copy: the folder holds everything)."""
        shutil.rmtree(self.local, ignore_errors=True)


# Local mirror folder -> its `RemoteFolder`, while a run uses it.
_ACTIVE = {}


def activate(remote_folder):
    _ACTIVE[remote_folder.local.absolute()] = remote_folder


def deactivate(remote_folder):
    _ACTIVE.pop(remote_folder.local.absolute(), None)


def remote_folder_of(local):
    """The `RemoteFolder` whose mirror holds `local` while a run uses it; else None."""
    local = pathlib.Path(local).absolute()
    for folder in (local, *local.parents):
        if folder in _ACTIVE:
            return _ACTIVE[folder]
    return None


@contextlib.contextmanager
def remote_run_directory(url, check_files=None):
    """Runs the block in a synced local mirror of the folder `url`.

    Takes the folder's lock (`remote_folder_lock`), calls `check_files` with
    the names of the folder's files (to refuse a user's folder before
    downloading it), copies the folder down and yields the mirror. The job's
    chief uploads the mirror after each checkpoint (`ResumableCheckpoint`
    asks `remote_folder_of`) and when the block ends, however it ends; then
    the mirror is deleted. The other processes of a job only read. A killed
    run leaves its mirror, which the next run on this host brings up to date.
    """
    process = job_process_name()
    folder = RemoteFolder(url, mirror_folder(url, process))
    with remote_folder_lock(url):
        remote = folder.remote_files()
        if check_files is not None:
            check_files(sorted(remote))
        folder.pull(remote)
        activate(folder)
        try:
            yield folder.local
        except BaseException:
            if process or _pushed_what_is_there(folder):
                folder.remove_mirror()
            raise
        else:
            if not process:
                folder.push()
            folder.remove_mirror()
        finally:
            deactivate(folder)


def _pushed_what_is_there(folder):
    # A failed run still uploads its logs; the failure is what the user sees.
    try:
        folder.push()
    except Exception as error:  # noqa: BLE001 - the run's own error is raised
        warnings.warn(
            f"{folder.url}: could not upload {folder.local} after the run "
            f"failed ({error}); its files stay there.",
            stacklevel=3,
        )
        return False
    return True
