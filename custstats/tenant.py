"""`custstats tenant ...`: what the operator decides per tenant, and what is known about one.

Operator settings are records on `<topic>.config` (SPEC §4, `custstats.tenant_write`):
`register` and `set` publish the tenant's whole settings there (acks=all), then apply
them to Redis, where they live outside the projection versions (`ControlLayout`) so a
rebuild keeps them: the registered-tenants set (a registered tenant with no events
answers an empty page instead of `invalid appid`) and the tenant's config hash
(`opportunity` on/off, absent = auto; `api_key` as a SHA-256 digest). A Redis that
lost them gets them back from the projector's replay of the topic.

An API key is never printed or logged, nor is its digest; `--api-key-stdin`
keeps it out of shell history and process lists.

`tenant show --json` prints one object:

    {"tenant_id": 25, "known": true, "registered": false, "projected": true,
     "events": 1203, "duplicates": 4, "employees": 12,
     "opportunity": {"mode": "auto", "effective": true}, "api_key": false,
     "version": 3, "settings_restored": true}

`version` is the projection version the tenant's counts come from (its own version
after `rebuild --tenant`; null before any projector ran); `known` = registered or
projected, as the API decides it; `settings_restored` is false while the operator
settings are being restored from `<topic>.config` (the marker is missing: after a
Redis loss, or before any projector read the topic).
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from typing import Literal

import redis

from custstats.connect import open_redis
from custstats.errors import BadKey, CliError
from custstats.settings import Settings
from custstats.tenant_info import TenantInfo, current_version, read_tenants
from custstats.tenant_write import write_setting
from projector import control
from projector.config_writer import KEEP, Change
from projector.control import MAX_TENANT_ID, MODES
from projector.layout import ControlLayout

RESTORING_TEXT = (
    "being restored from the config topic (no projector has finished reading it since Redis "
    "was emptied or first used): a tenant without settings in Redis yet answers 503"
)


def tenant_id(text: str) -> int:
    """argparse type: a tenant id as the API accepts it in the URL."""
    tenant = control.parse_tenant_id(text)
    if tenant is None:
        raise argparse.ArgumentTypeError(
            f"tenant id must be an integer from 1 to {MAX_TENANT_ID}, not {text!r}"
        )
    return tenant


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
    if not info.settings_restored:
        lines.append(f"  settings     {RESTORING_TEXT}")
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
    register = actions.add_parser(
        "register",
        formatter_class=parser.formatter_class,
        help="make a tenant known before any event",
    )
    register.add_argument("tenant", type=tenant_id, metavar="T", help=tenant_help)
    show = actions.add_parser(
        "show", formatter_class=parser.formatter_class, help="what is known and set for a tenant"
    )
    show.add_argument("tenant", type=tenant_id, metavar="T", help=tenant_help)
    show.add_argument("--json", action="store_true", help="one JSON object")
    set_ = actions.add_parser(
        "set", formatter_class=parser.formatter_class, help="opportunity plugin mode, API key"
    )
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


def _change(args: argparse.Namespace, key: str | None) -> Change:
    """What `tenant set` asks for, as the config writer's Change."""
    digest: str | Literal["keep"] | None = KEEP
    if key is not None:
        digest = control.api_key_digest(key)
    elif args.clear_api_key:
        digest = None
    return Change(opportunity=args.opportunity, api_key_sha256=digest)


def _set(client: redis.Redis, settings: Settings, args: argparse.Namespace) -> int:
    key = read_key(args)
    if args.opportunity is None and key is None and not args.clear_api_key:
        print(
            "custstats tenant set: nothing to set (--opportunity, --api-key-stdin, "
            "--api-key or --clear-api-key)",
            file=sys.stderr,
        )
        return 2
    write_setting(settings, client, args.tenant, _change(args, key))
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


def _register(client: redis.Redis, settings: Settings, tenant: int) -> int:
    registered = ControlLayout(settings.key_prefix).registered_tenants
    already = bool(client.sismember(registered, str(tenant)))
    write_setting(settings, client, tenant, Change(registered=True))
    print(f"tenant {tenant} {'was already registered' if already else 'registered'}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    command = f"custstats tenant {args.action}"
    if not getattr(args, "verbose", False):
        logging.getLogger("kafka").setLevel(logging.CRITICAL)  # our one line says it better
    try:
        client = open_redis(settings)
        try:
            if args.action == "register":
                return _register(client, settings, args.tenant)
            if args.action == "show":
                return _show(client, settings, args.tenant, args.json)
            return _set(client, settings, args)
        finally:
            client.close()
    except CliError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"{command}: Redis failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
