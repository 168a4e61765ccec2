"""Inputs on object stores (`gs://bucket/run`): read from a local copy.

A command's input given as a URL (a run folder, a preset, a task's data
folder, a vocabulary, a TF1 checkpoint prefix) is copied down through
`tf.io.gfile` into `$XDG_CACHE_HOME/keras_bert_impl/remote_inputs/...` and
read there, as a local path would be: every reader (h5py, tokenizers, the
task readers, TF checkpoint readers) then works unchanged. A second use
downloads only the files whose source changed since.
"""

import os

from keras_bert_impl.utils.remote_folder import Downloads
from keras_bert_impl.utils.remote_folder import RemoteFolder
from keras_bert_impl.utils.remote_folder import is_url
from keras_bert_impl.utils.remote_folder import mirror_folder
from keras_bert_impl.utils.remote_folder import remote_stat
from keras_bert_impl.utils.run_directory_lock import job_process_name

# The files beside a TF1 checkpoint prefix that its readers look for.
CHECKPOINT_COMPANIONS = ("bert_config.json", "vocab.txt")


def local_copy(path, flag=None, skip=()):
    """`path` itself, or for a URL the local copy of what it names.

    A URL may name a folder (copied whole), a file, or a TF checkpoint
    prefix (`gs://bucket/bert_model.ckpt`: its `.index` and `.data-*` files
    are copied; the local prefix is returned).

    Args:
        path: a local path or a URL `tf.io.gfile` reads.
        flag: the command-line flag `path` came from, for the error.
        skip: names of a folder's subfolders not copied (a run's
            `checkpoints` where only its model is read).

    Returns:
        A local path (`pathlib.Path` for a URL, else `path` unchanged).
    """
    if path is None or not is_url(path):
        return path
    import tensorflow as tf  # Only URL inputs need it.

    gfile = tf.io.gfile
    url = os.fspath(path).rstrip("/")
    local = mirror_folder(url, job_process_name(), kind="remote_inputs")
    if gfile.isdir(url):
        folder = RemoteFolder(url, local)
        folder.pull(folder.remote_files(skip))
        return local
    if gfile.exists(url):
        files = [url]
    else:
        files = sorted(gfile.glob(f"{url}.*"))
        # A Google release's prefix is read with the config and vocabulary
        # beside it (`bert_model.ckpt` in the folder holding bert_config.json).
        folder = url.rsplit("/", 1)[0]
        beside = [f"{folder}/{name}" for name in CHECKPOINT_COMPANIONS]
        files += [other for other in beside if files and gfile.exists(other)]
    if not files:
        named = f"{flag}={url}" if flag else url
        raise FileNotFoundError(
            f"{named}: expected a folder, a file or a checkpoint prefix, found "
            "nothing there; check the URL (and that this machine may read it)."
        )
    downloads = Downloads(local.parent)
    for source in files:
        name = source.rsplit("/", 1)[1]
        target = local.parent / name
        downloads.fetch(gfile, source, target, remote_stat(gfile, source), name)
    downloads.save()
    return local


def local_copies(paths, flag=None, skip=()):
    """`local_copy` of each comma-separated path of a flag's value."""
    if paths is None:
        return None
    return ",".join(
        os.fspath(local_copy(part, flag, skip)) for part in paths.split(",") if part
    )
