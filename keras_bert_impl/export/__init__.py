"""Raw-string exports: SavedModel (any model); LiteRT, ONNX (classifier, backbone)."""

from keras_bert_impl.export.export_litert import export_litert
from keras_bert_impl.export.export_model import export
from keras_bert_impl.export.export_onnx import export_onnx
from keras_bert_impl.export.export_saved_model import export_saved_model

__all__ = ["export", "export_litert", "export_onnx", "export_saved_model"]


def __getattr__(name):
    # Names that moved out of this package keep working for one release.
    from keras_bert_impl.utils.moved_modules import moved_attribute

    return moved_attribute(__name__, name)
