"""What `keras-bert` and the examples run: whole jobs built from the other parts.

Nothing in the package imports this but `cli.py`.
"""
