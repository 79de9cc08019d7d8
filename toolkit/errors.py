"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class DogkitError(Exception):
    """An expected failure (bad input, missing file, refused request), stated for the user."""
