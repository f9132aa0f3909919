"""SPEC §3 parameters in all three encodings, PHP's parse_str, and no error but ParamError."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.body import MAX_BODY_BYTES
from api.errors import ParamError
from api.params import SORT_FIELDS, StatisticsQuery, parse_query
from api.phpinput import nest_pairs, params_from_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
D = datetime.date
MARCH = (D(2023, 3, 1), D(2023, 3, 31))
# 1680192000 is 2023-03-31 00:00:00 in Shanghai and 2023-03-30 16:00:00 UTC.
MIDNIGHT_SHANGHAI = 1680192000


def php_pairs(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The pairs PHP's http_build_query sends for nested arrays: `a[b][]=v`."""
    pairs: list[tuple[str, Any]] = []

    def walk(name: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{name}[{key}]", item)
        elif isinstance(value, list):
            for item in value:
                walk(f"{name}[]", item)
        else:
            pairs.append((name, value))

    for key, value in params.items():
        walk(key, value)
    return pairs


def json_body(params: Mapping[str, Any]) -> dict[str, Any]:
    return params_from_body("application/json", json.dumps(params).encode(), b"")


def form_body(params: Mapping[str, Any]) -> dict[str, Any]:
    body = urlencode(php_pairs(params)).encode()
    return params_from_body("application/x-www-form-urlencoded", body, b"")


def query_string(params: Mapping[str, Any]) -> dict[str, Any]:
    return params_from_body(None, b"", urlencode(php_pairs(params)).encode())


Encoder = Callable[[Mapping[str, Any]], dict[str, Any]]
ENCODINGS = pytest.mark.parametrize(
    "encode", [json_body, form_body, query_string], ids=["json", "form", "query"]
)


def parse(params: Mapping[str, Any], encode: Encoder, zone: ZoneInfo = SHANGHAI) -> StatisticsQuery:
    return parse_query(encode(params), zone)


def rejected(params: Mapping[str, Any], encode: Encoder = json_body) -> ParamError:
    with pytest.raises(ParamError) as caught:
        parse(params, encode)
    return caught.value


# --- string values: the same meaning in JSON, form and query string --------------------------

ACCEPTED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {}),
    ({"search": ""}, {}),
    ({"search": {"name": ""}}, {}),
    ({"search": {"name": "韦"}}, {"name": "韦"}),
    ({"search": {"name": " 韦\u3000\t"}}, {"name": "韦"}),  # Laravel's TrimStrings
    ({"search": {"name": "   "}}, {}),
    ({"search": {"name": "x" * 100}}, {"name": "x" * 100}),
    ({"search": {"name": "50%_off"}}, {"name": "50%_off"}),  # literal, not LIKE wildcards
    ({"search": {"name": "a", "unknown": "x"}, "other": "y"}, {"name": "a"}),
    ({"search": {"department_id": "7"}}, {"department_id": 7}),
    ({"search": {"industry_id": "-3"}}, {"industry_id": -3}),
    ({"search": {"source_id": " 12 "}}, {"source_id": 12}),
    ({"search": {"progress_id": "007"}}, {"progress_id": 7}),
    ({"search": {"tag_id": "9223372036854775807"}}, {"tag_id": 2**63 - 1}),
    ({"search": {"tag_id": "-9223372036854775808"}}, {"tag_id": -(2**63)}),
    ({"search": {"department_id": "0"}}, {}),
    ({"search": {"industry_id": "-0"}}, {}),
    ({"search": {"tag_id": ""}}, {}),
    (
        {"search": {"department_id": "1", "industry_id": "2", "source_id": "3", "tag_id": "5"}},
        {"department_id": 1, "industry_id": 2, "source_id": 3, "tag_id": 5},
    ),
    ({"search": {"date": ["2023-03-01", "2023-03-31"]}}, {"date": MARCH}),
    ({"search": {"date": ["2023-03-01 00:00:00", "2023-03-31 23:59:59"]}}, {"date": MARCH}),
    ({"search": {"date": ["2023-03-01 18:30:00", "2023-03-31"]}}, {"date": MARCH}),
    ({"search": {"date": [" 2023-03-01 ", "2023-03-31"]}}, {"date": MARCH}),
    ({"search": {"date": ["2023-03-05", "2023-03-05"]}}, {"date": (D(2023, 3, 5), D(2023, 3, 5))}),
    ({"search": {"date": ["2024-02-29", "2024-02-29"]}}, {"date": (D(2024, 2, 29),) * 2}),
    (
        {"search": {"date": [str(MIDNIGHT_SHANGHAI - 1), str(MIDNIGHT_SHANGHAI)]}},
        {"date": (D(2023, 3, 30), D(2023, 3, 31))},
    ),
    ({"search": {"date": ["0", "0"]}}, {"date": (D(1970, 1, 1),) * 2}),
    (
        {"search": {"date": ["1900-01-01", "2199-12-31"]}},
        {"date": (D(1900, 1, 1), D(2199, 12, 31))},
    ),
    ({"search": {"date": []}}, {}),
    ({"search": {"date": ""}}, {}),
    ({"search": {"date": ["", ""]}}, {}),
    ({"search": {"date": [" ", ""]}}, {}),
    ({"page": "3"}, {"page": 3}),
    ({"page": " 4 "}, {"page": 4}),
    ({"page": "+2"}, {"page": 2}),
    ({"page": "9223372036854775807"}, {"page": 2**63 - 1}),
    ({"page": ""}, {}),
    ({"page": "0"}, {}),
    ({"page": "-1"}, {}),
    ({"page": "abc"}, {}),
    ({"page": "1.5"}, {}),
    ({"page": "2.0"}, {}),
    ({"page": "02"}, {}),  # FILTER_VALIDATE_INT refuses leading zeros
    ({"page": "9223372036854775808"}, {}),
    ({"page": ["2"]}, {}),
    ({"page": {"x": "2"}}, {}),
    ({"per_page": "1"}, {"per_page": 1}),
    ({"per_page": "100"}, {"per_page": 100}),
    ({"per_page": " 20 "}, {"per_page": 20}),
    ({"per_page": "020"}, {"per_page": 20}),
    ({"per_page": ""}, {}),
    *[({"order_by": field}, {"order_by": field}) for field in SORT_FIELDS],
    ({"order_by": ""}, {}),
    ({"order": "asc"}, {"order": "asc"}),
    ({"order": "ASC"}, {"order": "asc"}),
    ({"order": " Desc "}, {"order": "desc"}),
    ({"order": ""}, {}),
    (
        {
            "search": {"name": "谢", "tag_id": "4", "date": ["2023-03-01", "2023-03-31"]},
            "page": "2",
            "per_page": "5",
            "order_by": "follow_last_date",
            "order": "asc",
        },
        {
            "name": "谢",
            "tag_id": 4,
            "date": MARCH,
            "page": 2,
            "per_page": 5,
            "order_by": "follow_last_date",
            "order": "asc",
        },
    ),
]


