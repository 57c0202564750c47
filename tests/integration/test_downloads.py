"""Result URLs come from outside: every hop is checked before it is fetched (real sockets)."""

from __future__ import annotations

import pytest

from devstack.fakes.server import ServedFile
from jobcourier.edges import http
from jobcourier.edges.http import SafeDownloader, check_url
from jobcourier.errors import DownloadExpired, DownloadRefused, DownloadTransient


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/computeMetadata/v1/",  # the metadata server
        "https://169.254.169.254/",
        "https://10.0.0.8/x.png",
        "https://192.168.1.1/x.png",
        "https://[fd00::1]/x.png",
        "https://0.0.0.0/x.png",
        "https://user:secret@example.com/x.png",
        "ftp://example.com/x.png",
        "file:///etc/passwd",
        "https:///nohost",
        "https://example.com:99999/x.png",  # a port out of range
        "https://[::1/x.png",  # a broken IPv6 literal
        "https://[64:ff9b::a9fe:a9fe]/x",  # NAT64 form of 169.254.169.254
        "https://[2002:a9fe:a9fe::1]/x",  # 6to4 form of 169.254.169.254
        "https://[::ffff:10.0.0.1]/x",  # IPv4-mapped
        "https://[::10.0.0.1]/x",  # IPv4-compatible
    ],
)
def test_internal_or_odd_urls_are_refused_even_locally(url):
    with pytest.raises(DownloadRefused):
        check_url(url, allow_private=True)


def test_loopback_and_http_only_when_allowed():
    check_url("http://127.0.0.1:8080/x.png", allow_private=True)
    check_url("https://[::1]/x.png", allow_private=True)
    for url in (
        "http://127.0.0.1:8080/x.png",
        "https://127.0.0.1/x.png",
        "https://[::1]/x.png",
        "http://example.com/x.png",
    ):
        with pytest.raises(DownloadRefused):
            check_url(url, allow_private=False)


@pytest.fixture
def downloader() -> SafeDownloader:
    return SafeDownloader(allow_private=True)


def test_a_redirect_to_the_metadata_server_is_refused(fakes, downloader):
    server = fakes["spacely"]
    url = f"{server.url}/redirect?to=http://169.254.169.254/computeMetadata/v1/"
    with pytest.raises(DownloadRefused, match="169.254.169.254"), downloader.open(url):
        pass


def test_redirects_within_allowed_hosts_are_followed_and_capped(fakes, downloader):
    server = fakes["spacely"]
    target = server.serve_file("redirected.png", ServedFile("image/png", b"\x89PNG hi"))
    with downloader.open(f"{server.url}/redirect?to={target}") as download:
        assert b"".join(download.chunks) == b"\x89PNG hi"
    loop = f"{server.url}/redirect?to=self"
    with pytest.raises(DownloadRefused, match="redirects"), downloader.open(loop):
        pass


def test_status_answers_are_classified(fakes, downloader):
    server = fakes["spacely"]
    for status, error in (
        (403, DownloadExpired),
        (503, DownloadTransient),
        (404, DownloadRefused),
        (410, DownloadRefused),
    ):
        url = server.serve_file(f"s{status}.png", ServedFile("image/png", b"x", failures=[status]))
        with pytest.raises(error), downloader.open(url):
            pass


def test_files_over_the_cap_are_refused_by_header_and_by_count(fakes, monkeypatch):
    server = fakes["spacely"]
    monkeypatch.setattr(http, "MAX_DOWNLOAD_BYTES", 1000)  # the cap is 5 GiB in production
    downloader = SafeDownloader(allow_private=True)
    url = server.serve_file("big.png", ServedFile("image/png", b"x" * 1001))
    with pytest.raises(DownloadRefused, match="cap"), downloader.open(url):
        pass


def test_an_unreachable_host_is_transient(downloader):
    from devstack.processes import free_port

    with pytest.raises(DownloadTransient), downloader.open(f"http://127.0.0.1:{free_port()}/x"):
        pass


@pytest.mark.parametrize("allow_private", [False, True])
def test_the_connected_socket_is_checked_too_not_only_the_name(fakes, allow_private):
    """A name that resolved to a public address when checked and to an internal one when
    connected (DNS rebinding) meets the second check, on the socket, before a byte is sent."""
    from urllib3.connection import HTTPConnection

    from jobcourier.edges.http import _peer_checked

    server = fakes["spacely"]
    port = int(server.url.rsplit(":", 1)[1])
    connection = _peer_checked(HTTPConnection, allow_private)("127.0.0.1", port)
    if allow_private:
        connection.connect()
        connection.close()
    else:
        calls = len(server.calls) + len(server.file_gets)
        with pytest.raises(DownloadRefused, match="127.0.0.1"):
            connection.connect()
        assert len(server.calls) + len(server.file_gets) == calls


def test_the_downloader_session_is_wired_to_check_its_sockets(fakes):
    """Past check_url (as a rebinding answer would be), the session's own connections still
    refuse loopback when private addresses are not allowed."""
    server = fakes["spacely"]
    url = server.serve_file("wired.png", ServedFile("image/png", b"x"))
    gets = len(server.file_gets)
    refusing = SafeDownloader(allow_private=False)
    with pytest.raises(DownloadRefused, match="127.0.0.1"):
        refusing._session.get(url, timeout=5)
    assert len(server.file_gets) == gets
    assert SafeDownloader(allow_private=True)._session.get(url, timeout=5).content == b"x"
