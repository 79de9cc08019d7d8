"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class DogkitError(Exception):
    """An expected failure (bad input, missing file, refused request), stated for the user."""


class Interrupted(DogkitError):
    """Work stopped by SIGINT or SIGTERM (training saves first); ``exit_code`` is 128 + the signal's number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
