"""Errors a user can act on: the CLI prints them as one line, without a traceback."""


class DogkitError(Exception):
    """An expected failure (bad input, missing file, refused request), stated for the user."""


class Interrupted(DogkitError):
    """Work stopped by SIGINT or SIGTERM (training saves first); ``exit_code`` is 128 + the signal's number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class BudgetTooSmall(DogkitError):
    """A time budget that leaves too little to train here (see ``toolkit.train.budget.too_small``);
    the command line exits 2, naming the budget that would do."""

    exit_code = 2

    def __init__(self, message: str, budget_s: float, needed_s: float, why: str, train_s: float):
        super().__init__(message)
        self.budget_s = budget_s  # the budget given
        self.needed_s = needed_s  # the smallest budget that trains for train_s here
        self.why = why  # what the budget must cover besides training, measured
        self.train_s = train_s  # the least training a budget must leave
