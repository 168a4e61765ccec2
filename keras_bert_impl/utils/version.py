"""The package version, in a module that imports nothing (converters stamp it)."""

__version__ = "0.1.0"
