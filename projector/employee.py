"""Employee profiles: the latest `employee-upserted` wins, whatever the arrival order."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from events.schema import EmployeeUpserted


@dataclass(frozen=True, slots=True)
class Profile:
    """What a row shows of an employee; the defaults are SPEC §2's 'before any profile'."""

    name: str = ""
    department_ids: tuple[int, ...] = ()
    userid: str | None = None
    avatar_mediaid: str | None = None
    version: tuple[int, str] | None = None


def apply_profile(profile: Profile, event: EmployeeUpserted) -> Profile | None:
    """The new profile, or None when the event is not newer than what is held."""
    version = (event.occurred_at, event.event_id)
    if profile.version is not None and version <= profile.version:
        return None
    return Profile(
        name=event.name,
        department_ids=tuple(sorted(set(event.department_ids))),
        userid=event.userid,
        avatar_mediaid=event.avatar_mediaid,
        version=version,
    )


def dumps_profile(profile: Profile) -> bytes:
    return orjson.dumps(
        [
            profile.name,
            profile.department_ids,
            profile.userid,
            profile.avatar_mediaid,
            profile.version,
        ]
    )


def loads_profile(raw: bytes | None) -> Profile:
    if not raw:
        return Profile()
    name, departments, userid, avatar, version = orjson.loads(raw)
    return Profile(
        name, tuple(departments), userid, avatar, None if version is None else tuple(version)
    )
