"""The one family of errors the reconciler raises for anything that is not a bug.

The CLI prints ``str(error)`` as one line and exits 1; any other exception is a bug
(a traceback and exit 3). Messages never hold credentials or the Authorization header.

* ReconcilerError            base: a user's mistake or a refusal; one line, exit 1
  * ConfigError              reconciler.yaml or the environment is wrong
  * InputError               the contact files are wrong (carries every Problem)
  * PlanError                a plan can't be made (unknown id, no inbox_id, ...)
  * StalePlanError           live values moved since the saved plan was made
  * ThresholdError           the plan changes more than max_changes allows
  * DeadlineError            the run passed ``deadline`` (reconciler.yaml)
  * IncompleteError          a listing never showed every contact it counts (export)
  * ApiError                 the help desk's API (or the sandbox) failed us
    * TransportError         no usable HTTP response: connect error, timeout, dropped connection
    * InvalidResponseError   a response that is not the JSON the contract promises
    * HTTPStatusError        a non-2xx status; ``status`` and the server's ``message``
      * AuthenticationError  401: the message names the credentials to check
      * NotFoundError        404: unknown contact id or inbox_id
      * UnprocessableError   422: the server's ``message`` and ``attributes``
      * RateLimitedError     429 that outlasted every retry
      * ServerError          5xx that outlasted every retry (HTML or empty bodies included)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.model import Problem


class ReconcilerError(Exception):
    """Base of every error that is not a bug: printed as one line, exit 1."""


class ConfigError(ReconcilerError):
    """Settings (reconciler.yaml, environment, flags) are wrong."""


class InputError(ReconcilerError):
    """The contact files are wrong; ``problems`` holds every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        super().__init__(f"found {count} problem{'s' if count != 1 else ''}; nothing was sent")


class PlanError(ReconcilerError):
    """A plan can't be made from these declarations and this live state; ``redacted`` is
    the message with its personal values masked, for --redact."""

    def __init__(self, message: str, *, redacted: str | None = None) -> None:
        super().__init__(message)
        self.redacted = message if redacted is None else redacted


class StalePlanError(ReconcilerError):
    """Live values changed after the saved plan was made; nothing was applied."""


class DeadlineError(ReconcilerError):
    """The run passed the deadline the settings give it."""


class IncompleteError(ReconcilerError):
    """A listing showed fewer contacts than it counts, after every walk (ties in its order)."""


class ThresholdError(ReconcilerError):
    """The plan changes more contacts than ``max_changes`` allows without --force."""


class ApiError(ReconcilerError):
    """The API failed; the message says what it said."""


class TransportError(ApiError):
    """No usable HTTP response: connection refused or dropped, or a timeout."""


class InvalidResponseError(ApiError):
    """The response is not the JSON the API contract promises."""


class HTTPStatusError(ApiError):
    """A non-2xx response, after any retries it was worth."""

    def __init__(self, status: int, message: str, service: str = "the server") -> None:
        self.status = status
        self.message = message
        self.service = service
        super().__init__(f"{service} answered {status}: {message}")


class AuthenticationError(HTTPStatusError):
    """401: the credentials were refused (the message says which variables to check)."""

    def __init__(self, message: str, service: str = "the server") -> None:
        super().__init__(401, message, service)


class NotFoundError(HTTPStatusError):
    """404: unknown contact id or inbox_id."""


class UnprocessableError(HTTPStatusError):
    """422: the server refused the values; ``attributes`` names the fields."""

    def __init__(
        self, message: str, attributes: Sequence[str], service: str = "the server"
    ) -> None:
        self.attributes = tuple(attributes)
        super().__init__(422, message, service)


class RateLimitedError(HTTPStatusError):
    """429 that outlasted every retry."""


class ServerError(HTTPStatusError):
    """5xx that outlasted every retry."""
