"""`custstats schema`: hand upstream teams the JSON Schema of the events they publish."""

from __future__ import annotations

import argparse
import sys

from custstats.settings import Settings
from events.jsonschema import render, write_schema
from events.schema import TYPE_NAMES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type", dest="event_type", choices=TYPE_NAMES, help="only the schema of this event type"
    )
    parser.add_argument(
        "--write",
        metavar="PATH",
        help="write the schema to PATH instead of stdout "
        "(events/customer-events.schema.json is the committed copy)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.write is None:
        sys.stdout.write(render(args.event_type))
        return 0
    try:
        write_schema(args.write, args.event_type)
    except OSError as exc:
        print(f"custstats schema: cannot write {args.write}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {args.write}", file=sys.stderr)
    return 0
