"""Which peers may set X-Forwarded-*: table tests of the trusted-proxy list."""

from __future__ import annotations

import pytest

from api.proxies import ProxySpecError, TrustedProxies


@pytest.mark.parametrize(
    ("spec", "peer", "trusted"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("127.0.0.1", "10.0.0.1", False),
        ("10.0.0.0/8, 192.168.1.7", "10.200.3.4", True),
        ("10.0.0.0/8, 192.168.1.7", "192.168.1.7", True),
        ("10.0.0.0/8, 192.168.1.7", "192.168.1.8", False),
        ("::1", "::1", True),
        ("::1", "[::1]", True),
        ("127.0.0.1", "::ffff:127.0.0.1", True),  # a dual-stack socket's view of IPv4
        ("fd00::/8", "fd12::1", True),
        ("*", "203.0.113.9", True),
        ("*", "2001:db8::1", True),
        ("", "127.0.0.1", False),
        ("127.0.0.1", None, False),
        ("127.0.0.1", "not-an-ip", False),
        ("127.0.0.1", "", False),
    ],
)
def test_trusts(spec: str, peer: str | None, trusted: bool) -> None:
    assert TrustedProxies.from_list(spec).trusts(peer) is trusted


@pytest.mark.parametrize("spec", ["10.0.0.0/33", "localhost", "1.2.3", "10.0.0.1/8/2"])
def test_a_bad_entry_is_an_error_naming_it(spec: str) -> None:
    with pytest.raises(ProxySpecError, match="is not an IP address or network"):
        TrustedProxies.from_list(spec)
