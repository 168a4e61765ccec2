"""Helpers every part of the package shares; this package imports none of the others."""
