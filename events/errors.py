"""The events package's own exception base (foreign errors are wrapped at the edge)."""

from __future__ import annotations


class EventsError(Exception):
    """Base of every error the events package raises itself."""


class UnknownEventType(EventsError, ValueError):
    """A name that is not one of the six event types of SPEC §1."""
