"""The errors of the `ballast` command itself: a command line that cannot be run (exit 2), work that failed (exit 1)."""


class UsageError(Exception):
    """A command line (or its file, profile, endpoint) that cannot be run: the message says what to change."""


class Failed(Exception):
    """Work that was tried and did not all succeed: `output` is what did, the message counts what did not."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output
