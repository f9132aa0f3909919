"""How uvicorn serves the app: the options `custstats api` and the edge tests both use.

- `http`: `DeadlineHttpToolsProtocol`, so a request's head must arrive within its deadline
  (half-sent requests cannot hold sockets); the body's own bound is `api.body.BodyGuard`.
- `timeout_keep_alive`: an idle kept-alive connection is closed after a few seconds.
- `proxy_headers` off: uvicorn would otherwise rewrite the client address and scheme from
  X-Forwarded-For/-Proto itself; the app decides from the TCP peer (`api.proxies`).
- the access log on, through the root logger (`log_config` None: whoever configured
  logging — `custstats`'s `--log-format` — formats uvicorn's lines too).
"""

from __future__ import annotations

from typing import Any

from api.http_protocol import DeadlineHttpToolsProtocol

KEEP_ALIVE_SECONDS = 5


def server_options(
    http: type[DeadlineHttpToolsProtocol] = DeadlineHttpToolsProtocol,
) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` (besides app, host, port)."""
    return {
        "http": http,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "proxy_headers": False,
        "server_header": False,
        "access_log": True,
        "log_config": None,
    }
