"""The statistics endpoint as the admin front end sees it: the real app on a real Redis.

Data is projected with the product's own projection code (tests.harness.project),
from hand-built events whose numbers are written out below and from the messy
streams of tests.messy, whose answers are checked against the naive reference
model. Every request goes through the ASGI app with its lifespan, as uvicorn runs it.
"""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson
import pytest
import redis
from pydantic import SecretStr
from starlette.exceptions import StarletteDeprecationWarning

from api.app import create_app
from custstats.servers import free_port
from custstats.settings import Settings
from projector.control import api_key_digest
from projector.layout import ControlLayout
from tests.harness import layout_of, project
from tests.messy import messy_events
from tests.support.api import create_version, mark_projection_complete, mark_settings_restored
from tests.support.reference_api import REFERENCE_QUERIES, reference_page

if TYPE_CHECKING:
    from httpx2 import Response  # what Starlette's TestClient returns

with warnings.catch_warnings():
    # Starlette 1.x warns when its TestClient has to fall back to httpx; it works the same.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
ENDPOINT = "/business/{}/plugin/CustomerManage/getStatisticsList"
ENVELOPE_KEYS = [
    "current_page",
    "data",
    "first_page_url",
    "from",
    "last_page",
    "last_page_url",
    "next_page_url",
    "path",
    "per_page",
    "prev_page_url",
    "to",
    "total",
]
ROW_KEYS = [
    "id",
    "name",
    "follow_count",
    "lose_customer_count",
    "customer_count",
    "new_customer_count",
    "opportunity_count",
    "customer_last_date",
    "follow_last_date",
    "userid",
    "avatar_mediaid",
]
INVALID_APPID = {"errcode": 500, "errmsg": "invalid appid"}
REBUILDING_0 = {"result": 0, "msg": "statistics are being rebuilt (0%)", "data": []}
MESSY_SEED = 3
Params = dict[str, Any]


# --- talking to the app ----------------------------------------------------------------------


