"""The request parameters of the statistics endpoint (SPEC §3), validated as legacy Laravel did.

The admin front end relies on Laravel's defaults (trimmed strings, "" meaning
absent, a bad `page` meaning page 1). `api.phpinput` nests the raw input; every
malformed value becomes a `ParamError`, which the API answers as
`{"result": 0, "msg": "<parameter>: <reason>"}`; nothing else escapes from this
module, whatever the input.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from api.errors import ParamError
from api.phpinput import INT64

SORT_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "follow_count",
    "lose_customer_count",
    "customer_count",
    "new_customer_count",
    "opportunity_count",
    "customer_last_date",
    "follow_last_date",
)
MAX_NAME_LENGTH = 100
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
FIRST_DATE = datetime.date(1900, 1, 1)  # keeps every day of a range representable
LAST_DATE = datetime.date(2199, 12, 31)  # and bounds the work one request can ask for
FILTERS = ("department_id", "industry_id", "source_id", "progress_id", "tag_id")

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# What Laravel's TrimStrings middleware strips: PCRE's Unicode \s, BOM, zero-width space, LRM.
_BLANKS = "\t\n\v\f\r\ufeff\u200b\u200e" + "".join(
    chr(c) for c in range(0x3001) if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp")
)
_SIGNED = re.compile(r"-?0*([0-9]{1,19})")  # ASCII only: int() would also read "١٢" or "1_0"
_DIGITS = re.compile(r"0*([0-9]{1,12})")
_PHP_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]{0,18})")  # FILTER_VALIDATE_INT
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?: ([0-9]{2}):([0-9]{2}):([0-9]{2}))?")
_DATE_FORMS = "YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or unix seconds"


@dataclass(frozen=True)
class StatisticsQuery:
    """One validated request: employee and customer filters, local date range, page and sort."""

    name: str = ""
    department_id: int | None = None
    industry_id: int | None = None
    source_id: int | None = None
    progress_id: int | None = None
    tag_id: int | None = None
    date: tuple[datetime.date, datetime.date] | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    order_by: str = "customer_count"
    order: Literal["asc", "desc"] = "desc"


# --- validation ------------------------------------------------------------------------------


def _input(value: object) -> object:
    """Laravel's TrimStrings and ConvertEmptyStringsToNull middleware, for one value."""
    if isinstance(value, str):
        return value.strip(_BLANKS) or None
    return value


def _name(search: Mapping[Any, Any]) -> str:
    value = _input(search.get("name"))
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ParamError("search.name", "must be a string")
    if len(value) > MAX_NAME_LENGTH:
        raise ParamError("search.name", f"must be at most {MAX_NAME_LENGTH} characters")
    return value


def _filter_id(search: Mapping[Any, Any], key: str) -> int | None:
    """An id filter; 0 means "all", as the legacy `if ($id)` did."""
    value = _input(search.get(key))
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (match := _SIGNED.fullmatch(value)):
        number = -int(match[1]) if value.startswith("-") else int(match[1])
    if number is None or not -INT64 <= number < INT64:
        raise ParamError(f"search.{key}", "must be an integer")
    return number or None


def _unix_date(seconds: int, zone: ZoneInfo) -> datetime.date:
    try:
        return (_EPOCH + datetime.timedelta(seconds=seconds)).astimezone(zone).date()
    except (OverflowError, ValueError) as exc:
        raise ParamError("search.date", "out of range") from exc


def _local_date(value: object, zone: ZoneInfo) -> datetime.date:
    """One end of the range as a local date: the day a timestamp or a local time falls on."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            day = _unix_date(value, zone)
        elif isinstance(value, str) and (digits := _DIGITS.fullmatch(value)):
            day = _unix_date(int(digits[1]), zone)
        elif isinstance(value, str) and (match := _DATE.fullmatch(value)):
            year, month, mday, hour, minute, second = (int(part or 0) for part in match.groups())
            day = datetime.datetime(year, month, mday, hour, minute, second).date()  # checks time
        else:
            raise ParamError("search.date", f"each date must be {_DATE_FORMS}")
    except ValueError as exc:
        raise ParamError("search.date", "not a real date or time") from exc
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ParamError("search.date", f"must be between {FIRST_DATE} and {LAST_DATE}")
    return day


def _date_range(
    search: Mapping[Any, Any], zone: ZoneInfo
) -> tuple[datetime.date, datetime.date] | None:
    value = _input(search.get("date"))
    if value is None or value == [] or value == {}:
        return None
    if not isinstance(value, list):
        raise ParamError("search.date", "must be a list [start, end]")
    if len(value) != 2:
        raise ParamError("search.date", "must have two elements, [start, end]")
    start, end = (_input(item) for item in value)
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ParamError("search.date", "needs both a start and an end")
    first, last = _local_date(start, zone), _local_date(end, zone)
    if first > last:
        raise ParamError("search.date", "start is after end")
    return (first, last)


def _page(value: object) -> int:
    """Laravel's page resolver: FILTER_VALIDATE_INT and >= 1, else page 1, never an error."""
    value = _input(value)
    number = 1
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e14:
        number = int(value)  # PHP reads 2.0 as "2"
    elif isinstance(value, str) and _PHP_INT.fullmatch(value):
        number = int(value)
    return number if 1 <= number < INT64 else 1


def _per_page(value: object) -> int:
    value = _input(value)
    if value is None:
        return DEFAULT_PER_PAGE
    number = 0
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (digits := _DIGITS.fullmatch(value)):
        number = int(digits[1])
    if not 1 <= number <= MAX_PER_PAGE:
        raise ParamError("per_page", f"must be an integer from 1 to {MAX_PER_PAGE}")
    return number


def _order_by(value: object) -> str:
    value = _input(value)
    if value is None:
        return "customer_count"
    if isinstance(value, str) and value in SORT_FIELDS:
        return value
    raise ParamError("order_by", f"must be one of {', '.join(SORT_FIELDS)}")


def _order(value: object) -> Literal["asc", "desc"]:
    value = _input(value)
    if value is None:
        return "desc"
    if isinstance(value, str) and value.isascii():
        lowered = value.lower()
        if lowered == "asc":
            return "asc"
        if lowered == "desc":
            return "desc"
    raise ParamError("order", "must be asc or desc")


def parse_query(params: Mapping[str, Any], zone: ZoneInfo) -> StatisticsQuery:
    """Validate all parameters; the first bad one (in SPEC order) is the error reported."""
    search = _input(params.get("search"))
    if search is None or search == []:
        search = {}
    if not isinstance(search, Mapping):
        raise ParamError("search", "must be an object")
    name = _name(search)
    ids = {key: _filter_id(search, key) for key in FILTERS}
    return StatisticsQuery(
        name=name,
        department_id=ids["department_id"],
        industry_id=ids["industry_id"],
        source_id=ids["source_id"],
        progress_id=ids["progress_id"],
        tag_id=ids["tag_id"],
        date=_date_range(search, zone),
        page=_page(params.get("page")),
        per_page=_per_page(params.get("per_page")),
        order_by=_order_by(params.get("order_by")),
        order=_order(params.get("order")),
    )
