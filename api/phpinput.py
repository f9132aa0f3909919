"""Legacy request input: PHP's parse_str and Laravel's `$request->input()`, byte for byte.

The admin front end was written against PHP: it sends bracket-style forms, JSON or
query strings. This module turns the raw query string and body into the nested
dict PHP would have built; `api.params` then validates it. Every malformed input
becomes a `ParamError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import islice
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from api.body import MAX_BODY_BYTES
from api.errors import ParamError

MAX_INPUT_VARS = 1000  # php.ini max_input_vars: later pairs are dropped
MAX_INPUT_NESTING = 64  # php.ini max_input_nesting_level: deeper names are dropped
INT64 = 1 << 63
_PHP_KEY = re.compile(r"0|-?[1-9][0-9]{0,18}")  # strings PHP turns into integer array keys


class _PhpArray:
    """A PHP array under construction: int/str keys in insertion order, and PHP's next index."""

    __slots__ = ("items", "next_index")

    def __init__(self) -> None:
        self.items: dict[int | str, str | _PhpArray] = {}
        self.next_index = 0

    def set(self, key: int | str, value: str | _PhpArray) -> None:
        self.items[key] = value
        if isinstance(key, int) and key >= self.next_index:
            self.next_index = min(key + 1, INT64 - 1)

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
    if _PHP_KEY.fullmatch(key) and -INT64 <= int(key) < INT64:
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
