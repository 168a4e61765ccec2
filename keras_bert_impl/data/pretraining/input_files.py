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
    when a pattern matches nothing, and ValueError when it names a folder.
    """
    import tensorflow as tf

    files = []
    for pattern in split_paths(input_files):
        if any(ch in pattern for ch in "*?["):
            matched = sorted(tf.io.gfile.glob(pattern))
        else:
            matched = [pattern] if tf.io.gfile.exists(pattern) else []
        if not matched:
            raise FileNotFoundError(
                f"--input_file: no {kind} file matches {pattern!r}; check the "
                "path (comma-separated files or globs)."
            )
        folders = [path for path in matched if tf.io.gfile.isdir(path)]
        if folders:
            raise ValueError(
                f"--input_file: {folders[0]!r} is a folder, expected {kind} files; "
                f"pass a glob of the files in it, e.g. '{folders[0]}/*'."
            )
        files.extend(matched)
    return files
