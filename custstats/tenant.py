"""`custstats tenant ...`: what the operator decides per tenant, and what is known about one.

Operator settings live outside the projection versions (`ControlLayout`), so a
rebuild keeps them: the registered-tenants set (a registered tenant with no
events answers an empty page instead of `invalid appid`) and the tenant's config
hash (`opportunity` on/off, absent = auto; `api_key` as a SHA-256 digest).

An API key is never printed or logged, nor is its digest; `--api-key-stdin`
keeps it out of shell history and process lists.

`tenant show --json` prints one object:

    {"tenant_id": 25, "known": true, "registered": false, "projected": true,
     "events": 1203, "duplicates": 4, "employees": 12,
     "opportunity": {"mode": "auto", "effective": true}, "api_key": false,
     "version": 3}

`version` is the projection version the counts come from (null before any
projector ran); `known` = registered or projected, as the API decides it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from custstats.settings import Settings
from projector.layout import ControlLayout, Layout
from projector.versions import CURRENT, overrides_of

REDIS_TIMEOUT_S = 4.0
"""Each Redis connect and reply; no retries, so an unreachable Redis fails within this bound."""
MAX_TENANT_ID = 10**18 - 1
"""The API answers `invalid appid` for longer ids, so larger ones could never be used."""
MODES = ("on", "off", "auto")
PIPELINE_CHUNK = 500


class Unavailable(Exception):
    """Redis (or Kafka, for status) cannot be reached; the message is one line for the user."""


class BadKey(Exception):
    """The API key given cannot be used; the message says why, without the key."""


def tenant_id(text: str) -> int:
    """argparse type: a tenant id as the API accepts it in the URL."""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_TENANT_ID:
        raise argparse.ArgumentTypeError(
            f"tenant id must be an integer from 1 to {MAX_TENANT_ID}, not {text!r}"
        )
    return int(text)


def safe_url(url: str) -> str:
    """The Redis URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def open_redis(settings: Settings) -> redis.Redis:
    """A client that fails fast (no retries) and has been pinged; Unavailable otherwise."""
    url = settings.redis()
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            socket_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise Unavailable(f"cannot reach Redis at {safe_url(url)}: {exc}") from exc
    return client


def current_version(client: redis.Redis, prefix: str) -> Layout | None:
    """The version the API answers from, with tenants rebuilt on their own; read only (status
    must not create one)."""
    control: dict[bytes, bytes] = client.hgetall(ControlLayout(prefix).key)  # type: ignore[assignment]
    raw = control.get(CURRENT.encode())
    if raw is None:
        return None
    overrides = overrides_of(control)
    return Layout(prefix, int(raw), overrides)


