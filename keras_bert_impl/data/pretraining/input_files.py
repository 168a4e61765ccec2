"""File lists as the original tools take them: comma-separated paths and globs."""

import os


def split_paths(paths):
    """A comma-separated string (the original flags) or a list of paths/globs."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [p for p in os.fspath(paths).split(",") if p.strip()]
    return [os.fspath(p).strip() for p in paths]


def expand_input_files(input_files, kind="input"):
    """Expands comma-separated globs (or a list of them) into a list of files.

    Raises `FileNotFoundError` naming the pattern (and `kind`, e.g. "pretraining")
    when a pattern matches nothing.
    """
    import tensorflow as tf

    files = []
    for pattern in split_paths(input_files):
        if any(ch in pattern for ch in "*?["):
            matched = sorted(tf.io.gfile.glob(pattern))
        else:
            matched = [pattern] if tf.io.gfile.exists(pattern) else []
        if not matched:
            raise FileNotFoundError(f"no {kind} file matches {pattern!r}")
        files.extend(matched)
    return files