@ENCODINGS
@pytest.mark.parametrize(("params", "changed"), ACCEPTED, ids=[str(c[0]) for c in ACCEPTED])
def test_accepted(encode: Encoder, params: dict[str, Any], changed: dict[str, Any]) -> None:
    assert parse(params, encode) == StatisticsQuery(**changed)


REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"search": "abc"}, "search"),
    ({"search": ["a"]}, "search"),
    ({"search": {"name": "x" * 101}}, "search.name"),
    ({"search": {"name": ["a"]}}, "search.name"),
    *[
        ({"search": {"industry_id": bad}}, "search.industry_id")
        for bad in ["abc", "1.5", "1e3", "+5", "0x10", "1_000", "١٢", "5 5", "--5"]
    ],
    ({"search": {"industry_id": "9223372036854775808"}}, "search.industry_id"),
    ({"search": {"industry_id": "-9223372036854775809"}}, "search.industry_id"),
    ({"search": {"industry_id": "9" * 5000}}, "search.industry_id"),
    ({"search": {"department_id": ["1"]}}, "search.department_id"),
    ({"search": {"source_id": {"a": "1"}}}, "search.source_id"),
    ({"search": {"progress_id": "x"}}, "search.progress_id"),
    ({"search": {"tag_id": "x"}}, "search.tag_id"),
    ({"search": {"date": "2023-03-01"}}, "search.date"),
    ({"search": {"date": {"from": "2023-03-01", "to": "2023-03-31"}}}, "search.date"),
    ({"search": {"date": ["2023-03-01"]}}, "search.date"),
    ({"search": {"date": [""]}}, "search.date"),
    ({"search": {"date": ["2023-03-01", "2023-03-15", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-03-01", ""]}}, "search.date"),
    ({"search": {"date": ["", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-02-30", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-03-31", "2023-03-01"]}}, "search.date"),
    ({"search": {"date": ["2023/03/01", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-3-1", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-03-01T00:00:00", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-03-01 24:00:00", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-03-01 10:00", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["yesterday", "today"]}}, "search.date"),
    ({"search": {"date": ["-1", "0"]}}, "search.date"),
    ({"search": {"date": ["1899-12-31", "2023-03-31"]}}, "search.date"),
    ({"search": {"date": ["2023-03-01", "2200-01-01"]}}, "search.date"),
    ({"search": {"date": ["0", "99999999999999999999"]}}, "search.date"),
    ({"search": {"date": ["2023-03-01", ["2023-03-31"]]}}, "search.date"),
    *[({"per_page": bad}, "per_page") for bad in ["0", "101", "10000", "x", "-5", "1.5", "+5"]],
    ({"per_page": ["10"]}, "per_page"),
    ({"order_by": "secret"}, "order_by"),
    ({"order_by": "Name"}, "order_by"),
    ({"order_by": ["id"]}, "order_by"),
    ({"order": "up"}, "order"),
    ({"order": "ascending"}, "order"),
    ({"order": ["asc"]}, "order"),
]


@ENCODINGS
@pytest.mark.parametrize(("params", "parameter"), REJECTED, ids=[str(c[0])[:80] for c in REJECTED])
def test_rejected(encode: Encoder, params: dict[str, Any], parameter: str) -> None:
    error = rejected(params, encode)
    assert error.parameter == parameter
    assert str(error) == f"{parameter}: {error.reason}"


# --- typed JSON values --------------------------------------------------------------------------

JSON_ACCEPTED: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"search": None}, {}),
    ({"search": {}}, {}),
    ({"search": []}, {}),  # PHP cannot tell [] from {}
    ({"search": {"name": None}}, {}),
    ({"search": {"name": 123}}, {"name": "123"}),
    ({"search": {"industry_id": 5}}, {"industry_id": 5}),
    ({"search": {"industry_id": -5}}, {"industry_id": -5}),
    ({"search": {"industry_id": 0}}, {}),
    ({"search": {"industry_id": None}}, {}),
    ({"search": {"tag_id": 2**63 - 1}}, {"tag_id": 2**63 - 1}),
    ({"search": {"date": None}}, {}),
    ({"search": {"date": {}}}, {}),
    ({"search": {"date": [None, None]}}, {}),
    (
        {"search": {"date": [MIDNIGHT_SHANGHAI - 1, MIDNIGHT_SHANGHAI]}},
        {"date": (D(2023, 3, 30), D(2023, 3, 31))},
    ),
    ({"search": {"date": [MIDNIGHT_SHANGHAI, "2023-03-31"]}}, {"date": (D(2023, 3, 31),) * 2}),
    ({"page": 2}, {"page": 2}),
    ({"page": 2.0}, {"page": 2}),  # PHP reads 2.0 as "2"
    ({"page": 2.5}, {}),
    ({"page": 0}, {}),
    ({"page": -3}, {}),
    ({"page": True}, {}),
    ({"page": None}, {}),
    ({"page": 2**63}, {}),
    ({"page": 1e300}, {}),
    ({"per_page": 20}, {"per_page": 20}),
    ({"per_page": None}, {}),
    ({"order_by": None}, {}),
    ({"order": None}, {}),
]


@pytest.mark.parametrize(
    ("params", "changed"), JSON_ACCEPTED, ids=[str(c[0]) for c in JSON_ACCEPTED]
)
def test_json_types_accepted(params: dict[str, Any], changed: dict[str, Any]) -> None:
    assert parse(params, json_body) == StatisticsQuery(**changed)


JSON_REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"search": 5}, "search"),
    ({"search": True}, "search"),
    ({"search": ["a", "b"]}, "search"),
    ({"search": {"name": True}}, "search.name"),
    ({"search": {"name": 1.5}}, "search.name"),
    ({"search": {"name": {"a": "b"}}}, "search.name"),
    *[
        ({"search": {"industry_id": bad}}, "search.industry_id")
        for bad in [1.5, 5.0, True, False, [], {}, [5], 2**63, 2**64 - 1, 2**64]
    ],
    ({"search": {"date": [1.0, 2.0]}}, "search.date"),
    ({"search": {"date": [True, True]}}, "search.date"),
    ({"search": {"date": [-1, 0]}}, "search.date"),
    ({"search": {"date": [0, 2**64 - 1]}}, "search.date"),
    ({"search": {"date": {"0": "2023-03-01", "1": "2023-03-31"}}}, "search.date"),
    ({"search": {"date": [None, "2023-03-31"]}}, "search.date"),
    ({"search": {"date": 1680192000}}, "search.date"),
    *[({"per_page": bad}, "per_page") for bad in [0, 101, -1, 20.0, True, [20], {}]],
    ({"order_by": 1}, "order_by"),
    ({"order": True}, "order"),
]


