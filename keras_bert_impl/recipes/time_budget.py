"""A wall-clock limit on `fit` (the demo trains for a few minutes, not N steps)."""

import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` once `seconds` of wall-clock time are spent."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.seconds:
            self.model.stop_training = True
