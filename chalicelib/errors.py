"""The few named domain errors; the API maps them to HTTP status codes in one place."""


class BallastError(Exception):
    reason = "InternalError"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SpecError(BallastError):
    """A request or spec that breaks a rule; `field` is the JSON path the user must fix."""

    reason = "Invalid"

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class NotFound(BallastError):
    reason = "NotFound"


class Conflict(BallastError):
    """An existing name on create, or a resourceVersion that moved since the caller read it."""

    reason = "Conflict"


class LeaseHeld(BallastError):
    reason = "LeaseHeld"


class Unavailable(BallastError):
    """A dependency (throttled, denied or down) that may recover by itself: try again later."""

    reason = "ServiceUnavailable"

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code
