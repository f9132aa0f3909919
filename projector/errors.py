"""The projector's exceptions: one base, so callers can catch what this package raises."""

from __future__ import annotations


class ProjectorError(Exception):
    """Base of every error the projector raises on purpose."""


class StoreError(ProjectorError):
    """The projection store could not be read or written."""


class Fenced(ProjectorError):
    """Our version or partition offsets changed under us (another instance, a switch, a flush):
    the batch was not applied."""


class Conflicting(ProjectorError):
    """A batch kept meeting states other writers changed: they never let it land."""


class FormatMismatch(ProjectorError):
    """The current projection was written by code with another layout."""


class CorruptState(ProjectorError):
    """A stored customer state cannot be read by this code (format or contents)."""
