"""Which peers may speak for the client: X-Forwarded-* is honoured only from them.

Any client can send `X-Forwarded-Host: evil.example`; if it were honoured from everyone,
the paginator URLs an admin clicks would point wherever the sender liked. Only the
reverse proxies the operator names (`CUSTSTATS_TRUSTED_PROXIES`) are believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxySpecError(ValueError):
    """An entry of the trusted-proxy list is not an address or a network."""


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses (`10.0.0.7`, `::1`) and networks (`10.0.0.0/8`); `*` trusts every peer."""
    networks: list[Network] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if entry == "*":
            networks += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ProxySpecError(f"{entry!r} is not an IP address or network") from exc
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...]

    @classmethod
    def from_list(cls, spec: str | Iterable[str]) -> TrustedProxies:
        entries = spec.split(",") if isinstance(spec, str) else spec
        return cls(parse_networks(entries))

    def trusts(self, peer: str | None) -> bool:
        """Whether the TCP peer is one of the operator's proxies (a unix socket peer is)."""
        if peer is None:
            return False
        if peer.startswith("[") and peer.endswith("]"):
            peer = peer[1:-1]
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