@pytest.mark.parametrize(
    ("params", "parameter"), JSON_REJECTED, ids=[str(c[0]) for c in JSON_REJECTED]
)
def test_json_types_rejected(params: dict[str, Any], parameter: str) -> None:
    assert rejected(params).parameter == parameter


def test_unix_seconds_become_dates_in_the_display_zone() -> None:
    pair = {"search": {"date": [MIDNIGHT_SHANGHAI - 1, str(MIDNIGHT_SHANGHAI)]}}
    assert parse(pair, json_body, SHANGHAI).date == (D(2023, 3, 30), D(2023, 3, 31))
    assert parse(pair, json_body, UTC).date == (D(2023, 3, 30), D(2023, 3, 30))
    local = {"search": {"date": ["2023-03-30 23:59:59", "2023-03-31 00:00:00"]}}
    assert parse(local, json_body, UTC).date == parse(local, json_body, SHANGHAI).date


def test_messages_say_what_is_allowed() -> None:
    assert str(rejected({"order_by": "x"})) == (
        "order_by: must be one of id, name, follow_count, lose_customer_count, customer_count, "
        "new_customer_count, opportunity_count, customer_last_date, follow_last_date"
    )
    assert str(rejected({"per_page": 0})) == "per_page: must be an integer from 1 to 100"
    assert str(rejected({"order": "x"})) == "order: must be asc or desc"
    assert str(rejected({"search": 1})) == "search: must be an object"
    assert str(rejected({"search": {"tag_id": "x"}})) == "search.tag_id: must be an integer"
    end_first = {"search": {"date": ["2023-03-02", "2023-03-01"]}}
    assert str(rejected(end_first)) == "search.date: start is after end"


