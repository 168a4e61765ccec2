"""Outputs on object stores (`gs://bucket/serving/1`): written here, then uploaded.

`export --out` and `convert --preset/--output` write with local file
operations (staged folders renamed into place). Given a URL, the command
writes a local folder and, once it has succeeded, uploads it file by file
through `tf.io.gfile`; a failed command uploads nothing. An existing output
is replaced only with `--overwrite`, and then without a moment where the URL
is empty: the new files are uploaded over the old, and only then are the old
files the new output lacks deleted.
"""

import contextlib
import os
import shutil

from keras_bert_impl.utils.remote_folder import is_url
from keras_bert_impl.utils.remote_folder import mirror_folder
from keras_bert_impl.utils.remote_folder import upload_whole
from keras_bert_impl.utils.run_directory_lock import RunDirectoryError
from keras_bert_impl.utils.run_directory_lock import job_process_name


def _check_new_remote_output(gfile, url, flag, overwrite, inputs):
    """The rules `run_directory.check_new_output` keeps for local outputs."""
    for source in inputs:
        source = os.fspath(source).rstrip("/")
        if is_url(source) and (url == source or source.startswith(url + "/")):
            raise RunDirectoryError(
                f"{flag}={url}: it holds the input {source}, which writing there "
                "would replace. Pass an output outside the input."
            )
    if not gfile.exists(url):
        return
    if gfile.isdir(url) and not gfile.listdir(url):
        return
    if not overwrite:
        raise RunDirectoryError(
            f"{flag}={url}: already exists and is not empty; refusing to replace "
            "it. Pass a new path, or --overwrite to replace it."
        )


def _upload(gfile, local, url):
    """Uploads the file or folder `local` as `url`; deletes what it replaced."""
    remote_is_folder = gfile.isdir(url)
    if remote_is_folder:
        old = {
            folder.rstrip("/") + "/" + name
            for folder, _, names in gfile.walk(url)
            for name in names
        }
    else:
        old = {url} if gfile.exists(url) else set()
    if old and local.is_dir() != remote_is_folder:
        # A file where a folder was (or the reverse) cannot be replaced piecewise.
        for path in old:
            gfile.remove(path)
        old = set()
    if local.is_dir():
        new = {}
        for path in sorted(local.rglob("*")):
            if path.is_file():
                new[url + "/" + path.relative_to(local).as_posix()] = path
    else:
        new = {url: local}
    # Each folder once (on GCS a request each), before its files.
    for folder in sorted({target.rsplit("/", 1)[0] for target in new}):
        gfile.makedirs(folder)
    for target, path in new.items():
        upload_whole(gfile, path, target)
    for path in sorted(old - set(new)):
        gfile.remove(path)


@contextlib.contextmanager
def remote_output(url, flag, overwrite=False, inputs=()):
    """Yields the local path to write `url` at; uploads it if the block succeeds.

    Refuses, before anything is written, what a local output would refuse:
    an existing file or non-empty folder unless `overwrite`, and an output
    that is or holds one of the command's `inputs` (URLs).
    """
    import tensorflow as tf  # Only URL outputs need it.

    gfile = tf.io.gfile
    url = os.fspath(url).rstrip("/")
    _check_new_remote_output(gfile, url, flag, overwrite, inputs)
    local = mirror_folder(url, job_process_name(), kind="remote_outputs")
    _remove(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield local
        if not local.exists():
            raise FileNotFoundError(f"{flag}={url}: the command wrote nothing.")
        _upload(gfile, local, url)
    finally:
        _remove(local)


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
