"""OpenAPI description of the statistics endpoint, with the examples of SPEC §3."""

from __future__ import annotations

from typing import Any

_ROW = {
    "id": 222,
    "name": "谢梓杰",
    "follow_count": 65,
    "lose_customer_count": 0,
    "customer_count": 73,
    "new_customer_count": 73,
    "opportunity_count": 14,
    "customer_last_date": "2023-03-30 14:41:18",
    "follow_last_date": "2023-03-07 17:19:04",
    "userid": None,
    "avatar_mediaid": None,
}
_PATH = "https://host/business/25/plugin/CustomerManage/getStatisticsList"
SUCCESS_EXAMPLE: dict[str, Any] = {
    "result": 1,
    "msg": "ok",
    "data": {
        "current_page": 1,
        "data": [_ROW],
        "first_page_url": f"{_PATH}?page=1",
        "from": 1,
        "last_page": 5,
        "last_page_url": f"{_PATH}?page=5",
        "next_page_url": f"{_PATH}?page=2",
        "path": _PATH,
        "per_page": 10,
        "prev_page_url": None,
        "to": 10,
        "total": 43,
    },
}
_SEARCH = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "employee name substring; empty = all"},
        "department_id": {"type": "integer", "description": "empty, missing or 0 = all"},
        "industry_id": {"type": "integer"},
        "source_id": {"type": "integer"},
        "progress_id": {"type": "integer"},
        "tag_id": {"type": "integer"},
        "date": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {"type": "string"},
            "description": "[start, end]: YYYY-MM-DD, YYYY-MM-DD HH:MM:SS (display zone) or "
            "unix seconds; widened to whole days; empty = all time",
        },
    },
}
_BODY = {
    "type": "object",
    "properties": {
        "search": _SEARCH,
        "page": {"type": "integer", "minimum": 1, "description": "invalid values mean 1"},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "order_by": {"type": "string", "default": "customer_count"},
        "order": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
    },
}
STATISTICS_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": _BODY,
                "example": {
                    "search": {"name": "韦", "date": ["2023-03-01", "2023-03-31"]},
                    "page": 2,
                },
            },
            "application/x-www-form-urlencoded": {
                "schema": {"type": "string"},
                "example": "search[name]=韦&search[date][]=2023-03-01&search[date][]=2023-03-31"
                "&page=2",
            },
        },
    },
    "parameters": [
        {
            "name": "X-Api-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "required when the operator set an API key for the tenant",
        },
    ],
}
_FRESHNESS_HEADERS = {
    "X-Custstats-Lag": {
        "schema": {"type": "integer"},
        "description": "records of the topic not yet applied, summed over partitions",
    },
    "X-Custstats-Applied-At": {
        "schema": {"type": "string"},
        "description": "RFC 3339 UTC time of the last applied batch; `-` before any",
    },
    "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}},
}


def _unavailable(msg: str) -> dict[str, Any]:
    return {"result": 0, "msg": msg, "data": []}


STATISTICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Statistics page, a parameter error (`result: 0`) or `invalid appid`",
        "headers": _FRESHNESS_HEADERS,
        "content": {
            "application/json": {
                "examples": {
                    "ok": {"value": SUCCESS_EXAMPLE},
                    "bad parameter": {
                        "value": {
                            "result": 0,
                            "msg": "per_page: must be an integer from 1 to 100",
                            "data": [],
                        }
                    },
                    "unknown tenant": {"value": {"errcode": 500, "errmsg": "invalid appid"}},
                    "body too large": {
                        "value": _unavailable("body: larger than 1048576 bytes"),
                    },
                }
            }
        },
    },
    503: {
        "description": "Not answerable now; ask again after `Retry-After` seconds: the "
        "projection being read is being rebuilt from the log (progress in the message), the "
        "operator settings are being restored after a loss of Redis's state, or Redis is "
        "unreachable",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
        "content": {
            "application/json": {
                "examples": {
                    "rebuilding": {"value": _unavailable("statistics are being rebuilt (42%)")},
                    "restoring": {"value": _unavailable("operator settings are being restored")},
                    "redis down": {"value": _unavailable("service: projection store unavailable")},
                }
            }
        },
    },
}
READYZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Ready",
        "content": {
            "application/json": {
                "example": {
                    "ready": True,
                    "reason": "ready",
                    "version": 3,
                    "lag": 12,
                    "complete_percent": 100,
                }
            }
        },
    },
    503: {
        "description": "Not ready: Redis unreachable, no projection yet, the projection being "
        "rebuilt, operator settings being restored, or a partition lagging over the bound",
        "content": {
            "application/json": {
                "example": {
                    "ready": False,
                    "reason": "partition 2 is 25000 records behind (bound 10000)",
                    "version": 3,
                    "lag": 25000,
                    "complete_percent": 100,
                }
            }
        },
    },
}
