"""Where outbound webhooks may go: https URLs on public addresses, nowhere else.

A vendor chooses the URL, so without this check it could make the service send requests
into the operator's network (a database admin page, the cloud metadata service at
169.254.169.254). Two checks, one rule (`refusal`):

- at registration and on update (`check_url`): the scheme is https, and a host given as an
  address, or the name `localhost`, is public. A name is not resolved there: what it
  resolves to can change at any time, so the check that counts is the next one;
- at delivery (`destination`): the name is resolved and every address it gives must be
  public; the POST then goes to the address that was checked (the URL carries it, while the
  `Host` header and TLS server name stay the name, so certificates verify as usual), so a
  name cannot resolve to a checked address first and to an internal one at connect time.
  Redirects are never followed.

Public means none of: loopback, private (RFC 1918), link-local, shared (CGNAT
100.64.0.0/10), unique local (fc00::/7), site-local, unspecified, multicast, reserved,
documentation or benchmarking ranges, nor an IPv6 address that carries one of those (IPv4-
mapped, 6to4, NAT64, Teredo).

For development the operator may allow hosts (`METERING_WEBHOOK_ALLOWED_HOSTS`: names,
addresses or networks, comma-separated): an allowed name goes wherever it resolves, an
allowed network's addresses pass, and allowed hosts may use plain http. Nothing is allowed
by default.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_RFC1918 = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA = ipaddress.IPv4Address("169.254.169.254")


class DestinationRefused(Exception):
    """The URL or an address its host resolves to is not a public https destination."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one POST goes: `url` names the checked address (or an allowed host), `host`
    and `server_name` what the receiver is told (the URL's own host)."""

    url: str
    host: str | None = None
    server_name: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"host": self.host} if self.host else {}

    @property
    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.server_name} if self.server_name else {}


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (6to4, NAT64, Teredo client), if any."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal(address: IPAddress) -> str | None:
    """What makes `address` no public destination ("a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            kind = refusal(mapped)
            return f"{kind} in IPv6 form ({mapped})" if kind else None
        carried = _embedded(address)
        if carried is not None and (kind := refusal(carried)) is not None:
            return f"{kind} in IPv6 form ({carried})"
    return _kind(address)


def _kind(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address == _METADATA:
        return "the cloud metadata address (link-local)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _SHARED:
            return "a shared address (carrier-grade NAT, 100.64.0.0/10)"
        if any(address in net for net in _RFC1918):
            return "a private address (RFC 1918)"
    else:
        if address in _UNIQUE_LOCAL:
            return "a unique local address (fc00::/7)"
        if address.is_site_local:
            return "a site-local address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def _address(host: str) -> IPAddress | None:
    """The address a URL's host names literally (IPv6 with or without brackets), or None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_localhost(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """The operator's development allow-list: host names, and networks of addresses."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowedHosts:
        """Each entry a host name, an address or a network (`10.0.0.0/8`)."""
        names: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.rstrip(".").lower())
        return cls(frozenset(names), tuple(networks))

    def has_name(self, host: str) -> bool:
        return host.rstrip(".").lower() in self.names

    def has_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)

    def has_host(self, host: str) -> bool:
        """The URL's host is allowed as written: by name, or as an allowed address."""
        address = _address(host)
        return self.has_name(host) if address is None else self.has_address(address)


def _host(url: httpx.URL) -> str:
    """The URL's host as sent on the wire (IDNA-encoded; IPv6 without brackets)."""
    return url.raw_host.decode("ascii")


def _why_url(url: httpx.URL, allowed: AllowedHosts) -> str | None:
    host = _host(url)
    if not host:
        return f"{url} has no host"
    if allowed.has_host(host):
        return None if url.scheme in ("http", "https") else f"{url.scheme} is not http(s)"
    address = _address(host)
    if address is not None and (kind := refusal(address)) is not None:
        return f"{address} is {kind}"
    if _is_localhost(host):
        return f"{host} is a loopback name"
    if url.scheme != "https":
        return f"{url.scheme} is not https"
    return None


def check_url(url: str, allowed: AllowedHosts) -> str | None:
    """Why a vendor may not register `url` (its host is not resolved here), or None."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        return f"it cannot be read as a URL ({error})"
    return _why_url(parsed, allowed)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to now (tests replace this to play DNS)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def destination(url: str, allowed: AllowedHosts) -> Destination:
    """Where to send a delivery for `url`: checked again, its name resolved and every address
    checked; DestinationRefused when it may not go there. A name that does not resolve
    raises OSError (a DNS failure is retried like any connection error)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise DestinationRefused(f"{url} cannot be read as a URL ({error})") from None
    reason = _why_url(parsed, allowed)
    if reason is not None:
        raise DestinationRefused(f"{url} is refused: {reason}")
    host = _host(parsed)
    if _address(host) is not None or allowed.has_name(host):
        return Destination(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = [a for a in (_address(text) for text in resolve(host, port)) if a is not None]
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    for address in addresses:
        kind = None if allowed.has_address(address) else refusal(address)
        if kind is not None:
            raise DestinationRefused(f"{url} is refused: {host} resolves to {address}, {kind}")
    pinned = str(addresses[0])
    netloc = parsed.netloc.decode("ascii")
    return Destination(str(parsed.copy_with(host=pinned)), host=netloc, server_name=host)
