"""SavedModel export with string-in signatures."""

from keras_bert_impl.export.export_saved_model import export_saved_model

__all__ = ["export_saved_model"]


def __getattr__(name):
    # Names that moved out of this package keep working for one release.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