def php_query(params: Mapping[str, Any]) -> str:
    """What PHP's http_build_query sends for nested params: `search[date][]=...`, UTF-8."""
    pairs: list[tuple[str, str]] = []

    def walk(name: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{name}[{key}]", item)
        elif isinstance(value, list):
            for item in value:
                walk(f"{name}[]", item)
        else:
            pairs.append((name, str(value)))

    for key, value in params.items():
        walk(key, value)
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def post_json(api: TestClient, tenant: int | str, params: Params, **kw: Any) -> Response:
    return api.post(
        ENDPOINT.format(tenant),
        content=orjson.dumps(params),
        headers={"Content-Type": "application/json", **kw.pop("headers", {})},
        **kw,
    )


def post_form(api: TestClient, tenant: int | str, params: Params) -> Response:
    return api.post(
        ENDPOINT.format(tenant),
        content=php_query(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def get_query(api: TestClient, tenant: int | str, params: Params) -> Response:
    query = php_query(params)
    return api.get(ENDPOINT.format(tenant) + (f"?{query}" if query else ""))


def body(response: Response) -> dict[str, Any]:
    """The JSON body of a legacy answer, which is always HTTP 200 and JSON."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    decoded: dict[str, Any] = orjson.loads(response.content)
    return decoded


def page_of(response: Response) -> dict[str, Any]:
    answer = body(response)
    assert (answer["result"], answer["msg"]) == (1, "ok"), answer
    paginator: dict[str, Any] = answer["data"]
    return paginator


# --- fixtures --------------------------------------------------------------------------------


def settings_for(redis_url: str, key_prefix: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=SecretStr(redis_url),
        key_prefix=key_prefix,
        display_tz="Asia/Shanghai",
        public_base_url=extra.pop("public_base_url", None),
        **extra,
    )


@pytest.fixture
def settings(redis_url: str, key_prefix: str) -> Settings:
    return settings_for(redis_url, key_prefix)


@pytest.fixture
def api(settings: Settings, redis_client: redis.Redis, key_prefix: str) -> Iterator[TestClient]:
    """The app of a deployment whose operator settings are restored (the projector marks its
    versions complete itself as `project` runs it)."""
    mark_settings_restored(redis_client, key_prefix)
    with TestClient(create_app(settings.api_config()), raise_server_exceptions=False) as client:
        yield client


class EventLog:
    """Hand-built events with readable defaults and unique ids."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def add(self, kind: str, tenant: int, at: str | int, **fields: Any) -> None:
        self.events.append(
            {
                "event_id": f"e{next(self._ids):05d}",
                "type": kind,
                "tenant_id": tenant,
                "occurred_at": at,
                **fields,
            }
        )

    def profile(
        self,
        tenant: int,
        employee: int,
        name: str,
        departments: list[int],
        userid: str | None = None,
        avatar: str | None = None,
    ) -> None:
        self.add(
            "employee-upserted",
            tenant,
            "2023-01-01T09:00:00+08:00",
            employee_id=employee,
            name=name,
            department_ids=departments,
            userid=userid,
            avatar_mediaid=avatar,
        )

    def customer(
        self,
        tenant: int,
        employee: int,
        customer: int,
        at: str,
        *,
        industry: int | None = None,
        tags: list[int] | None = None,
    ) -> None:
        self.add(
            "customer-added",
            tenant,
            at,
            employee_id=employee,
            customer_id=customer,
            industry_id=industry,
            source_id=None,
            progress_id=None,
            tag_ids=tags or [],
        )


def hand_events() -> list[dict[str, Any]]:
    """Tenant 25: four employees with known numbers; 26: no opportunities; 28: 23 employees."""
    log = EventLog()
    log.profile(25, 222, "谢梓杰", [1], "xiezijie", "media-222")
    log.profile(25, 223, "Alice Wong", [1, 2])
    log.profile(25, 224, "韦小宝", [2])
    log.customer(25, 222, 1, "2023-03-01T10:00:00+08:00", industry=3, tags=[7])
    log.customer(25, 222, 2, "2023-03-15T02:00:00Z", industry=4)  # 10:00 in Shanghai
    log.add("follow-recorded", 25, "2023-03-07T17:19:04+08:00", employee_id=222, customer_id=1)
    log.add("opportunity-created", 25, 1678300000, employee_id=222, customer_id=1, opportunity_id=9)
    log.add("customer-lost", 25, "2023-03-20T11:00:00+08:00", employee_id=222, customer_id=2)
    log.customer(25, 223, 3, "2023-02-10T09:30:00+08:00", industry=3)
    log.add("follow-recorded", 25, "2023-03-30T14:41:18+08:00", employee_id=223, customer_id=3)
    log.customer(25, 225, 4, "2023-03-02T08:00:00+08:00")  # employee 225 has no profile
    log.profile(26, 500, "陈静", [1])
    log.customer(26, 500, 7, "2023-03-03T12:00:00+08:00")
    for employee in range(301, 324):
        log.profile(28, employee, f"员工{employee}", [employee % 3])
    log.customer(28, 310, 1, "2023-03-01T10:00:00+08:00")
    log.customer(28, 310, 2, "2023-03-02T10:00:00+08:00")
    log.customer(28, 305, 3, "2023-03-03T10:00:00+08:00")
    return log.events


@pytest.fixture
def hand(redis_client: redis.Redis, key_prefix: str) -> list[dict[str, Any]]:
    events = hand_events()
    project(redis_client, key_prefix, [events[:9], events[9:]])
    return events


@pytest.fixture
def messy(redis_client: redis.Redis, key_prefix: str) -> list[dict[str, Any]]:
    events = messy_events(MESSY_SEED, 1500)
    project(redis_client, key_prefix, [events[i : i + 300] for i in range(0, len(events), 300)])
    return events


# --- rows and numbers --------------------------------------------------------------------------

ROW_222 = {
    "id": 222,
    "name": "谢梓杰",
    "follow_count": 1,
    "lose_customer_count": 1,
    "customer_count": 1,
    "new_customer_count": 2,
    "opportunity_count": 1,
    "customer_last_date": "2023-03-15 10:00:00",
    "follow_last_date": "2023-03-07 17:19:04",
    "userid": "xiezijie",
    "avatar_mediaid": "media-222",
}


@pytest.mark.usefixtures("hand")
def test_rows_carry_the_numbers_of_the_events(api: TestClient) -> None:
    page = page_of(post_json(api, 25, {}))
    assert [row["id"] for row in page["data"]] == [222, 223, 225, 224]  # ties by id
    assert page["data"][0] == ROW_222
    assert page["data"][2] == {
        "id": 225,
        "name": "",
        "follow_count": 0,
        "lose_customer_count": 0,
        "customer_count": 1,
        "new_customer_count": 1,
        "opportunity_count": 0,
        "customer_last_date": "2023-03-02 08:00:00",
        "follow_last_date": "-",
        "userid": None,
        "avatar_mediaid": None,
    }
    march = page_of(post_json(api, 25, {"search": {"date": ["2023-03-01", "2023-03-10"]}}))
    assert {row["id"]: row["customer_count"] for row in march["data"]} == {
        222: 1,
        223: 0,
        225: 1,
        224: 0,
    }
    industry = page_of(
        post_json(api, 25, {"search": {"industry_id": 3}, "order_by": "name", "order": "asc"})
    )
    assert [(row["name"], row["new_customer_count"]) for row in industry["data"]] == [
        ("", 0),
        ("Alice Wong", 1),
        ("谢梓杰", 1),
        ("韦小宝", 0),
    ]


# --- the three encodings ---------------------------------------------------------------------

PARAMETER_CASES: dict[str, Params] = {
    "search.name": {"search": {"name": "王"}},
    "search.department_id": {"search": {"department_id": 3}},
    "search.industry_id": {"search": {"industry_id": 5}},
    "search.source_id": {"search": {"source_id": 2}},
    "search.progress_id": {"search": {"progress_id": 4}},
    "search.tag_id": {"search": {"tag_id": 7}},
    "search.date": {"search": {"date": ["2023-03-01", "2023-03-31"]}},
    "page": {"page": 2},
    "per_page": {"per_page": 4},
    "order_by": {"order_by": "follow_count"},
    "order": {"order": "asc"},
    "all together": {
        "search": {
            "name": "bob",
            "industry_id": 12,
            "tag_id": 17,
            "date": ["2023-01-15", "2023-04-30"],
        },
        "page": 2,
        "per_page": 2,
        "order_by": "follow_last_date",
        "order": "desc",
    },
}


@pytest.mark.parametrize("params", PARAMETER_CASES.values(), ids=PARAMETER_CASES.keys())
def test_every_parameter_reads_the_same_as_json_form_body_and_query_string(
    api: TestClient, messy: list[dict[str, Any]], params: Params
) -> None:
    tenant = 1
    as_json = post_json(api, tenant, params)
    as_form = post_form(api, tenant, params)
    as_query = get_query(api, tenant, params)
    assert as_form.content == as_json.content
    assert as_query.content == as_json.content
    page = page_of(as_json)
    rows, total = reference_page(messy, tenant, params)
    assert (page["data"], page["total"]) == (rows, total)
    assert as_json.content != post_json(api, tenant, {}).content, "the parameter had no effect"


def test_query_string_and_body_combine_with_the_body_winning(
    api: TestClient, messy: list[dict[str, Any]]
) -> None:
    path = ENDPOINT.format(1) + "?per_page=3&page=2"
    combined = page_of(api.post(path, json={"page": 3}))
    assert (combined["per_page"], combined["current_page"]) == (3, 3)


@pytest.mark.parametrize(
    "day_forms",
    [
        ["2023-03-01 00:00:00", "2023-03-31 23:59:59"],
        ["2023-03-01 18:30:00", "2023-03-31 00:00:01"],  # widened to whole days
        [str(1677600000), str(1680192000 + 86399)],  # unix seconds: 03-01 00:00, 03-31 23:59:59
    ],
)
def test_date_forms_mean_whole_days_in_the_display_zone(
    api: TestClient, messy: list[dict[str, Any]], day_forms: list[str]
) -> None:
    plain = post_json(api, 2, {"search": {"date": ["2023-03-01", "2023-03-31"]}})
    assert post_json(api, 2, {"search": {"date": day_forms}}).content == plain.content
    assert get_query(api, 2, {"search": {"date": day_forms}}).content == plain.content


# --- the envelope ----------------------------------------------------------------------------

URL = "http://testserver/business/28/plugin/CustomerManage/getStatisticsList"
ORDER_28 = [310, 305, *[e for e in range(301, 324) if e not in (305, 310)]]


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(
    ("page", "ids", "first", "last", "prev_page", "next_page"),
    [
        (1, ORDER_28[:10], 1, 10, None, 2),
        (2, ORDER_28[10:20], 11, 20, 1, 3),
        (3, ORDER_28[20:], 21, 23, 2, None),
        (4, [], None, None, 3, None),  # past the last page, as Laravel answers it
        (9, [], None, None, 8, None),
    ],
)
def test_envelope_fields_on_each_page(
    api: TestClient,
    page: int,
    ids: list[int],
    first: int | None,
    last: int | None,
    prev_page: int | None,
    next_page: int | None,
) -> None:
    response = post_json(api, 28, {"page": page})
    paginator = page_of(response)
    assert [row["id"] for row in paginator.pop("data")] == ids
    assert paginator == {
        "current_page": page,
        "first_page_url": f"{URL}?page=1",
        "from": first,
        "last_page": 3,
        "last_page_url": f"{URL}?page=3",
        "next_page_url": None if next_page is None else f"{URL}?page={next_page}",
        "path": URL,
        "per_page": 10,
        "prev_page_url": None if prev_page is None else f"{URL}?page={prev_page}",
        "to": last,
        "total": 23,
    }


@pytest.mark.usefixtures("hand")
def test_body_bytes_have_the_legacy_key_order_and_raw_utf8(api: TestClient) -> None:
    raw = post_json(api, 25, {"per_page": 1}).content
    assert raw.startswith(b'{"result":1,"msg":"ok","data":{"current_page":1,"data":[{"id":222,')
    assert "谢梓杰".encode() in raw  # not \u escaped, as the legacy PHP answered
    answer = orjson.loads(raw)
    assert list(answer) == ["result", "msg", "data"]
    assert list(answer["data"]) == ENVELOPE_KEYS
    assert list(answer["data"]["data"][0]) == ROW_KEYS
    without_plugin = orjson.loads(post_json(api, 26, {}).content)
    assert list(without_plugin["data"]["data"][0]) == [
        k for k in ROW_KEYS if k != "opportunity_count"
    ]


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize("page", [1, 3])
def test_total_zero_is_one_empty_page(api: TestClient, page: int) -> None:
    paginator = page_of(post_json(api, 25, {"search": {"name": "nobody"}, "page": page}))
    prev_url = None if page == 1 else f"{URL.replace('28', '25')}?page={page - 1}"
    assert (paginator["data"], paginator["total"], paginator["last_page"]) == ([], 0, 1)
    assert (paginator["from"], paginator["to"], paginator["next_page_url"]) == (None, None, None)
    assert paginator["prev_page_url"] == prev_url


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize("page", ["abc", "0", "-3", "1.5", "", [2]])
def test_a_bad_page_is_page_one_as_in_laravel(api: TestClient, page: Any) -> None:
    assert page_of(post_json(api, 28, {"page": page}))["current_page"] == 1


# --- the opportunity plugin ------------------------------------------------------------------


@pytest.mark.usefixtures("hand")
def test_opportunity_count_appears_once_the_tenant_had_an_opportunity(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    assert all("opportunity_count" in row for row in page_of(post_json(api, 25, {}))["data"])
    assert all("opportunity_count" not in row for row in page_of(post_json(api, 26, {}))["data"])

    project(
        redis_client,
        key_prefix,
        [
            [
                {
                    "event_id": "late-opportunity",
                    "type": "opportunity-created",
                    "tenant_id": 26,
                    "occurred_at": "2023-04-01T10:00:00+08:00",
                    "employee_id": 500,
                    "customer_id": 7,
                    "opportunity_id": 1,
                }
            ]
        ],
    )
    assert page_of(post_json(api, 26, {}))["data"][0]["opportunity_count"] == 1


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(
    ("tenant", "mode", "shown"),
    [
        (25, "off", False),
        (25, "on", True),
        (25, "auto", True),
        (26, "on", True),
        (26, "off", False),
        (26, "auto", False),
    ],
)
def test_operator_override_of_the_opportunity_plugin(
    api: TestClient,
    redis_client: redis.Redis,
    key_prefix: str,
    tenant: int,
    mode: str,
    shown: bool,
) -> None:
    redis_client.hset(ControlLayout(key_prefix).tenant_config(tenant), "opportunity", mode)
    rows = page_of(post_json(api, tenant, {}))["data"]
    assert rows and all(("opportunity_count" in row) is shown for row in rows)
    if shown and tenant == 26:
        assert rows[0]["opportunity_count"] == 0


# --- tenants and API keys --------------------------------------------------------------------


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(
    "tenant",
    [
        "27",
        "1",
        "99999999999999999999",
        "abc",
        "0",
        "-25",
        "25abc",
        "0x19",
        "25.0",
        "%2025",
        "²",
        "２５",
    ],
)
def test_unknown_or_malformed_tenant_is_invalid_appid(api: TestClient, tenant: str) -> None:
    for response in (post_json(api, tenant, {}), get_query(api, tenant, {})):
        assert response.status_code == 200
        assert orjson.loads(response.content) == INVALID_APPID


@pytest.mark.usefixtures("hand")
def test_registered_tenant_without_events_answers_an_empty_page(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    assert body(post_json(api, 40, {})) == INVALID_APPID
    redis_client.sadd(ControlLayout(key_prefix).registered_tenants, "40")
    paginator = page_of(post_json(api, 40, {}))
    assert (paginator["data"], paginator["total"], paginator["from"]) == ([], 0, None)


def test_before_any_projector_ran_a_registered_tenant_is_rebuilding(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    """No projection yet: nothing is known about unregistered tenants, and nothing to answer."""
    redis_client.sadd(ControlLayout(key_prefix).registered_tenants, "40")
    for tenant in (40, 41):
        response = post_json(api, tenant, {})
        assert (response.status_code, response.headers["retry-after"]) == (503, "5")
        assert orjson.loads(response.content) == REBUILDING_0
    create_version(redis_client, key_prefix)
    mark_projection_complete(redis_client, key_prefix)
    assert page_of(post_json(api, 40, {}))["total"] == 0
    assert body(post_json(api, 41, {})) == INVALID_APPID


@pytest.mark.parametrize("tenant", [10**18 - 1, 10**18, 2**62, 2**63 - 1])
def test_every_tenant_up_to_2_pow_63_minus_1_can_be_queried(
    api: TestClient, redis_client: redis.Redis, key_prefix: str, tenant: int
) -> None:
    """SPEC §1/§3: tenants 1 .. 2^63-1 are valid; beyond that the URL names no tenant."""
    create_version(redis_client, key_prefix)
    mark_projection_complete(redis_client, key_prefix)
    assert body(post_json(api, tenant, {})) == INVALID_APPID
    redis_client.sadd(ControlLayout(key_prefix).registered_tenants, str(tenant))
    for response in (post_json(api, tenant, {}), get_query(api, tenant, {})):
        paginator = page_of(response)
        assert paginator["total"] == 0
        assert paginator["path"].endswith(
            f"/business/{tenant}/plugin/CustomerManage/getStatisticsList"
        )


def test_tenant_beyond_2_pow_63_minus_1_is_invalid_appid(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    redis_client.sadd(ControlLayout(key_prefix).registered_tenants, str(2**63), str(2**64))
    for tenant in (2**63, 2**64):
        assert body(post_json(api, tenant, {})) == INVALID_APPID


@pytest.mark.usefixtures("hand")
def test_api_key_set_by_the_operator_is_required(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    assert api_key_digest("s3cret") == hashlib.sha256(b"s3cret").hexdigest()
    config = ControlLayout(key_prefix).tenant_config(25)
    redis_client.hset(config, "api_key", api_key_digest("s3cret"))
    assert body(post_json(api, 25, {})) == INVALID_APPID
    assert body(post_json(api, 25, {}, headers={"X-Api-Key": "wrong"})) == INVALID_APPID
    assert body(post_json(api, 25, {}, headers={"X-Api-Key": "s3cret "})) == INVALID_APPID
    assert page_of(post_json(api, 25, {}, headers={"X-Api-Key": "s3cret"}))["total"] == 4
    # a bad parameter does not tell a caller without the key that the tenant exists
    assert body(post_json(api, 25, {"per_page": 0})) == INVALID_APPID
    assert page_of(post_json(api, 28, {}))["total"] == 23  # other tenants need no key
    redis_client.hdel(config, "api_key")
    assert page_of(post_json(api, 25, {}))["total"] == 4


# --- malformed parameters --------------------------------------------------------------------

BAD_PARAMS: dict[str, tuple[Params, str]] = {
    "per_page text": ({"per_page": "ten"}, "per_page"),
    "per_page zero": ({"per_page": 0}, "per_page"),
    "per_page negative": ({"per_page": -5}, "per_page"),
    "per_page huge": ({"per_page": 100_000}, "per_page"),
    "per_page float": ({"per_page": 2.5}, "per_page"),
    "department text": ({"search": {"department_id": "sales"}}, "search.department_id"),
    "industry float": ({"search": {"industry_id": "1.5"}}, "search.industry_id"),
    "source list": ({"search": {"source_id": [1]}}, "search.source_id"),
    "progress object": ({"search": {"progress_id": {"a": 1}}}, "search.progress_id"),
    "tag bool": ({"search": {"tag_id": True}}, "search.tag_id"),
    "tag too big": ({"search": {"tag_id": "1" + "0" * 30}}, "search.tag_id"),
    "name object": ({"search": {"name": {"a": "b"}}}, "search.name"),
    "name too long": ({"search": {"name": "x" * 101}}, "search.name"),
    "impossible date": ({"search": {"date": ["2023-02-30", "2023-03-01"]}}, "search.date"),
    "impossible time": ({"search": {"date": ["2023-03-01 24:00:00", "2023-03-02"]}}, "search.date"),
    "reversed dates": ({"search": {"date": ["2023-03-31", "2023-03-01"]}}, "search.date"),
    "one-element date": ({"search": {"date": ["2023-03-01"]}}, "search.date"),
    "three dates": (
        {"search": {"date": ["2023-03-01", "2023-03-02", "2023-03-03"]}},
        "search.date",
    ),
    "half a range": ({"search": {"date": ["2023-03-01", ""]}}, "search.date"),
    "date words": ({"search": {"date": ["yesterday", "today"]}}, "search.date"),
    "date string": ({"search": {"date": "2023-03-01"}}, "search.date"),
    "year 9999": ({"search": {"date": ["9999-01-01", "9999-12-31"]}}, "search.date"),
    "unknown order_by": ({"order_by": "salary"}, "order_by"),
    "order_by injection": ({"order_by": "customer_count; DROP TABLE"}, "order_by"),
    "bad order": ({"order": "sideways"}, "order"),
    "search text": ({"search": "王"}, "search"),
    "search number": ({"search": 5}, "search"),
}


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(("params", "parameter"), BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_malformed_parameter_is_named_in_a_result_0_answer(
    api: TestClient, params: Params, parameter: str
) -> None:
    responses = [post_json(api, 25, params)]
    if not any(isinstance(v, (bool, dict, float)) or v == [1] for v in _leaves(params)):
        responses += [post_form(api, 25, params), get_query(api, 25, params)]
    for response in responses:
        answer = body(response)
        assert list(answer) == ["result", "msg", "data"]
        assert (answer["result"], answer["data"]) == (0, [])
        assert answer["msg"].startswith(f"{parameter}: "), answer["msg"]
        assert len(answer["msg"]) > len(parameter) + 3  # it says why


def _leaves(params: Any) -> Iterator[Any]:
    if isinstance(params, Mapping):
        for value in params.values():
            yield from _leaves(value)
    else:
        yield params


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(
    ("content", "content_type", "parameter"),
    [
        (b'{"per_page": 5', "application/json", "body"),
        (b"[1, 2]", "application/json", "body"),
        (b'{"search": {"name": "\xff\xfe"}}', "application/json", "body"),
        (b"search[name]=\xff\xfe", "application/x-www-form-urlencoded", "body"),
        (b"search[name]=%FF%FE", "application/x-www-form-urlencoded", "body"),
        (b'{"per_page": 5}' + b" " * (10 << 20), "application/json", "body"),
        (b"search[name]=" + b"a" * (10 << 20), "application/x-www-form-urlencoded", "body"),
    ],
    ids=[
        "truncated JSON",
        "JSON array",
        "JSON not UTF-8",
        "form not UTF-8",
        "form escapes not UTF-8",
        "10 MB JSON",
        "10 MB form",
    ],
)
def test_malformed_body_is_a_result_0_answer(
    api: TestClient, content: bytes, content_type: str, parameter: str
) -> None:
    response = api.post(
        ENDPOINT.format(25), content=content, headers={"Content-Type": content_type}
    )
    answer = body(response)
    assert (answer["result"], answer["data"]) == (0, [])
    assert answer["msg"].startswith(f"{parameter}: "), answer["msg"]


@pytest.mark.usefixtures("hand")
def test_10_mb_body_without_content_length_is_refused_too(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"per_page": 5, "pad": "'
        for _ in range(10):
            yield b"x" * (1 << 20)
        yield b'"}'

    response = api.post(
        ENDPOINT.format(25), content=chunks(), headers={"Content-Type": "application/json"}
    )
    answer = body(response)
    assert (answer["result"], answer["msg"].split(":")[0]) == (0, "body")


@pytest.mark.usefixtures("hand")
def test_query_string_not_utf8_is_a_result_0_answer(api: TestClient) -> None:
    answer = body(api.get(ENDPOINT.format(25) + "?search[name]=%FF"))
    assert (answer["result"], answer["data"]) == (0, [])
    assert answer["msg"].startswith("query: ")


WEIRD_INPUTS: list[tuple[str, bytes]] = [
    ("application/json", b"null"),
    ("application/json", b'"text"'),
    ("application/json", b'{"search": null, "page": null, "per_page": null, "order": null}'),
    ("application/json", b'{"search": {"date": [null, null]}}'),
    ("application/json", b'{"search": {"date": [[], {}]}}'),
    ("application/json", b'{"search": {"date": [-1, 1e400]}}'),
    ("application/json", b'{"page": 1e308, "per_page": "0x10"}'),
    ("application/json", b'{"search": {"name": "\\u0000\\ud800"}}'),
    ("application/json", b"{" * 10_000 + b"}" * 10_000),
    ("application/x-www-form-urlencoded", b"search[date][9223372036854775807]=1&search[date][]=2"),
    ("application/x-www-form-urlencoded", b"search" + b"[a]" * 200 + b"=1"),
    ("application/x-www-form-urlencoded", b"&&==&search[=&]=&%=%%"),
    ("application/x-www-form-urlencoded", b"&".join(b"p%d=1" % i for i in range(5000))),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n"),
    ("text/plain", b"\x00\x01\x02"),
]


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(("content_type", "content"), WEIRD_INPUTS)
def test_no_input_produces_a_500(api: TestClient, content_type: str, content: bytes) -> None:
    response = api.post(
        ENDPOINT.format(25), content=content, headers={"Content-Type": content_type}
    )
    answer = body(response)
    assert answer.get("result") in (0, 1), answer


# --- page URLs -------------------------------------------------------------------------------


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(
    ("headers", "base"),
    [
        ({}, "http://testserver"),
        ({"Host": "stats.example.com:8080"}, "http://stats.example.com:8080"),
        ({"Host": "Stats.Example.COM:80"}, "http://stats.example.com"),
        (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "crm.example.com"},
            "https://crm.example.com",
        ),
        ({"Host": "internal:8000", "X-Forwarded-Proto": "https"}, "https://internal:8000"),
        (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "crm.example.com:443, proxy2"},
            "https://crm.example.com",
        ),
        ({"Host": "evil.example/<script>"}, "http://localhost"),
        ({"X-Forwarded-Host": "evil.example/<x>", "Host": "good.example"}, "http://good.example"),
    ],
)
def test_page_urls_follow_the_host_the_client_used(
    settings: Settings,
    redis_client: redis.Redis,
    key_prefix: str,
    headers: dict[str, str],
    base: str,
) -> None:
    """X-Forwarded-* count from a trusted proxy (127.0.0.1 by default) and from nobody else
    (issue 10, finding 7)."""
    mark_settings_restored(redis_client, key_prefix)
    app = create_app(settings.api_config())
    untrusted_base = "http://" + headers.get("Host", "testserver").lower().removesuffix(":80")
    if not base.startswith("http://localhost") and "<" not in headers.get("Host", ""):
        expected = {"127.0.0.1": base, "203.0.113.9": untrusted_base}
    else:
        expected = {"127.0.0.1": base, "203.0.113.9": base}
    for peer, peer_base in expected.items():
        with TestClient(app, client=(peer, 50000)) as api:
            paginator = page_of(post_json(api, 28, {}, headers=headers))
        path = f"{peer_base}/business/28/plugin/CustomerManage/getStatisticsList"
        assert paginator["path"] == path, peer
        assert paginator["next_page_url"] == f"{path}?page=2"
        assert paginator["last_page_url"] == f"{path}?page=3"


@pytest.mark.usefixtures("hand")
@pytest.mark.parametrize(
    "configured",
    ["https://stats.example.com", "https://stats.example.com/", " https://stats.example.com "],
)
def test_public_base_url_wins_over_host_and_proxy_headers(
    redis_url: str, redis_client: redis.Redis, key_prefix: str, configured: str
) -> None:
    settings = settings_for(redis_url, key_prefix, public_base_url=configured)
    mark_settings_restored(redis_client, key_prefix)
    with TestClient(create_app(settings.api_config()), client=("127.0.0.1", 50000)) as api:
        headers = {"Host": "internal:8000", "X-Forwarded-Host": "proxy.example"}
        paginator = page_of(post_json(api, 28, {"page": 2}, headers=headers))
    path = "https://stats.example.com/business/28/plugin/CustomerManage/getStatisticsList"
    assert (paginator["path"], paginator["prev_page_url"]) == (path, f"{path}?page=1")


# --- against the reference model -------------------------------------------------------------


@pytest.mark.parametrize("params", REFERENCE_QUERIES)
def test_answers_equal_the_reference_model(
    api: TestClient, messy: list[dict[str, Any]], params: Params
) -> None:
    for tenant in (1, 2, 3):
        paginator = page_of(post_json(api, tenant, params))
        rows, total = reference_page(messy, tenant, params)
        assert paginator["data"] == rows, (tenant, params)
        assert paginator["total"] == total


# --- health, readiness, documentation --------------------------------------------------------


def test_healthz(api: TestClient) -> None:
    response = api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_once_the_projector_caught_up_with_every_partition(
    api: TestClient, redis_client: redis.Redis, key_prefix: str
) -> None:
    empty = api.get("/readyz")
    assert (empty.status_code, empty.json()["ready"]) == (503, False)
    project(redis_client, key_prefix, [hand_events()[:1]])
    redis_client.delete(layout_of(redis_client, key_prefix).ready_key)
    mark_projection_complete(redis_client, key_prefix, partitions=2, marked=1)
    halfway = api.get("/readyz")
    assert (halfway.status_code, halfway.json()["ready"]) == (503, False)
    mark_projection_complete(redis_client, key_prefix, partitions=2)
    ready = api.get("/readyz")
    assert (ready.status_code, ready.json()["ready"], ready.json()["version"]) == (200, True, 1)


def test_unreachable_redis_is_a_503_not_a_stack_trace(key_prefix: str) -> None:
    settings = settings_for(f"redis://127.0.0.1:{free_port()}/0", key_prefix)
    with TestClient(create_app(settings.api_config()), raise_server_exceptions=False) as api:
        statistics = api.post(ENDPOINT.format(25), json={})
        ready = api.get("/readyz")
        health = api.get("/healthz")
    assert statistics.status_code == 503
    assert orjson.loads(statistics.content)["result"] == 0
    assert (ready.status_code, ready.json()["ready"]) == (503, False)
    assert health.status_code == 200


def openapi(api: TestClient) -> dict[str, Any]:
    with warnings.catch_warnings():  # FastAPI warns about the duplicate operation id (see below)
        warnings.simplefilter("ignore", UserWarning)
        response = api.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def test_openapi_documents_the_endpoint(api: TestClient) -> None:
    operations = openapi(api)["paths"][ENDPOINT.format("{tenant_id}")]
    assert set(operations) >= {"get", "post"}
    post = operations["post"]
    content = post["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)
    assert "per_page" in content["application/json"]["schema"]["properties"]
    assert any(p["name"] == "tenant_id" and p["in"] == "path" for p in post["parameters"])
    examples = post["responses"]["200"]["content"]["application/json"]["examples"]
    assert examples["unknown tenant"]["value"] == INVALID_APPID


def test_openapi_success_example_shows_every_key_nulls_included(api: TestClient) -> None:
    post = openapi(api)["paths"][ENDPOINT.format("{tenant_id}")]["post"]
    example = post["responses"]["200"]["content"]["application/json"]["examples"]["ok"]["value"]
    assert list(example["data"]) == ENVELOPE_KEYS
    assert list(example["data"]["data"][0]) == ROW_KEYS


def test_openapi_operation_ids_are_unique(api: TestClient) -> None:
    operations = openapi(api)["paths"][ENDPOINT.format("{tenant_id}")]
    ids = [operation["operationId"] for operation in operations.values()]
    assert len(set(ids)) == len(ids), ids
