"""The API's exceptions: each one is answered with a legacy body by a handler in `api.app`.

Routes and services raise these and never build an error body themselves; a
foreign error (redis-py's) is wrapped where it surfaces, by `store_errors()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError


class ApiError(Exception):
    """Base of everything the API answers on purpose instead of a 500."""


class InvalidAppId(ApiError):
    """An unknown tenant or a wrong API key: the legacy `invalid appid` body, HTTP 200."""


class ParamError(ApiError):
    """A malformed parameter; `str()` is the `msg` the API answers with (HTTP 200)."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


RETRY_AFTER_SECONDS = 5
"""What every 503 tells the client to wait (`Retry-After`) before asking again."""


class ServiceUnavailable(ApiError):
    """The projection cannot be read now: HTTP 503 with a `result: 0` body and `Retry-After`."""

    @property
    def msg(self) -> str:
        """The `msg` of the legacy body."""
        return f"service: {self}"

    @property
    def reason(self) -> str:
        """The `reason` `/readyz` reports."""
        return str(self)


class ProjectionRebuilding(ServiceUnavailable):
    """The version the API reads is being built from the log (after a loss of Redis's state, a
    format upgrade, or before the first projector caught up): never answered partially."""

    def __init__(self, percent: int, detail: str = "") -> None:
        super().__init__(detail or f"the projection is being rebuilt from the log ({percent}%)")
        self.percent = percent

    @property
    def msg(self) -> str:
        return f"statistics are being rebuilt ({self.percent}%)"


class ProjectionUnreadable(ProjectionRebuilding):
    """The current projection was written in a format this code does not read: a projector of
    this code's format is rebuilding it."""

    def __init__(self, detail: str) -> None:
        super().__init__(0, detail)


class SettingsRestoring(ServiceUnavailable):
    """Redis lost the operator settings and they are not back from `<topic>.config` yet: the
    tenant's API key may be among the missing, so nothing is served."""

    def __init__(self) -> None:
        super().__init__("operator settings are being restored from the config topic")

    @property
    def msg(self) -> str:
        return "operator settings are being restored"


class StoreUnavailable(ServiceUnavailable):
    """Redis failed or cannot be reached."""

    @property
    def msg(self) -> str:
        return "service: projection store unavailable"

    @property
    def reason(self) -> str:
        return f"redis: {self}"


@contextmanager
def store_errors() -> Iterator[None]:
    """Wrap redis-py's errors as `StoreUnavailable`."""
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(str(exc)) from exc
