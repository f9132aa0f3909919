"""Two or more suite results of one scale side by side, as ratios to the first.

A change is judged against the revision before it, measured in the same session on the
same machine (`bash bench/run.sh S0` in a worktree of each revision, one after the other),
so the ratios cancel most of what the machine itself adds.

Usage: python -m bench.sidebyside LABEL=results.json LABEL=results.json ...
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

CLASSES = "abcdef"


def _figures(result: dict[str, Any]) -> dict[str, float]:
    runs = result["projector"]
    figures = {
        "projector events/s": statistics.median(run["rate"] for run in runs),
        "projector CPU µs/event": statistics.median(
            run["cpu"] / run["events"] * 1e6 for run in runs
        ),
        "Redis CPU µs/event": statistics.median(
            run["redis_cpu"] / run["events"] * 1e6 for run in runs
        ),
        "rebuild s": result["rebuild"]["seconds"]["median"],
        "Redis used_memory MB": result["memory"]["used_memory"] / 1e6,
    }
    for name in CLASSES:
        cell = result["queries"]["classes"].get(name)
        if cell is not None:
            figures[f"({name}) p99 ms"] = cell["p99_ms"]["median"]
    return figures


def render(labelled: list[tuple[str, dict[str, Any]]]) -> str:
    table = [(label, _figures(result)) for label, result in labelled]
    first_label, first = table[0]
    header = ["figure", *(f"{label} (`{res.get('revision', '?')}`)" for label, res in labelled)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, base in first.items():
        cells = [f"{base:,.1f}"]
        for _, figures in table[1:]:
            value = figures.get(name)
            if value is None:
                cells.append("–")
            else:
                ratio = value / base if base else float("nan")
                cells.append(f"{value:,.1f} ({ratio:.2f}×)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Ratios are to {first_label}.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any("=" not in arg for arg in argv):
        print(__doc__, file=sys.stderr)
        return 2
    labelled = []
    for arg in argv:
        label, path = arg.split("=", 1)
        labelled.append((label, json.loads(Path(path).read_text(encoding="utf-8"))))
    print(render(labelled))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
