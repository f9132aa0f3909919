"""The request parameters of the statistics endpoint (SPEC §3), read as legacy Laravel read them.

The admin front end was written against PHP: it sends bracket-style forms, JSON or
query strings, and relies on Laravel's defaults (trimmed strings, "" meaning absent,
a bad `page` meaning page 1). Every malformed value becomes a `ParamError`, which
the API answers as `{"result": 0, "msg": "<parameter>: <reason>"}`; nothing else
escapes from this module, whatever the input.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

import orjson

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
MAX_BODY_BYTES = 1 << 20
MAX_NAME_LENGTH = 100
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
MAX_INPUT_VARS = 1000  # php.ini max_input_vars: later pairs are dropped
MAX_INPUT_NESTING = 64  # php.ini max_input_nesting_level: deeper names are dropped
FIRST_DATE = datetime.date(1900, 1, 1)  # keeps every day of a range representable
LAST_DATE = datetime.date(2199, 12, 31)  # and bounds the work one request can ask for
FILTERS = ("department_id", "industry_id", "source_id", "progress_id", "tag_id")

_INT64 = 1 << 63
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# What Laravel's TrimStrings middleware strips: PCRE's Unicode \s, BOM, zero-width space, LRM.
_BLANKS = "\t\n\v\f\r\ufeff\u200b\u200e" + "".join(
    chr(c) for c in range(0x3001) if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp")
)
_SIGNED = re.compile(r"-?0*([0-9]{1,19})")  # ASCII only: int() would also read "١٢" or "1_0"
_DIGITS = re.compile(r"0*([0-9]{1,12})")
_PHP_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]{0,18})")  # FILTER_VALIDATE_INT
_PHP_KEY = re.compile(r"0|-?[1-9][0-9]{0,18}")  # strings PHP turns into integer array keys
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


class ParamError(Exception):
    """A malformed parameter; `str()` is the `msg` the API answers with."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


# --- PHP's parse_str ------------------------------------------------------------------------


class _PhpArray:
    """A PHP array under construction: int/str keys in insertion order, and PHP's next index."""

    __slots__ = ("items", "next_index")

    def __init__(self) -> None:
        self.items: dict[int | str, str | _PhpArray] = {}
        self.next_index = 0

    def set(self, key: int | str, value: str | _PhpArray) -> None:
        self.items[key] = value
        if isinstance(key, int) and key >= self.next_index:
            self.next_index = min(key + 1, _INT64 - 1)

    def append(self, value: str | _PhpArray) -> bool:
        """`$a[] = v`; False when PHP refuses (the next index is taken at PHP_INT_MAX)."""
        if self.next_index in self.items:
            return False
        self.set(self.next_index, value)
        return True

    def child(self, key: int | str) -> _PhpArray:
        """`$a[k]` as an array, replacing a scalar in place as PHP does."""
        found = self.items.get(key)
        if isinstance(found, _PhpArray):
            return found
        array = _PhpArray()
        self.set(key, array)
        return array

    def export(self) -> list[Any] | dict[str, Any]:
        """A list when the keys are exactly 0..n-1 (read as `$a[0]`, `$a[1]`), else a dict."""
        if set(self.items) == set(range(len(self.items))):
            return [_export(self.items[i]) for i in range(len(self.items))]
        return {str(key): _export(value) for key, value in self.items.items()}


def _export(value: str | _PhpArray) -> Any:
    return value.export() if isinstance(value, _PhpArray) else value


def _php_key(key: str) -> int | str:
    """PHP turns canonical decimal strings within 64 bits into int keys ("1" and 1 are one key)."""
    if _PHP_KEY.fullmatch(key) and -_INT64 <= int(key) < _INT64:
        return int(key)
    return key


def _php_path(name: str) -> tuple[list[str | None], bool] | None:
    """Split an input name into its top-level key and bracket indices (None for `[]`).

    A port of php_register_variable_ex. None drops the pair; a true flag means the
    nesting limit was exceeded, where PHP drops the pair and deletes the top-level key.
    """
    name = name.split("\0", 1)[0].lstrip(" ")
    bracket = name.find("[")
    head = (name if bracket < 0 else name[:bracket]).replace(" ", "_").replace(".", "_")
    if not head:
        return None
    path: list[str | None] = [head]
    position = bracket
    while position >= 0:
        if len(path) > MAX_INPUT_NESTING:
            return path[:1], True
        start = position + 1
        probe = start + 1 if name.startswith(" ", start) else start
        if name.startswith("]", probe):
            close, index = probe, None
        else:
            close = name.find("]", probe)
            if close < 0:
                if len(path) == 1:  # no closing bracket: "a[b" is the variable "a_b"
                    tail = re.sub(r"[ .\[]", "_", name[start:])
                    return [f"{head}_{tail}"], False
                return path, False  # deeper: the unterminated rest is ignored
            index = name[start:close]
        path.append(index)
        position = close + 1 if name.startswith("[", close + 1) else -1
    return path, False


def nest_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest `search[date][]=a`-style pairs exactly as PHP's parse_str fills an array.

    `[]` appends, explicit indices address, later pairs win, names get PHP's
    `.`/space to `_` mangling, and PHP's input limits apply. Arrays indexed 0..n-1
    come back as lists, others as dicts with string keys.
    """
    root = _PhpArray()
    for name, value in islice(pairs, MAX_INPUT_VARS):
        parsed = _php_path(name)
        if parsed is None:
            continue
        path, too_deep = parsed
        if too_deep:
            root.items.pop(_php_key(path[0] or ""), None)
            continue
        node = root
        for index in path[:-1]:
            if index is None:
                array = _PhpArray()
                if not node.append(array):
                    break
                node = array
            else:
                node = node.child(_php_key(index))
        else:
            last = path[-1]
            if last is None:
                node.append(value)
            else:
                node.set(_php_key(last), value)
    return {str(key): _export(value) for key, value in root.items.items()}


# --- request bodies -------------------------------------------------------------------------


def _unquote(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def _form_pairs(raw: bytes, source: str) -> list[tuple[str, str]]:
    """The name/value pairs of a urlencoded string; PHP's decoding, but UTF-8 required."""
    chunks = [chunk for chunk in raw.split(b"&") if chunk][:MAX_INPUT_VARS]
    pairs: list[tuple[str, str]] = []
    try:
        for chunk in chunks:
            name, _, value = chunk.partition(b"=")
            pairs.append((_unquote(name), _unquote(value)))
    except UnicodeDecodeError as exc:
        raise ParamError(source, "must be UTF-8") from exc
    return pairs


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamError("body", "must be UTF-8") from exc
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ParamError("body", f"invalid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ParamError("body", "JSON must be an object")
    return value


def params_from_body(content_type: str | None, body: bytes, query_string: bytes) -> dict[str, Any]:
    """All parameters of a request: the query string's, with the body's winning per top-level key.

    This is Laravel's `$request->input()`: the body is JSON when the content type
    says so (`/json` or `+json`), PHP form pairs when it is urlencoded or absent;
    PHP ignores any other body, and so do we.
    """
    query = nest_pairs(_form_pairs(query_string, "query"))
    if len(body) > MAX_BODY_BYTES:
        raise ParamError("body", f"must be at most {MAX_BODY_BYTES} bytes")
    if not body:
        return query
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if "/json" in media or "+json" in media:
        return query | _json_object(body)
    if media in ("", "application/x-www-form-urlencoded"):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParamError("body", "must be UTF-8") from exc
        return query | nest_pairs(_form_pairs(body, "body"))
    return query


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
    if number is None or not -_INT64 <= number < _INT64:
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
    return number if 1 <= number < _INT64 else 1


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