def test_the_first_bad_parameter_in_spec_order_is_reported() -> None:
    params = {
        "search": {"name": "x" * 101, "industry_id": "x", "date": "x"},
        "per_page": 0,
        "order_by": "x",
        "order": "x",
    }
    assert rejected(params).parameter == "search.name"
    del params["search"]
    assert rejected(params).parameter == "per_page"


# --- PHP's parse_str ----------------------------------------------------------------------------

NESTED: list[tuple[list[tuple[str, str]], dict[str, Any]]] = [
    (
        [
            ("search[name]", "韦"),
            ("search[date][]", "a"),
            ("search[date][]", "b"),
            ("search[date][1]", "c"),
        ],
        {"search": {"name": "韦", "date": ["a", "c"]}},
    ),
    ([("page", "1"), ("page", "2")], {"page": "2"}),
    ([("a[1]", "b"), ("a[0]", "a")], {"a": ["a", "b"]}),
    ([("a[x]", "1"), ("a[]", "2")], {"a": {"x": "1", "0": "2"}}),
    ([("a[5]", "x"), ("a[]", "y")], {"a": {"5": "x", "6": "y"}}),
    ([("a[-1]", "x"), ("a[]", "y")], {"a": {"-1": "x", "0": "y"}}),
    ([("a[01]", "x"), ("a[1]", "y")], {"a": {"01": "x", "1": "y"}}),
    ([("a[0]", "x"), ("a[00]", "y")], {"a": {"0": "x", "00": "y"}}),
    ([("a[9223372036854775807]", "x"), ("a[]", "y")], {"a": {"9223372036854775807": "x"}}),
    (
        [("a[9223372036854775808]", "x"), ("a[]", "y")],
        {"a": {"9223372036854775808": "x", "0": "y"}},
    ),
    ([("x[][y]", "1"), ("x[][z]", "2")], {"x": [{"y": "1"}, {"z": "2"}]}),
    ([("a.b", "1"), ("a b", "2"), (" c", "3")], {"a_b": "2", "c": "3"}),
    ([("a.b[c.d]", "1")], {"a_b": {"c.d": "1"}}),
    ([("a[b", "1")], {"a_b": "1"}),
    ([("a[b.c[d", "1")], {"a_b_c_d": "1"}),
    ([("a[b][c", "1")], {"a": {"b": "1"}}),
    ([("a[][c", "1")], {"a": ["1"]}),
    ([("a[b]c", "1")], {"a": {"b": "1"}}),
    ([("a[ ]", "1"), ("a[ b]", "2")], {"a": {"0": "1", " b": "2"}}),
    ([("", "1"), ("[a]", "2"), ("  ", "3")], {}),
    ([("a", "1"), ("a[b]", "2")], {"a": {"b": "2"}}),
    ([("a[b]", "1"), ("a", "2")], {"a": "2"}),
    ([("a\0b[c]", "1")], {"a": "1"}),
    ([("0", "x"), ("1", "y")], {"0": "x", "1": "y"}),
    ([("search[date][]", ""), ("search[date][]", "")], {"search": {"date": ["", ""]}}),
]


