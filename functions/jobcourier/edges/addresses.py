"""Which addresses a result URL or a callback may reach: public unicast ones only.

The rule is a table in code, built from the IANA IPv4 and IPv6 Special-Purpose Address
Registries and the blocks beside them (multicast, site-local, the IPv4 forms inside IPv6), so
it does not depend on the Python version: ipaddress.is_global differs between releases and let
::ffff:0:a.b.c.d, 64:ff9b:1::/48 and fec0::/10 through on 3.11.

- Every special-purpose block is refused, those IANA marks "globally reachable" included
  (anycast relays, AS112, AMT, ORCHIDv2, drone ids): no result file is served from them.
- An IPv6 form that carries an IPv4 address (mapped, translated, NAT64, 6to4, Teredo) is
  judged by that IPv4 address, or both for Teredo (its server and its client).
- IPv6 outside 2000::/3, the only space IANA allocates for global unicast, is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from jobcourier.errors import DownloadRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK = "loopback"  # the one kind JOBCOURIER_ALLOW_PRIVATE_URLS=1 lets through (local runs)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

IPV4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "this network"),
    (_V4("10.0.0.0/8"), "private use"),
    (_V4("100.64.0.0/10"), "shared address space (carrier-grade NAT)"),
    (_V4("127.0.0.0/8"), LOOPBACK),
    (_V4("169.254.0.0/16"), "link local (the metadata server)"),
    (_V4("172.16.0.0/12"), "private use"),
    # DS-Lite 192.0.0.0/29, dummy .8, PCP and TURN anycast .9 and .10, NAT64 discovery .170-.171
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation (TEST-NET-1)"),
    (_V4("192.31.196.0/24"), "AS112"),
    (_V4("192.52.193.0/24"), "AMT"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast (deprecated)"),
    (_V4("192.168.0.0/16"), "private use"),
    (_V4("192.175.48.0/24"), "AS112 direct delegation"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation (TEST-NET-2)"),
    (_V4("203.0.113.0/24"), "documentation (TEST-NET-3)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved (and 255.255.255.255, limited broadcast)"),
)


def _low32(ip: int) -> tuple[int, ...]:
    return (ip & 0xFFFFFFFF,)


# IPv6 blocks whose addresses carry IPv4 addresses: (block, the IPv4 addresses as integers).
IPV6_CARRYING_IPV4: tuple[tuple[ipaddress.IPv6Network, Callable[[int], tuple[int, ...]]], ...] = (
    (_V6("::ffff:0:0/96"), _low32),  # IPv4-mapped
    (_V6("::ffff:0:0:0/96"), _low32),  # IPv4-translated (SIIT, RFC 6145)
    (_V6("64:ff9b::/96"), _low32),  # NAT64, well-known prefix (RFC 6052)
    (_V6("2002::/16"), lambda ip: ((ip >> 80) & 0xFFFFFFFF,)),  # 6to4
    # Teredo: the server, and the client's address (stored inverted)
    (_V6("2001::/32"), lambda ip: ((ip >> 64) & 0xFFFFFFFF, ~ip & 0xFFFFFFFF)),
)

IPV6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), LOOPBACK),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "NAT64 for local use (RFC 8215)"),
    (_V6("100::/64"), "discard only"),
    (_V6("100:0:0:1::/64"), "dummy prefix"),
    # Teredo is above; PCP, TURN and DNS-SD anycast 2001:1::1-3, benchmarking 2001:2::/48,
    # AMT 2001:3::/32, AS112 2001:4:112::/48, ORCHID 2001:10::/28 and 2001:20::/28, DETs
    # 2001:30::/28
    (_V6("2001::/23"), "IETF protocol assignments"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("2620:4f:8000::/48"), "AS112 direct delegation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "segment routing (SRv6) SIDs"),
    (_V6("fc00::/7"), "unique local"),
    (_V6("fe80::/10"), "link local"),
    (_V6("fec0::/10"), "site local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)
IPV6_GLOBAL_UNICAST = _V6("2000::/3")


def check_address(host: str, address: str, *, allow_private: bool) -> None:
    """Refuse (DownloadRefused) an address that is not public unicast; with allow_private,
    loopback passes (local runs and tests only)."""
    ip = ipaddress.ip_address(address.split("%")[0])  # fe80::1%eth0: the scope says nothing
    kind = refusal(ip)
    if kind is None or (allow_private and kind == LOOPBACK):
        return
    raise DownloadRefused(
        f"result URL host {host} must resolve to public addresses only. Found {ip} ({kind})"
    )


def refusal(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, or None when it is public unicast."""
    if isinstance(ip, ipaddress.IPv4Address):
        return next((kind for block, kind in IPV4_REFUSED if ip in block), None)
    for block, carried in IPV6_CARRYING_IPV4:
        if ip in block:
            kinds = (refusal(ipaddress.IPv4Address(v4)) for v4 in carried(int(ip)))
            return next((kind for kind in kinds if kind is not None), None)
    kind = next((kind for block, kind in IPV6_REFUSED if ip in block), None)
    if kind is None and ip not in IPV6_GLOBAL_UNICAST:
        return "outside the global unicast space 2000::/3"
    return kind
