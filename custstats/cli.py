"""The `custstats` command: one subcommand per module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from custstats.logs import FORMATS, configure_logging, log_start, redact, url_password
from custstats.settings import Settings, setting_error

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
LONG_RUNNING = ("projector", "api", "rebuild")
"""Commands whose start-up line (effective settings) the CLI logs; `dev` logs its own once
its servers are known."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default (flags and unset options excepted)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "%(default)" in text:
            return text
        return super()._get_help_string(action)


def package_version() -> str:
    try:
        return version("custstats")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen command's module is imported (fast start, light processes)."""
    parser = argparse.ArgumentParser(
        prog="custstats", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"custstats {package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default="text",
        help="log lines on stderr: text for people, json (one object per line) for shippers",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, text) in COMMANDS.items():
        subparser = sub.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
        subparser.set_defaults(module=module)
        if name == command:
            importlib.import_module(module).configure(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((word for word in arguments if word in COMMANDS), None)
    args = build_parser(chosen).parse_args(arguments)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, args.log_format)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"custstats: {setting_error(exc)}", file=sys.stderr)
        return 2
    redact([url_password(settings.redis())])
    if args.command in LONG_RUNNING:
        log_start(args.command, settings)
    code: int = importlib.import_module(args.module).run(args, settings)
    return code


if __name__ == "__main__":
    sys.exit(main())