@pytest.mark.parametrize(("pairs", "expected"), NESTED, ids=[str(c[0])[:60] for c in NESTED])
def test_nest_pairs_as_php(pairs: list[tuple[str, str]], expected: dict[str, Any]) -> None:
    assert nest_pairs(pairs) == expected


def test_php_nesting_limit_drops_the_whole_variable() -> None:
    deepest: Any = nest_pairs([("a" + "[b]" * 64, "1")])["a"]
    for _ in range(63):
        deepest = deepest["b"]
    assert deepest == {"b": "1"}
    too_deep = "a" + "[b]" * 65
    assert nest_pairs([("a", "1"), ("b", "2"), (too_deep, "1")]) == {"b": "2"}


def test_php_input_vars_limit_keeps_the_first_thousand() -> None:
    result = nest_pairs(("a[]", str(i)) for i in range(1500))
    assert result["a"] == [str(i) for i in range(1000)]


# --- bodies and query strings -------------------------------------------------------------------


def test_spec_form_body_with_raw_brackets() -> None:
    body = "search[name]=韦&search[date][]=2023-03-01&search[date][]=2023-03-31&page=2".encode()
    params = params_from_body("application/x-www-form-urlencoded", body, b"")
    assert parse_query(params, SHANGHAI) == StatisticsQuery(name="韦", date=MARCH, page=2)


