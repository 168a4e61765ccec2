"""`run_isolated`: one training run in a fresh process, its memory given back on return.

Many fits in one process (k-fold cross-validation, a hyper-parameter search)
stay flat with this package's optimizers on both backends (after
`keras.backend.clear_session()` and `gc.collect()`). Some things outside it do
not: on TensorFlow, a plain Keras optimizer with `global_clipnorm` (any whose
gradients are all dense) keeps every traced train step alive in TensorFlow's
global gradient registry, +230 MB per BERT-mini fit
(`benchmarks/repeated_fit_memory.py`), and third-party callbacks or metrics
may hold native memory too. A process that ends returns all of it: each run
here is a spawned process (never a fork, whose copy of TensorFlow's threads
deadlocks) that imports the function by name, runs it and sends back its
result.

    from keras_bert_impl.training import run_isolated

    def train_fold(fold):          # a module-level function: the child imports it
        model = BertClassifier.from_preset(...)
        history = model.fit(...)
        return history.history     # anything picklable

    histories = [run_isolated(train_fold, fold) for fold in range(5)]
"""

import multiprocessing
import os
import traceback

import keras


class IsolatedRunError(RuntimeError):
    """The isolated process died without a result (killed, out of memory)."""


def _child_main(connection, function, args, kwargs):
    try:
        result = function(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - everything goes back to the caller
        details = traceback.format_exc()
        try:
            connection.send(("error", error, details))
        except Exception:  # the exception itself does not pickle
            connection.send(("error", RuntimeError(repr(error)), details))
    else:
        connection.send(("result", result, None))
    finally:
        connection.close()


def _check_importable(function):
    qualified_name = getattr(function, "__qualname__", "")
    if not callable(function) or "<lambda>" in qualified_name:
        raise ValueError(
            f"run_isolated needs a module-level function; got {function!r}. A "
            "spawned process imports the function by its module and name: define "
            "it with `def` at the top level of a module (or of the script, under "
            "`if __name__ == '__main__':` for the calls)."
        )
    if "<locals>" in qualified_name:
        raise ValueError(
            f"run_isolated needs a module-level function; {qualified_name!r} is "
            "defined inside another function, which a spawned process cannot "
            "import. Move its `def` to the top level of the module."
        )


def run_isolated(function, *args, **kwargs):
    """Runs `function(*args, **kwargs)` in a fresh process and returns its result.

    The child uses this process's Keras backend and environment; arguments and
    the result travel by pickle. An exception in the child is raised here
    (same type and message when it pickles), with the child's traceback
    printed as its cause.

    Args:
        function: a module-level function (a spawned process imports it by name).
        *args, **kwargs: its arguments (picklable).

    Returns:
        What `function` returned.

    Raises:
        ValueError: `function` is a lambda or a nested function.
        IsolatedRunError: the child died without a result (killed by a
            signal, out of memory, `os._exit`), naming its exit code.
    """
    _check_importable(function)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    previous_backend = os.environ.get("KERAS_BACKEND")
    # The child picks its backend from the environment it inherits.
    os.environ["KERAS_BACKEND"] = keras.backend.backend()
    try:
        process = context.Process(
            target=_child_main, args=(sender, function, args, kwargs), daemon=True
        )
        process.start()
    finally:
        if previous_backend is None:
            os.environ.pop("KERAS_BACKEND", None)
        else:
            os.environ["KERAS_BACKEND"] = previous_backend
    sender.close()
    try:
        message = receiver.recv()
    except EOFError:
        message = None
    finally:
        receiver.close()
        process.join()
    if message is None:
        code = process.exitcode
        how = f"killed by signal {-code}" if code and code < 0 else f"exit code {code}"
        raise IsolatedRunError(
            f"The isolated run of {function.__qualname__} died without a result "
            f"({how}). A signal 9 is often the system's out-of-memory killer: "
            "use a smaller batch_size or sequence_length."
        )
    kind, value, details = message
    if kind == "error":
        raise value from IsolatedRunError(f"In the isolated process:\n{details}")
    return value
