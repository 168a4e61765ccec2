"""How a pipeline model reads long documents: in windows, one output each.

A preprocessor with a `stride` (`BertPreprocessor(..., stride=64)`) cuts each
in-memory text into overlapping windows (`utils.windowed_documents`). `fit`
trains on every window with its document's label, `predict` combines the
windows' outputs into one per document and `evaluate` scores those. The
tasks that read documents this way override `combine_windows` and
`window_targets`; the others refuse a striding preprocessor.
"""

import keras

from keras_bert_impl.utils.raw_inputs import is_dataset


class WindowedReading:
    """The long-document part of `PipelineModel` (a mixin: it reads
    `self.preprocessor` and `self._needs_preprocessing`)."""

    def _reads_windows(self, x):
        """Whether `x` is read in windows: in-memory raw texts and a
        preprocessor with a `stride` (see `utils.windowed_documents`)."""
        stride = getattr(getattr(self, "preprocessor", None), "stride", None)
        if stride is None or not self._needs_preprocessing(x):
            return False
        if type(self).combine_windows is WindowedReading.combine_windows:
            raise self._no_windows()
        if is_dataset(x):
            raise ValueError(
                f"{type(self).__name__}: a preprocessor with stride={stride} reads "
                "in-memory texts (a list or array), got a tf.data.Dataset; pass the "
                "texts, or build the preprocessor without `stride`"
            )
        return True

    def _no_windows(self):
        return ValueError(
            f"{type(self).__name__} does not read long documents in windows: build "
            "its preprocessor without `stride`"
        )

    def combine_windows(self, outputs, windows):
        """Outputs on documents from outputs on their windows (a
        `WindowedDocuments`); tasks that read long documents override it and
        `window_targets`."""
        raise self._no_windows()

    def window_targets(self, y, windows):
        """Labels of the windows from the labels of their documents."""
        raise self._no_windows()

    def document_targets(self, y, y_pred):
        """Document labels as `evaluate` compares them with `combine_windows`."""
        return y

    def _windowed_data(self, x, y=None, sample_weight=None):
        features, windows = self.preprocessor.windows(x)
        if y is not None:
            y = self.window_targets(y, windows)
        return features, y, keras.tree.map_structure(windows.per_window, sample_weight)
