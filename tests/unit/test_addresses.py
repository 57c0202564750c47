"""Which addresses downloads and callbacks may reach, against a table built from the IANA
registries (IPv4 and IPv6 Special-Purpose Address Registries, multicast, site-local, the IPv4
forms inside IPv6), not from ipaddress.is_global, whose answers differ between Python versions:
'These passed the address check: IPv4-translated ::ffff:0:a.b.c.d (RFC 6145); local-use NAT64
64:ff9b:1::/48 (RFC 8215); site-local fec0::/10.'"""

from __future__ import annotations

import ipaddress

import pytest

from jobcourier.edges import addresses
from jobcourier.edges.addresses import check_address
from jobcourier.errors import DownloadRefused

# (address, the block it stands for). Every one must be refused.
IPV4_SPECIAL = [
    ("0.0.0.0", "0.0.0.0/32 this host"),  # noqa: S104 - an address to refuse, not to bind
    ("0.1.2.3", "0.0.0.0/8 this network"),
    ("10.0.0.8", "10.0.0.0/8 private use"),
    ("10.255.255.255", "10.0.0.0/8 private use, last"),
    ("100.64.0.1", "100.64.0.0/10 shared address space"),
    ("100.127.255.254", "100.64.0.0/10 shared address space, last"),
    ("127.0.0.1", "127.0.0.0/8 loopback"),
    ("127.255.255.254", "127.0.0.0/8 loopback"),
    ("169.254.169.254", "169.254.0.0/16 link local: the metadata server"),
    ("172.16.0.1", "172.16.0.0/12 private use"),
    ("172.31.255.255", "172.16.0.0/12 private use, last"),
    ("192.0.0.1", "192.0.0.0/29 IPv4 service continuity prefix"),
    ("192.0.0.8", "192.0.0.8/32 IPv4 dummy address"),
    ("192.0.0.9", "192.0.0.9/32 PCP anycast (globally reachable)"),
    ("192.0.0.10", "192.0.0.10/32 TURN anycast (globally reachable)"),
    ("192.0.0.170", "192.0.0.170/32 NAT64/DNS64 discovery"),
    ("192.0.0.171", "192.0.0.171/32 NAT64/DNS64 discovery"),
    ("192.0.0.200", "192.0.0.0/24 IETF protocol assignments"),
    ("192.0.2.1", "192.0.2.0/24 documentation (TEST-NET-1)"),
    ("192.31.196.1", "192.31.196.0/24 AS112-v4 (globally reachable)"),
    ("192.52.193.1", "192.52.193.0/24 AMT (globally reachable)"),
    ("192.88.99.1", "192.88.99.0/24 deprecated 6to4 relay anycast"),
    ("192.168.1.1", "192.168.0.0/16 private use"),
    ("192.175.48.1", "192.175.48.0/24 AS112 direct delegation (globally reachable)"),
    ("198.18.0.1", "198.18.0.0/15 benchmarking"),
    ("198.19.255.255", "198.18.0.0/15 benchmarking, last"),
    ("198.51.100.7", "198.51.100.0/24 documentation (TEST-NET-2)"),
    ("203.0.113.7", "203.0.113.0/24 documentation (TEST-NET-3)"),
    ("224.0.0.1", "224.0.0.0/4 multicast"),
    ("239.255.255.250", "224.0.0.0/4 multicast (SSDP)"),
    ("240.0.0.1", "240.0.0.0/4 reserved"),
    ("255.255.255.255", "255.255.255.255/32 limited broadcast"),
]
IPV6_SPECIAL = [
    ("::", "::/128 unspecified"),
    ("::1", "::1/128 loopback"),
    ("::a00:1", "::/96 IPv4-compatible (deprecated), 10.0.0.1"),
    ("::808:808", "::/96 IPv4-compatible (deprecated), even of 8.8.8.8"),
    ("::ffff:10.0.0.1", "::ffff:0:0/96 IPv4-mapped 10.0.0.1"),
    ("::ffff:169.254.169.254", "::ffff:0:0/96 IPv4-mapped metadata server"),
    ("::ffff:0:10.0.0.1", "::ffff:0:0:0/96 IPv4-translated 10.0.0.1 (RFC 6145)"),
    ("::ffff:0:169.254.169.254", "::ffff:0:0:0/96 IPv4-translated metadata server"),
    ("::ffff:0:127.0.0.1", "::ffff:0:0:0/96 IPv4-translated loopback"),
    ("64:ff9b::a9fe:a9fe", "64:ff9b::/96 NAT64 of 169.254.169.254"),
    ("64:ff9b::c0a8:101", "64:ff9b::/96 NAT64 of 192.168.1.1"),
    ("64:ff9b:1::808:808", "64:ff9b:1::/48 local-use NAT64 (RFC 8215), even of 8.8.8.8"),
    ("100::1", "100::/64 discard only"),
    ("100:0:0:1::1", "100:0:0:1::/64 dummy prefix"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001::/32 Teredo, client 10.0.0.1"),
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "2001::/32 Teredo, server 10.0.0.1"),
    ("2001:1::1", "2001:1::1/128 PCP anycast (globally reachable)"),
    ("2001:1::2", "2001:1::2/128 TURN anycast (globally reachable)"),
    ("2001:1::3", "2001:1::3/128 DNS-SD SRP anycast (globally reachable)"),
    ("2001:2::1", "2001:2::/48 benchmarking"),
    ("2001:3::1", "2001:3::/32 AMT (globally reachable)"),
    ("2001:4:112::1", "2001:4:112::/48 AS112-v6 (globally reachable)"),
    ("2001:10::1", "2001:10::/28 deprecated ORCHID"),
    ("2001:20::1", "2001:20::/28 ORCHIDv2 (globally reachable)"),
    ("2001:30::1", "2001:30::/28 drone remote id entity tags (globally reachable)"),
    ("2001:1ff:ffff::1", "2001::/23 IETF protocol assignments, last /32"),
    ("2001:db8::1", "2001:db8::/32 documentation"),
    ("2002:a00:1::1", "2002::/16 6to4 of 10.0.0.1"),
    ("2002:a9fe:a9fe::1", "2002::/16 6to4 of 169.254.169.254"),
    ("2620:4f:8000::1", "2620:4f:8000::/48 AS112 direct delegation (globally reachable)"),
    ("3fff::1", "3fff::/20 documentation (RFC 9637)"),
    ("3fff:fff:ffff::1", "3fff::/20 documentation, last"),
    ("5f00::1", "5f00::/16 SRv6 SIDs (RFC 9602)"),
    ("fc00::1", "fc00::/7 unique local"),
    ("fd00::1", "fc00::/7 unique local"),
    ("fe80::1", "fe80::/10 link local"),
    ("fe80::1%eth0", "fe80::/10 link local, with a scope"),
    ("fec0::1", "fec0::/10 site local (deprecated)"),
    ("feff::1", "fec0::/10 site local, last"),
    ("ff02::1", "ff00::/8 multicast"),
    ("ff0e::1", "ff00::/8 multicast, global scope"),
    ("4000::1", "outside 2000::/3: unassigned"),
    ("1::1", "outside 2000::/3: reserved by the IETF"),
]
PUBLIC = [
    ("8.8.8.8", "public"),
    ("1.1.1.1", "public"),
    ("93.184.215.14", "public"),
    ("100.63.255.255", "just below 100.64.0.0/10"),
    ("100.128.0.0", "just above 100.64.0.0/10"),
    ("172.15.255.255", "just below 172.16.0.0/12"),
    ("172.32.0.0", "just above 172.16.0.0/12"),
    ("192.0.1.1", "between 192.0.0.0/24 and 192.0.2.0/24"),
    ("198.17.255.255", "just below 198.18.0.0/15"),
    ("198.20.0.0", "just above 198.18.0.0/15"),
    ("223.255.255.255", "just below multicast"),
    ("2606:4700:4700::1111", "public"),
    ("2001:4860:4860::8888", "public"),
    ("2a00:1450:4001:80b::200e", "public"),
    ("2001:200::1", "just above 2001::/23"),
    ("3fff:1000::1", "just above 3fff::/20"),
    ("::ffff:8.8.8.8", "::ffff:0:0/96 IPv4-mapped public"),
    ("::ffff:0:8.8.8.8", "::ffff:0:0:0/96 IPv4-translated public"),
    ("64:ff9b::808:808", "64:ff9b::/96 NAT64 of 8.8.8.8"),
    ("2002:808:808::1", "2002::/16 6to4 of 8.8.8.8"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "2001::/32 Teredo, server and client public"),
]


