"""Provider HTTP through requests: status APIs and result downloads, one session per instance.

Result URLs come from outside, so every hop of a download is checked before it is fetched:
https only (plain http and loopback only with JOBCOURIER_ALLOW_PRIVATE_URLS=1), never a
private, link-local (the metadata server) or otherwise non-public address (edges/addresses.py,
the IANA special-purpose registries in a table), redirects
followed by hand and checked again, a size cap and timeouts. The address is checked twice:
when the URL's host is resolved, and on the connected socket before a byte is sent, so a DNS
answer that changes in between (rebinding) cannot reach inside either.

Every status call has a total deadline (STATUS_CALL_DEADLINE), and a download the deadline
its caller gives, kept inside each read however slowly the bytes come (edges/deadlines.py);
a call that meets it ends as a transient error (ProviderTransient, DownloadTransient).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from jobcourier.edges import deadlines
from jobcourier.edges.addresses import check_address
from jobcourier.edges.deadlines import Deadline
from jobcourier.errors import (
    BadRequest,
    DownloadExpired,
    DownloadRefused,
    DownloadTransient,
    ProviderTransient,
)
from jobcourier.limits import CALLBACK_DEADLINE, STATUS_CALL_DEADLINE
from jobcourier.naming import public_url
from jobcourier.ports import ApiResponse, Download

TIMEOUT = (10.0, 60.0)  # connect, read (between bytes); a deadline bounds the whole call
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
    adapter = _EdgeAdapter(check_peer=False, allow_private=True)  # deadlines only
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class RequestsProviderApi:
    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        headers: Mapping[str, str],
        *,
        deadline_s: float = STATUS_CALL_DEADLINE.total_seconds(),
    ):
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers)
        self._deadline_s = deadline_s

    def get(self, path: str, params: Mapping[str, str]) -> ApiResponse:
        url = self._base_url + path
        with Deadline.until(time.monotonic() + self._deadline_s) as deadline:
            try:
                with self._session.get(
                    url,
                    params=params,
                    headers=self._headers,
                    timeout=deadline.timeout(TIMEOUT),
                    stream=True,
                    allow_redirects=False,
                ) as response:
                    body = _read_capped(response, MAX_API_ANSWER_BYTES)
            except requests.RequestException as exc:
                if deadline.passed():
                    raise self._too_slow(url) from exc
                raise ProviderTransient(
                    f"no answer from {public_url(url)} ({exc.__class__.__name__})"
                ) from exc
            if deadline.passed():  # an answer without a length ends where the sockets were shut
                raise self._too_slow(url)
            return ApiResponse(response.status_code, body, dict(response.headers))

    def _too_slow(self, url: str) -> ProviderTransient:
        return ProviderTransient(
            f"expected a whole answer from {public_url(url)} within {self._deadline_s:g} s. "
            "Found it still coming"
        )


class SafeDownloader:
    """Result downloads, and callbacks to callers' URLs (ports.Downloader, CallbackSender):
    every URL and every connection under the rules in this module's docstring."""

    def __init__(self, *, allow_private: bool = False) -> None:
        # Its own session, whose connections check their peer (the provider APIs' need not).
        self._session = new_session()
        adapter = _EdgeAdapter(check_peer=True, allow_private=allow_private)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._allow_private = allow_private

    @contextmanager
    def open(self, url: str, deadline: float | None = None) -> Iterator[Download]:
        """The download, fetched and read before `deadline` (a time.monotonic() value) or
        ended as a DownloadTransient when it passes, however slowly the bytes come."""
        with Deadline.until(deadline) as until:
            response = self._get_following_redirects(url, until)
            try:
                length = _content_length(response)
                if length is not None and length > MAX_DOWNLOAD_BYTES:
                    raise DownloadRefused(
                        f"{public_url(url)} is {length} bytes, over the {MAX_DOWNLOAD_BYTES} cap"
                    )
                yield Download(
                    content_type=response.headers.get("Content-Type"),
                    length=length,
                    chunks=_capped_chunks(response, url, until),
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
            with (
                Deadline.until(time.monotonic() + CALLBACK_DEADLINE.total_seconds()) as deadline,
                self._session.post(
                    url,
                    data=body,
                    headers=dict(headers),
                    timeout=deadline.timeout(TIMEOUT),
                    stream=True,
                    allow_redirects=False,
                ) as response,
            ):
                response.raw.read(MAX_CALLBACK_ANSWER_BYTES)  # the answer itself is not used
                if deadline.passed():
                    raise DownloadTransient(f"callback to {host}: no whole answer in time")
                return response.status_code
        except (requests.RequestException, DownloadRefused) as exc:
            raise DownloadTransient(f"callback to {host}: {exc.__class__.__name__}") from exc

    def _get_following_redirects(self, url: str, deadline: Deadline) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, allow_private=self._allow_private)
            try:
                response = self._session.get(
                    url, timeout=deadline.timeout(TIMEOUT), stream=True, allow_redirects=False
                )
            except requests.RequestException as exc:
                if deadline.passed():
                    raise _download_too_slow(url) from exc
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


def _download_too_slow(url: str) -> DownloadTransient:
    return DownloadTransient(
        f"expected {public_url(url)} whole before the copy's deadline. Found it still coming"
    )


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


class _EdgeAdapter(HTTPAdapter):
    """Connections that keep the call's deadline and, with check_peer, check their peer."""

    def __init__(self, *, check_peer: bool, allow_private: bool) -> None:
        self._check_peer = check_peer
        self._allow_private = allow_private
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        http, https = deadlines.watched(HTTPConnection), deadlines.watched(HTTPSConnection)
        if self._check_peer:
            http = _peer_checked(http, self._allow_private)
            https = _peer_checked(https, self._allow_private)

        class HttpPool(HTTPConnectionPool):
            ConnectionCls = http

        class HttpsPool(HTTPSConnectionPool):
            ConnectionCls = https

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


def _capped_chunks(response: requests.Response, url: str, deadline: Deadline) -> Iterator[bytes]:
    total = 0
    try:
        for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
            total += len(chunk)
            if total > MAX_DOWNLOAD_BYTES:
                raise DownloadRefused(f"{public_url(url)} is over the {MAX_DOWNLOAD_BYTES} cap")
            if deadline.passed():
                raise _download_too_slow(url)
            yield chunk
    except requests.RequestException as exc:
        if deadline.passed():
            raise _download_too_slow(url) from exc
        raise DownloadTransient(f"{public_url(url)}: {exc.__class__.__name__}") from exc
    if deadline.passed():  # a body without a length ends where its socket was shut down
        raise _download_too_slow(url)


def _read_capped(response: requests.Response, cap: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > cap:
            raise ProviderTransient(f"status answer over {cap} bytes")
    return bytes(body)
