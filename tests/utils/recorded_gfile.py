"""Records what `tf.io.gfile.copy` copies, to prove what was (not) transferred."""


def recorded_copies(monkeypatch, side):
    """Returns the list that each later copy appends its file name to.

    Args:
        side: "source" (downloads from a bucket) or "target" (uploads into it).
    """
    import tensorflow as tf

    names = []
    copy = tf.io.gfile.copy

    def recorded_copy(source, target, overwrite=False):
        names.append((source if side == "source" else target).rsplit("/", 1)[-1])
        copy(source, target, overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", recorded_copy)
    return names