def opportunity_effective(mode: str, seen: bool) -> bool:
    """SPEC §2: on once an opportunity event was projected, unless set on or off explicitly."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return seen


@dataclass(frozen=True, slots=True)
class TenantInfo:
    tenant_id: int
    registered: bool
    projected: bool
    events: int
    duplicates: int
    employees: int
    opportunity_mode: str
    opportunity_seen: bool
    api_key: bool
    version: int | None

    @property
    def known(self) -> bool:
        return self.registered or self.projected

    @property
    def opportunity_on(self) -> bool:
        return opportunity_effective(self.opportunity_mode, self.opportunity_seen)

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "known": self.known,
            "registered": self.registered,
            "projected": self.projected,
            "events": self.events,
            "duplicates": self.duplicates,
            "employees": self.employees,
            "opportunity": {"mode": self.opportunity_mode, "effective": self.opportunity_on},
            "api_key": self.api_key,
            "version": self.version,
        }


def _int(raw: bytes | None) -> int:
    return 0 if raw is None else int(raw)


def read_tenants(
    client: redis.Redis, prefix: str, layout: Layout | None, tenant_ids: Sequence[int]
) -> list[TenantInfo]:
    """What is stored about each tenant, a few pipelined round trips for any number of them."""
    control = ControlLayout(prefix)
    found: list[TenantInfo] = []
    for start in range(0, len(tenant_ids), PIPELINE_CHUNK):
        chunk = tenant_ids[start : start + PIPELINE_CHUNK]
        with client.pipeline(transaction=False) as pipe:
            for tenant in chunk:
                pipe.hmget(control.tenant_config(tenant), ["opportunity", "api_key"])
                pipe.sismember(control.registered_tenants, str(tenant))
                if layout is not None:
                    pipe.sismember(layout.tenants, str(tenant))
                    pipe.hmget(layout.meta(tenant), ["events", "duplicates", "opportunity"])
                    pipe.hlen(layout.employee_index(tenant))
                    pipe.hexists(layout.employee_index(tenant), "#")
            replies = iter(pipe.execute())
        for tenant in chunk:
            (mode_raw, key_raw), registered = next(replies), next(replies)
            projected, events, duplicates, seen, employees = False, 0, 0, False, 0
            if layout is not None:
                projected = bool(next(replies))
                events_raw, duplicates_raw, seen_raw = next(replies)
                fields, counter = int(next(replies)), bool(next(replies))
                events, duplicates = _int(events_raw), _int(duplicates_raw)
                seen = seen_raw == b"1"
                employees = fields - counter
            mode = mode_raw.decode() if mode_raw is not None else "auto"
            found.append(
                TenantInfo(
                    tenant_id=tenant,
                    registered=bool(registered),
                    projected=projected,
                    events=events,
                    duplicates=duplicates,
                    employees=employees,
                    opportunity_mode=mode if mode in MODES else "auto",
                    opportunity_seen=seen,
                    api_key=key_raw is not None,
                    version=None if layout is None else layout.version,
                )
            )
    return found


def all_tenant_ids(client: redis.Redis, prefix: str, layout: Layout | None) -> list[int]:
    """Registered tenants and tenants with projected events, ascending."""
    keys = [ControlLayout(prefix).registered_tenants]
    if layout is not None:
        keys.append(layout.tenants)
    ids: set[int] = set()
    for key in keys:
        ids.update(int(member) for member in client.sscan_iter(key, count=1000))
    return sorted(ids)


def describe(info: TenantInfo) -> str:
    """Human text of `tenant show`."""
    if info.known:
        why = ["events projected"] if info.projected else []
        why += ["registered"] if info.registered else []
        known = f"yes ({', '.join(why)})"
    else:
        known = "no: the API answers invalid appid (register it, or publish its events)"
    mode = info.opportunity_mode
    source = "auto: an opportunity event was projected" if info.opportunity_seen else "auto"
    plugin = f"{'on' if info.opportunity_on else 'off'} ({source if mode == 'auto' else 'set'})"
    lines = [
        f"tenant {info.tenant_id}",
        f"  known        {known}",
        f"  registered   {'yes' if info.registered else 'no'}",
        f"  events       {info.events} applied, {info.duplicates} duplicates",
        f"  employees    {info.employees}",
        f"  opportunity  {plugin}",
        f"  api key      {'set' if info.api_key else 'not set (open)'}",
    ]
    if info.version is None:
        lines.append("  projection   none yet")
    else:
        lines.append(f"  projection   v{info.version}")
    return "\n".join(lines)


def read_key(args: argparse.Namespace) -> str | None:
    """The new key from --api-key or stdin (a prompt on a terminal); None when not changing it."""
    if args.api_key is not None:
        raw: str = args.api_key
    elif args.api_key_stdin:
        raw = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.read()
    else:
        return None
    key = raw.strip()
    if not key:
        raise BadKey("the API key is empty")
    if "\n" in key or "\r" in key:
        raise BadKey("the API key must be one line")
    if not (key.isascii() and key.isprintable()):
        # HTTP header values arrive as Latin-1: other characters could never match
        raise BadKey("the API key must be printable ASCII")
    return key


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    tenant_help = "tenant id, the number in the API's /business/{T}/ URL"
    register = actions.add_parser("register", help="make a tenant known before any event")
    register.add_argument("tenant", type=tenant_id, metavar="T", help=tenant_help)
    show = actions.add_parser("show", help="what is known and set for a tenant")
    show.add_argument("tenant", type=tenant_id, metavar="T", help=tenant_help)
    show.add_argument("--json", action="store_true", help="one JSON object")
    set_ = actions.add_parser("set", help="opportunity plugin mode, API key")
    set_.add_argument("tenant", type=tenant_id, metavar="T", help=tenant_help)
    set_.add_argument(
        "--opportunity",
        choices=MODES,
        help="plugin on or off whatever the events say, or auto (on once an opportunity event "
        "was projected)",
    )
    key = set_.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read the API key from stdin (prompted on a terminal); requests must then send it "
        "as X-Api-Key",
    )
    key.add_argument(
        "--api-key", metavar="KEY", help="the API key on the command line (visible to ps)"
    )
    key.add_argument("--clear-api-key", action="store_true", help="answer without a key again")


def _show(client: redis.Redis, settings: Settings, tenant: int, as_json: bool) -> int:
    layout = current_version(client, settings.key_prefix)
    (info,) = read_tenants(client, settings.key_prefix, layout, [tenant])
    print(json.dumps(info.as_json()) if as_json else describe(info))
    return 0


def _set(client: redis.Redis, settings: Settings, args: argparse.Namespace) -> int:
    key = read_key(args)
    if args.opportunity is None and key is None and not args.clear_api_key:
        print(
            "custstats tenant set: nothing to set (--opportunity, --api-key-stdin, "
            "--api-key or --clear-api-key)",
            file=sys.stderr,
        )
        return 2
    config = ControlLayout(settings.key_prefix).tenant_config(args.tenant)
    with client.pipeline(transaction=True) as pipe:
        if args.opportunity == "auto":
            pipe.hdel(config, "opportunity")  # absent = auto, as the API reads it
        elif args.opportunity is not None:
            pipe.hset(config, "opportunity", args.opportunity)
        if key is not None:
            from api.app import api_key_digest  # FastAPI is heavy: only key changes load it

            pipe.hset(config, "api_key", api_key_digest(key))
        if args.clear_api_key:
            pipe.hdel(config, "api_key")
        pipe.execute()
    layout = current_version(client, settings.key_prefix)
    (info,) = read_tenants(client, settings.key_prefix, layout, [args.tenant])
    done: list[str] = []
    if args.opportunity is not None:
        now = "on" if info.opportunity_on else "off"
        done.append(f"opportunity plugin {args.opportunity} (now {now})")
    if key is not None:
        done.append("API key set")
    if args.clear_api_key:
        done.append("API key cleared")
    print(f"tenant {args.tenant}: {', '.join(done)}")
    if not info.known:
        print(
            f"note: tenant {args.tenant} is not known yet (no events, not registered); "
            "the API answers invalid appid until it is",
            file=sys.stderr,
        )
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    command = f"custstats tenant {args.action}"
    try:
        client = open_redis(settings)
        try:
            if args.action == "register":
                added = client.sadd(
                    ControlLayout(settings.key_prefix).registered_tenants, str(args.tenant)
                )
                state = "registered" if added else "was already registered"
                print(f"tenant {args.tenant} {state}")
                return 0
            if args.action == "show":
                return _show(client, settings, args.tenant, args.json)
            return _set(client, settings, args)
        finally:
            client.close()
    except (Unavailable, BadKey) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"{command}: Redis failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
