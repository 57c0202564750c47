"""Provider HTTP through requests: status APIs and result downloads, one session per instance.

Result URLs come from outside, so every hop of a download is checked before it is fetched:
https only (plain http and loopback only with JOBCOURIER_ALLOW_PRIVATE_URLS=1), never a
private, link-local (the metadata server) or otherwise non-global address, redirects
followed by hand and checked again, a size cap and timeouts. The address is checked twice:
when the URL's host is resolved, and on the connected socket before a byte is sent, so a DNS
answer that changes in between (rebinding) cannot reach inside either.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from jobcourier.errors import (
    BadRequest,
    DownloadExpired,
    DownloadRefused,
    DownloadTransient,
    ProviderTransient,
)
from jobcourier.naming import public_url
from jobcourier.ports import ApiResponse, Download

TIMEOUT = (10.0, 60.0)  # connect, read (between bytes)
MAX_API_ANSWER_BYTES = 1024 * 1024
MAX_DOWNLOAD_BYTES = 5 * 1024**3
MAX_REDIRECTS = 5
MAX_CALLBACK_ANSWER_BYTES = 64 * 1024
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
USER_AGENT = "jobcourier/0.1"


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.trust_env = False  # no proxy or .netrc credentials picked up from the environment
    return session


class RequestsProviderApi:
    def __init__(self, session: requests.Session, base_url: str, headers: Mapping[str, str]):
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers)

    def get(self, path: str, params: Mapping[str, str]) -> ApiResponse:
        url = self._base_url + path
        try:
            with self._session.get(
                url,
                params=params,
                headers=self._headers,
                timeout=TIMEOUT,
                stream=True,
                allow_redirects=False,
            ) as response:
                body = _read_capped(response, MAX_API_ANSWER_BYTES)
                return ApiResponse(response.status_code, body, dict(response.headers))
        except requests.RequestException as exc:
            raise ProviderTransient(
                f"no answer from {public_url(url)} ({exc.__class__.__name__})"
            ) from exc


class SafeDownloader:
    """Result downloads, and callbacks to callers' URLs (ports.Downloader, CallbackSender):
    every URL and every connection under the rules in this module's docstring."""

    def __init__(self, *, allow_private: bool = False) -> None:
        # Its own session, whose connections check their peer (the provider APIs' need not).
        self._session = new_session()
        adapter = _PeerCheckingAdapter(allow_private=allow_private)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._allow_private = allow_private

    @contextmanager
    def open(self, url: str) -> Iterator[Download]:
        response = self._get_following_redirects(url)
        try:
            length = _content_length(response)
            if length is not None and length > MAX_DOWNLOAD_BYTES:
                raise DownloadRefused(
                    f"{public_url(url)} is {length} bytes, over the {MAX_DOWNLOAD_BYTES} cap"
                )
            yield Download(
                content_type=response.headers.get("Content-Type"),
                length=length,
                chunks=_capped_chunks(response, url),
            )
        finally:
            response.close()

    def check(self, url: str) -> None:
        """The URL's form and, when its host is a literal address, that address; a name is
        resolved (and every address checked) only when calling."""
        try:
            parts = urlsplit(url)
            scheme_ok = parts.scheme == "https" or (self._allow_private and parts.scheme == "http")
            if not scheme_ok:
                raise DownloadRefused(f"must use https. Found: {parts.scheme or 'no scheme'}")
            host = parts.hostname or ""
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return  # a name
            check_address(host, host, allow_private=self._allow_private)
        except (DownloadRefused, ValueError) as exc:
            raise BadRequest(f"callback_url is not allowed: {exc}") from exc

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """What goes wrong names the URL's host only: a caller's path may hold a token."""
        host = urlsplit(url).hostname or "?"
        try:
            check_url(url, allow_private=self._allow_private)
        except DownloadRefused as exc:
            raise DownloadRefused(f"callback to {host} refused: not a public address") from exc
        except DownloadTransient as exc:
            raise DownloadTransient(f"callback to {host}: cannot resolve it") from exc
        try:
            with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=TIMEOUT,
                stream=True,
                allow_redirects=False,
            ) as response:
                response.raw.read(MAX_CALLBACK_ANSWER_BYTES)  # the answer itself is not used
                return response.status_code
        except (requests.RequestException, DownloadRefused) as exc:
            raise DownloadTransient(f"callback to {host}: {exc.__class__.__name__}") from exc

    def _get_following_redirects(self, url: str) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, allow_private=self._allow_private)
            try:
                response = self._session.get(
                    url, timeout=TIMEOUT, stream=True, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise DownloadTransient(f"{public_url(url)}: {exc.__class__.__name__}") from exc
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                url = urljoin(url, location)
                continue
            if response.status_code == 200:
                return response
            response.close()
            code = response.status_code
            if code == 403:  # an expired signed link: the provider can hand out a fresh one
                raise DownloadExpired(f"{public_url(url)} answered HTTP 403 (link expired?)")
            if code >= 500 or code in (408, 429):
                raise DownloadTransient(f"{public_url(url)} answered HTTP {code}")
            raise DownloadRefused(f"{public_url(url)} answered HTTP {code}")
        raise DownloadRefused(f"{public_url(url)}: more than {MAX_REDIRECTS} redirects")


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def check_address(host: str, address: str, *, allow_private: bool) -> None:
    ip = ipaddress.ip_address(address.split("%")[0])
    embedded = _embedded_ipv4(ip)
    if embedded is not None:  # an IPv6 form that reaches an IPv4 address: judge that one
        check_address(host, str(embedded), allow_private=allow_private)
        return
    if ip.is_global and not ip.is_multicast:
        return
    if allow_private and ip.is_loopback:
        return
    raise DownloadRefused(f"result URL host {host} resolves to {ip}, which is not a public address")


def _embedded_ipv4(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


_Connection = TypeVar("_Connection", bound=HTTPConnection)


def _peer_checked(base: type[_Connection], allow_private: bool) -> type[_Connection]:
    """`base`, checking the address it connected to before anything is sent over it."""

    class PeerChecked(base):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            sock: socket.socket = super()._new_conn()
            try:
                check_address(self.host, sock.getpeername()[0], allow_private=allow_private)
            except DownloadRefused:
                sock.close()
                raise
            return sock

    return PeerChecked


class _PeerCheckingAdapter(HTTPAdapter):
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        allow = self._allow_private

        class HttpPool(HTTPConnectionPool):
            ConnectionCls = _peer_checked(HTTPConnection, allow)

        class HttpsPool(HTTPSConnectionPool):
            ConnectionCls = _peer_checked(HTTPSConnection, allow)

        self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs that could reach inside our network, or that do not parse. Raises
    DownloadRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a bad port or a broken IPv6 literal
        raise DownloadRefused(f"result URL does not parse: {exc}") from exc
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise DownloadRefused(
            f"result URL must use {' or '.join(allowed_schemes)}. "
            f"Found: {parts.scheme or 'no scheme'}"
        )
    if not parts.hostname or parts.username or parts.password:
        raise DownloadRefused(f"result URL must name a host and no credentials: {public_url(url)}")
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DownloadTransient(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        check_address(parts.hostname, str(info[4][0]), allow_private=allow_private)


def _content_length(response: requests.Response) -> int | None:
    if response.headers.get("Content-Encoding", "identity") != "identity":
        return None  # the header counts encoded bytes; we count decoded ones
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _capped_chunks(response: requests.Response, url: str) -> Iterator[bytes]:
    total = 0
    try:
        for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
            total += len(chunk)
            if total > MAX_DOWNLOAD_BYTES:
                raise DownloadRefused(f"{public_url(url)} is over the {MAX_DOWNLOAD_BYTES} cap")
            yield chunk
    except requests.RequestException as exc:
        raise DownloadTransient(f"{public_url(url)}: {exc.__class__.__name__}") from exc


def _read_capped(response: requests.Response, cap: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > cap:
            raise ProviderTransient(f"status answer over {cap} bytes")
    return bytes(body)