def test_form_decoding_is_phps() -> None:
    body = b"search%5Bname%5D=a+b%2Bc&page&&per_page=%zz"
    assert params_from_body(None, body, b"") == {
        "search": {"name": "a b+c"},
        "page": "",
        "per_page": "%zz",
    }


def test_body_replaces_query_string_per_top_level_key() -> None:
    body = orjson.dumps({"search": {"tag_id": 3}, "order": "asc"})
    query = b"page=2&order=desc&search[name]=a"
    params = params_from_body("application/json", body, query)
    assert params == {"page": "2", "order": "asc", "search": {"tag_id": 3}}
    assert parse_query(params, SHANGHAI) == StatisticsQuery(tag_id=3, page=2, order="asc")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=UTF-8",
        "application/vnd.api+json",
        "text/json",
    ],
)
def test_json_content_types(content_type: str) -> None:
    assert params_from_body(content_type, b'{"page": 3}', b"") == {"page": 3}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
    ],
)
def test_form_content_types(content_type: str | None) -> None:
    assert params_from_body(content_type, b"page=3", b"") == {"page": "3"}


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x"])
def test_other_bodies_are_ignored_as_php_does(content_type: str) -> None:
    assert params_from_body(content_type, b"page=3", b"per_page=5") == {"per_page": "5"}


@pytest.mark.parametrize("body", [b"", b"  \n", b"\t"])
def test_empty_json_body_means_no_body_parameters(body: bytes) -> None:
    assert params_from_body("application/json", body, b"page=4") == {"page": "4"}


BAD_BODIES: list[tuple[str | None, bytes, bytes, str]] = [
    ("application/json", b"[1, 2]", b"", "body: JSON must be an object"),
    ("application/json", b'"x"', b"", "body: JSON must be an object"),
    ("application/json", b"null", b"", "body: JSON must be an object"),
    ("application/json", b'{"a": "\xff"}', b"", "body: must be UTF-8"),
    ("application/x-www-form-urlencoded", b"a=\xff", b"", "body: must be UTF-8"),
    ("application/x-www-form-urlencoded", b"a=%FF", b"", "body: must be UTF-8"),
    (None, b"a=%ED%A0%80", b"", "body: must be UTF-8"),  # an encoded surrogate
    (None, b"", b"a=%C4", "query: must be UTF-8"),
    (None, b"", b"a=\xc4", "query: must be UTF-8"),
    (None, b"a" * (MAX_BODY_BYTES + 1), b"", f"body: must be at most {MAX_BODY_BYTES} bytes"),
    (
        "text/plain",
        b"a" * (MAX_BODY_BYTES + 1),
        b"",
        f"body: must be at most {MAX_BODY_BYTES} bytes",
    ),
]


@pytest.mark.parametrize(("content_type", "body", "query", "message"), BAD_BODIES)
def test_bad_bodies(content_type: str | None, body: bytes, query: bytes, message: str) -> None:
    with pytest.raises(ParamError) as caught:
        params_from_body(content_type, body, query)
    assert str(caught.value) == message


@pytest.mark.parametrize("body", [b"{", b"{'a': 1}", b"NaN", b'{"a": 1}x', b"\xef\xbb\xbf{}"])
def test_invalid_json_is_a_body_error(body: bytes) -> None:
    with pytest.raises(ParamError) as caught:
        params_from_body("application/json", body, b"")
    assert caught.value.parameter == "body"
    assert caught.value.reason.startswith("invalid JSON")


def test_largest_body_is_accepted() -> None:
    body = b"page=2&x=" + b"a" * (MAX_BODY_BYTES - 9)
    assert len(body) == MAX_BODY_BYTES
    assert params_from_body(None, body, b"")["page"] == "2"


