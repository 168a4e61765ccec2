"""Command-line flags that name URLs (`gs://...`): made local paths for a command.

Input flags point at local copies (`remote_inputs.local_copy`); output flags
at local paths uploaded when the command succeeds (`remote_outputs`).
"""

from keras_bert_impl.utils.remote_folder import is_url


def flags_made_local(args, inputs, outputs, stack, skips=None):
    """Points the URL flags of `args` at local paths; returns {local: URL} of outputs.

    Args:
        args: the parsed command line (an `argparse.Namespace`).
        inputs, outputs: the names of its flags that name inputs and outputs.
        stack: a `contextlib.ExitStack` on which the outputs' uploads are
            entered; they happen when it closes without an error.
        skips: {input flag: subfolders of its folder not copied}.
    """
    skips = skips or {}
    urls = {}
    for name in inputs + outputs:
        value = getattr(args, name, None)
        if isinstance(value, str) and is_url(value):
            urls[name] = value
    if not urls:
        return {}
    from keras_bert_impl.utils.remote_inputs import local_copies
    from keras_bert_impl.utils.remote_outputs import remote_output

    written = {}
    # Outputs first: one that would be refused is refused before any download.
    for name in outputs:
        if name in urls:
            local = stack.enter_context(
                remote_output(
                    urls[name],
                    f"--{name}",
                    overwrite=getattr(args, "overwrite", False),
                    inputs=[urls[flag] for flag in inputs if flag in urls],
                )
            )
            setattr(args, name, str(local))
            written[str(local)] = urls[name]
    for name in inputs:
        if name in urls:
            copied = local_copies(urls[name], f"--{name}", skips.get(name, ()))
            setattr(args, name, copied)
    return written


def named_by_url(metrics, written):
    """`metrics` naming each output by its URL instead of its local path."""
    if not written or not isinstance(metrics, dict):
        return metrics
    named = {}
    for key, value in metrics.items():
        for local, url in written.items():
            if isinstance(value, str) and value.startswith(local):
                value = url + value[len(local) :]
        named[key] = value
    return named
