"""The CLI's exceptions: a command catches `CliError`, prints its one line and exits 2."""

from __future__ import annotations


class CliError(Exception):
    """Base of the errors a command reports to the user as one line, without a traceback."""


class Unavailable(CliError):
    """Redis (or Kafka, for status) cannot be reached; the message is one line for the user."""


class BadKey(CliError):
    """The API key given cannot be used; the message says why, without the key."""
