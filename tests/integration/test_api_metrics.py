"""Issue 11: the API counts its statistics requests by outcome, named by the error handlers
(the legacy answers are all HTTP 200, so the status alone cannot tell them apart)."""

from __future__ import annotations

import re
import warnings

import redis

from projector.layout import ControlLayout
from tests.support.api import api_app, create_version, mark_projection_complete

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROUTE = "/business/{tenant_id}/plugin/CustomerManage/getStatisticsList"


def counts(scrape: str) -> dict[str, float]:
    route = re.escape(ROUTE)
    pattern = rf'^custstats_http_requests_total\{{outcome="(\w+)",route="{route}"\}} (\S+)$'
    return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, scrape, re.MULTILINE)}


def test_requests_are_counted_by_outcome(
    redis_url: str, redis_client: redis.Redis, key_prefix: str
) -> None:
    endpoint = ROUTE.replace("{tenant_id}", "{}")
    with TestClient(api_app(redis_url, key_prefix), raise_server_exceptions=False) as api:
        redis_client.sadd(ControlLayout(key_prefix).registered_tenants, "25")
        assert api.get(endpoint.format(25)).status_code == 503  # no projection yet
        create_version(redis_client, key_prefix)
        mark_projection_complete(redis_client, key_prefix)
        for _ in range(3):
            assert api.get(endpoint.format(25)).json()["result"] == 1
        for _ in range(2):
            assert api.get(endpoint.format(99)).json()["errmsg"] == "invalid appid"
        assert api.get(endpoint.format(25) + "?per_page=1000").json()["result"] == 0
        too_large = api.post(endpoint.format(25), content=b" " * (2 << 20))
        assert too_large.json()["msg"].startswith("body: larger than")
        scrape = api.get("/metrics").text
    assert counts(scrape) == {"ok": 3, "invalid_appid": 2, "bad_param": 2, "unavailable": 1}
