"""The `custstats` command: one subcommand per module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from custstats.settings import Settings

# subcommand -> (module implementing configure(parser) and run(args, settings) -> int, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("custstats.dev", "run the whole system on this machine (embedded broker and Redis)"),
    "projector": ("custstats.projector_cmd", "run one projector instance"),
    "api": ("custstats.api_cmd", "run the HTTP API under uvicorn"),
    "publish": ("custstats.publish", "validate JSON-lines events and publish them"),
    "schema": ("custstats.schema_cmd", "print the JSON Schema of the events"),
    "rebuild": ("custstats.rebuild", "replay the topic into a fresh projection, then switch"),
    "status": ("custstats.status", "offsets, lag, projection version, dead letters"),
    "tenant": ("custstats.tenant", "register tenants, opportunity plugin, API keys"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen command's module is imported (fast start, light processes)."""
    parser = argparse.ArgumentParser(prog="custstats", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, text) in COMMANDS.items():
        subparser = sub.add_parser(name, help=text, description=text)
        subparser.set_defaults(module=module)
        if name == command:
            importlib.import_module(module).configure(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((word for word in arguments if word in COMMANDS), None)
    args = build_parser(chosen).parse_args(arguments)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"custstats: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    code: int = importlib.import_module(args.module).run(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
