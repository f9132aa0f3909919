"""The human text of `custstats status`: a summary, then a table of partitions and of tenants."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from custstats.status_model import RebuildStatus, Status, ready_text


def ago(seconds: int) -> str:
    """A duration as an operator reads it: 45s, 3m12s, 2h05m, 3d04h."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _rebuild_text(rebuild: RebuildStatus | None) -> str:
    if rebuild is None:
        return "none"
    text = f"v{rebuild['version']}"
    if rebuild["done"] is not None and rebuild["total"] is not None:
        text += f": {rebuild['done']}/{rebuild['total']}"
        if rebuild["percent"] is not None:
            text += f" ({rebuild['percent']:.1f}%)"
    else:
        text += ": starting"
    if rebuild["started_ago_s"] is not None:
        text += f", started {ago(rebuild['started_ago_s'])} ago"
    if rebuild["stale"]:
        text = text.replace(": starting", "")
        text += (
            " - STALE: no rebuild process is running (it stopped); `custstats rebuild` resumes it"
        )
    return text


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> list[str]:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if flush_right else cell.ljust(width)
            for cell, width, flush_right in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]


def _opportunity_text(tenant: dict[str, Any]) -> str:
    plugin = tenant["opportunity"]
    state = "on" if plugin["effective"] else "off"
    return f"{state} (auto)" if plugin["mode"] == "auto" else f"{state} (set)"


def _settings_text(status: Status) -> str:
    """Whether the operator settings are back from `<topic>.config`."""
    if status["config_restored"]:
        return f"restored from {status['topic']}.config"
    return (
        f"being restored from {status['topic']}.config (no projector has read it to its end "
        "since Redis was emptied or first used): tenants without settings in Redis answer 503"
    )


def render(status: Status) -> str:
    """The human report: a summary, then one table of partitions and one of tenants."""
    projection = status["projection"]
    if projection is None:
        version = "none yet (no projector has run)"
    else:
        version = f"v{projection['version']}, format {projection['format']}"
        if projection["format"] != projection["format_expected"]:
            version += f" (this code writes {projection['format_expected']}: needs a rebuild)"
    partitions = status["partitions"]
    if status["topic_found"]:
        topic = f"{status['topic']} ({len(partitions)} partitions)"
    else:
        topic = f"{status['topic']} (not found on the broker)"
    lines = [
        f"topic         {topic}",
        f"key prefix    {status['key_prefix']}",
        f"projection    {version}",
        f"ready         {ready_text(status['ready'])}",
        f"rebuild       {_rebuild_text(status['rebuild'])}",
        f"lag           {status['lag']}",
        f"dead letters  {status['dead_letters']}",
        f"settings      {_settings_text(status)}",
        f"tenants       {len(status['tenants'])}",
    ]
    if partitions:
        rows = [
            [
                str(row["partition"]),
                str(row["beginning"]),
                str(row["end"]),
                "-" if row["applied"] is None else str(row["applied"]),
                str(row["lag"]),
            ]
            for row in partitions
        ]
        rows.append(
            ["total", "", str(sum(row["end"] for row in partitions)), "", str(status["lag"])]
        )
        lines += ["", *_table(["partition", "begin", "end", "applied", "lag"], rows, [True] * 5)]
    tenants = status["tenants"]
    if tenants:
        rows = [
            [
                str(tenant["tenant_id"]),
                str(tenant["events"]),
                str(tenant["duplicates"]),
                str(tenant["employees"]),
                _opportunity_text(tenant),
                "yes" if tenant["registered"] else "no",
                "set" if tenant["api_key"] else "-",
            ]
            for tenant in tenants
        ]
        header = ["tenant", "events", "duplicates", "employees", "opportunity", "registered"]
        right = [True, True, True, True, False, False, False]
        lines += ["", *_table([*header, "api key"], rows, right)]
    return "\n".join(lines)
