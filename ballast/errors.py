"""The one error of the `ballast` command itself: a command line that cannot be run."""


class UsageError(Exception):
    """A command line that cannot be run: the message says what to change."""