# --- properties ---------------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["", "0", "-0", "1", "100", "101", "asc", "DESC", "id", "2023-03-01"]),
    st.dates().map(str),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S")),
    st.integers(min_value=0, max_value=2**40).map(str),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
SEARCH_KEYS = st.sampled_from(
    ["name", "date", "department_id", "industry_id", "source_id", "progress_id", "tag_id"]
)
SEARCH = st.one_of(
    JSON_VALUES,
    st.dictionaries(
        SEARCH_KEYS | st.text(max_size=4),
        st.one_of(JSON_VALUES, st.lists(SCALARS, min_size=2, max_size=2)),
        max_size=5,
    ),
)
PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "search": SEARCH,
        "page": JSON_VALUES,
        "per_page": JSON_VALUES,
        "order_by": SCALARS | st.sampled_from(SORT_FIELDS),
        "order": SCALARS,
    },
)


def check_query(query: StatisticsQuery) -> None:
    """What the query engine relies on, whatever the input was."""
    assert query.page >= 1
    assert 1 <= query.per_page <= 100
    assert query.order_by in SORT_FIELDS
    assert query.order in ("asc", "desc")
    assert len(query.name) <= 100
    assert query.date is None or query.date[0] <= query.date[1]
    ids = (query.department_id, query.industry_id, query.source_id, query.progress_id, query.tag_id)
    for value in ids:
        assert value is None or (value != 0 and -(2**63) <= value < 2**63)


@given(PARAMS, st.sampled_from([SHANGHAI, UTC, ZoneInfo("Pacific/Kiritimati")]))
def test_parse_query_raises_only_param_errors(params: dict[str, Any], zone: ZoneInfo) -> None:
    try:
        query = parse_query(params, zone)
    except ParamError as error:
        assert str(error).startswith(f"{error.parameter}: ")
    else:
        check_query(query)


NAME_TEXT = st.text(alphabet=st.sampled_from("ab0 .[]-\x00"), max_size=12)


@given(
    st.sampled_from(
        [None, "application/json", "application/x-www-form-urlencoded", "text/plain", "a+json"]
    ),
    st.one_of(
        st.binary(max_size=64),
        st.lists(st.tuples(NAME_TEXT, st.text(max_size=8))).map(lambda p: urlencode(p).encode()),
        PARAMS.map(lambda p: json.dumps(p).encode()),
    ),
    st.binary(max_size=32)
    | st.lists(st.tuples(NAME_TEXT, SCALARS.map(str))).map(lambda p: urlencode(p).encode()),
)
def test_requests_raise_only_param_errors(
    content_type: str | None, body: bytes, query: bytes
) -> None:
    try:
        check_query(parse_query(params_from_body(content_type, body, query), SHANGHAI))
    except ParamError as error:
        assert str(error).startswith(f"{error.parameter}: ")


@given(st.lists(st.tuples(NAME_TEXT | st.text(max_size=10), st.text(max_size=4)), max_size=20))
def test_nest_pairs_gives_plain_json_shapes(pairs: list[tuple[str, str]]) -> None:
    def plain(value: Any) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, str)

    assert plain(nest_pairs(pairs))


TOP_KEYS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=" .[\0"), min_size=1, max_size=6
).filter(lambda key: not key.lstrip("-").isdigit())
INNER_KEYS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="]\0"), min_size=1, max_size=6
).filter(lambda key: key.strip() != "" and not key[0].isdigit() and not key.startswith(("-", " ")))
NESTABLE = st.recursive(
    st.text(max_size=6),
    lambda inner: (
        st.lists(st.text(max_size=6), min_size=1, max_size=3)
        | st.dictionaries(INNER_KEYS, inner, min_size=1, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(TOP_KEYS, NESTABLE, max_size=4))
def test_nest_pairs_inverts_http_build_query(params: dict[str, Any]) -> None:
    assert nest_pairs(php_pairs(params)) == params
    assert query_string(params) == params
