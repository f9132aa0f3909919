"""Layout: every key of a tenant carries its version and hash tag, the new key families too."""

from __future__ import annotations

from projector.layout import ControlLayout, Layout

MARCH_2023 = 2023 * 12 + 2


def test_employee_month_customers_is_per_tenant_employee_and_local_month() -> None:
    layout = Layout("custstats", 4)
    key = layout.employee_month_customers(25, 222, MARCH_2023)
    assert key == "custstats:v4:{25}:em:222:24278"
    assert key != layout.employee_month_customers(25, 222, MARCH_2023 + 1)
    assert key != layout.employee_month_customers(25, 223, MARCH_2023)
    assert key != layout.employee_month_customers(26, 222, MARCH_2023)


def test_a_tenant_rebuilt_on_its_own_keeps_its_em_sets_in_its_version() -> None:
    layout = Layout("custstats", 4, overrides=((25, 9),))
    assert layout.employee_month_customers(25, 3, MARCH_2023).startswith("custstats:v9:{25}:")
    assert layout.employee_month_customers(26, 3, MARCH_2023).startswith("custstats:v4:{26}:")


def test_scan_patterns_match_literally_and_format_keys_parse_back() -> None:
    layout = Layout("a*b", 7)
    assert layout.every_key == "a\\*b:v7:*"
    assert layout.tenant_keys(42) == "a\\*b:v7:{42}:*"
    assert layout.tenant_keys_start == "a*b:v7:{"
    control = ControlLayout("a*b")
    assert control.format_keys == "a\\*b:v*:format"
    assert control.version_of_format_key(layout.format_key.encode()) == 7
    assert control.version_of_format_key(b"a*b:v7:ready") is None
    assert control.version_of_format_key(b"other:v7:format") is None
