"""SavedModel export with string-in signatures."""

from keras_bert_impl.export.export_from_run import export_from_run
from keras_bert_impl.export.export_saved_model import export_saved_model

__all__ = ["export_from_run", "export_saved_model"]
