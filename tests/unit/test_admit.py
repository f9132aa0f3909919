"""The order of the endpoint's checks (api.routes.statistics.admit), as a table."""

from __future__ import annotations

import pytest

from api.errors import InvalidAppId, ProjectionRebuilding, SettingsRestoring
from api.reader import ProjectionStatus, TenantView
from api.routes.statistics import admit
from projector.control import Completeness, api_key_digest
from projector.layout import Layout

LAYOUT = Layout("p", 1)
KEYED = {b"api_key": api_key_digest("k").encode()}
OPEN = {b"config_partition": b"0", b"config_offset": b"3"}


def view(known: bool, config: dict[bytes, bytes], complete: bool, restored: bool) -> TenantView:
    status = ProjectionStatus(Completeness(complete, 100 if complete else 40), {}, None, restored)
    return TenantView(known=known, config=config, opportunity=False, status=status)


@pytest.mark.parametrize(
    ("layout", "tenant_view", "key", "outcome"),
    [
        (LAYOUT, view(True, {}, True, True), "", "ok"),
        (LAYOUT, view(False, {}, True, True), "", InvalidAppId),
        (LAYOUT, view(True, {}, True, False), "", SettingsRestoring),  # key may be missing
        (LAYOUT, view(False, {}, True, False), "", SettingsRestoring),
        (LAYOUT, view(True, OPEN, True, False), "", "ok"),  # its own record says open
        (LAYOUT, view(True, KEYED, True, False), "", InvalidAppId),  # a key is enforced at once
        (LAYOUT, view(True, KEYED, True, False), "k", "ok"),
        (LAYOUT, view(True, KEYED, False, True), "bad", InvalidAppId),
        (LAYOUT, view(True, KEYED, False, True), "k", ProjectionRebuilding),
        (LAYOUT, view(True, {}, False, True), "", ProjectionRebuilding),
        (LAYOUT, view(False, {}, False, True), "", ProjectionRebuilding),  # may be still to come
        (None, view(True, {}, False, True), "", ProjectionRebuilding),
        (None, view(False, {}, False, True), "", ProjectionRebuilding),
    ],
)
def test_admit(
    layout: Layout | None, tenant_view: TenantView, key: str, outcome: str | type[Exception]
) -> None:
    if outcome == "ok":
        assert admit("25", 25, layout, tenant_view, key).tenant == 25
        return
    assert not isinstance(outcome, str)
    with pytest.raises(outcome):
        admit("25", 25, layout, tenant_view, key)


def test_the_rebuilding_answer_carries_the_percent() -> None:
    with pytest.raises(ProjectionRebuilding) as caught:
        admit("25", 25, LAYOUT, view(True, {}, False, True), "")
    assert caught.value.msg == "statistics are being rebuilt (40%)"
