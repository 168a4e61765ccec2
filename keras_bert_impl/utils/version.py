"""The package version, in a module that imports nothing (converters stamp it)."""

__version__ = "0.2.0"
