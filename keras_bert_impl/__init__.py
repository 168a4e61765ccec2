"""BERT as a Keras 3 package."""

__version__ = "0.1.0"