@pytest.mark.parametrize(("address", "block"), IPV4_SPECIAL + IPV6_SPECIAL)
def test_every_special_purpose_block_is_refused(address, block):
    with pytest.raises(DownloadRefused, match="public addresses only"):
        check_address("h.example", address, allow_private=False)


@pytest.mark.parametrize(("address", "why"), PUBLIC)
def test_public_addresses_pass(address, why):
    check_address("h.example", address, allow_private=False)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"])
def test_loopback_passes_only_when_private_urls_are_allowed(address):
    check_address("localhost", address, allow_private=True)
    with pytest.raises(DownloadRefused):
        check_address("localhost", address, allow_private=False)


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "fd00::1", "::ffff:10.0.0.1"])
def test_other_private_addresses_stay_refused_when_private_urls_are_allowed(address):
    with pytest.raises(DownloadRefused):
        check_address("h.example", address, allow_private=True)


def test_every_block_of_the_code_is_met_by_the_registry_table():
    """The rule's table and this one agree: each block in the code holds a tested address."""
    tested = [
        ipaddress.ip_address(a.split("%")[0]) for a, _ in IPV4_SPECIAL + IPV6_SPECIAL + PUBLIC
    ]
    blocks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        *(block for block, _ in addresses.IPV4_REFUSED),
        *(block for block, _ in addresses.IPV6_REFUSED),
        *(block for block, _ in addresses.IPV6_CARRYING_IPV4),
    ]
    for block in blocks:
        assert any(ip in block for ip in tested), block
