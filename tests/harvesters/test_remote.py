"""The shared HTTP client against a real server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckanext.dataclic.remote import HostPolicy, RemoteClient, RemoteError, RemoteLimits

from .fixture_server import FixtureServer, Reply

LOCAL = HostPolicy(frozenset({"127.0.0.1"}))


@pytest.fixture
def server():
    srv = FixtureServer().start()
    yield srv
    srv.stop()


def client(**limits) -> tuple[RemoteClient, list[float]]:
    waits: list[float] = []
    base = {"connect_timeout": 1, "read_timeout": 1, "max_retries": 2, "backoff": 0.01}
    base.update(limits)
    return RemoteClient(RemoteLimits(**base), LOCAL, sleep=waits.append), waits


def test_loopback_refused_unless_allowlisted(server):
    bare = RemoteClient(RemoteLimits(), HostPolicy())
    with pytest.raises(RemoteError, match="non-public address"):
        bare.get_json(server.url + "/x")
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "http:///x"])
def test_non_http_urls_refused(url):
    with pytest.raises(RemoteError):
        RemoteClient(policy=LOCAL).get_json(url)


def test_retry_after_is_honoured_then_success(server):
    server.routes["/p"] = [Reply.json({}, 429, headers={"Retry-After": "2"}),
                           Reply.json({"ok": True})]
    c, waits = client()
    assert c.get_json(server.url + "/p") == {"ok": True}
    assert waits == [2.0]


def test_retry_after_beyond_cap_gives_up(server):
    server.routes["/p"] = Reply.json({}, 429, headers={"Retry-After": "3600"})
    c, _ = client(max_wait=5)
    with pytest.raises(RemoteError, match="retry after 3600") as err:
        c.get_json(server.url + "/p")
    assert err.value.status == 429


def test_5xx_retries_are_bounded_with_backoff(server):
    server.routes["/p"] = Reply.json({}, 500)
    c, waits = client(max_retries=3, backoff=0.5)
    with pytest.raises(RemoteError, match="gave up after 4 attempts") as err:
        c.get_json(server.url + "/p")
    assert err.value.status == 500
    assert waits == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4


def test_404_is_not_retried(server):
    c, waits = client()
    with pytest.raises(RemoteError) as err:
        c.get_json(server.url + "/missing")
    assert err.value.status == 404 and waits == [] and len(server.requests) == 1


def test_slow_response_hits_the_read_timeout(server):
    server.routes["/slow"] = Reply.json({}, delay=1.0)
    c, _ = client(read_timeout=0.2, max_retries=1)
    with pytest.raises(RemoteError, match="timed out"):
        c.get_json(server.url + "/slow")


def test_malformed_json_is_a_clear_error(server):
    server.routes["/bad"] = Reply(200, b"{not json", {"Content-Type": "application/json"})
    c, _ = client()
    with pytest.raises(RemoteError, match="not valid JSON"):
        c.get_json(server.url + "/bad")


def test_size_cap_leaves_no_partial_file(server, tmp_path: Path):
    server.routes["/big"] = Reply(200, b"x" * 5000)
    c, _ = client(max_bytes=1000)
    dest = tmp_path / "big.bin"
    with pytest.raises(RemoteError, match="byte cap"):
        c.download(server.url + "/big", dest)
    assert list(tmp_path.iterdir()) == []
    size, digest = client()[0].download(server.url + "/big", dest)
    assert size == 5000 and dest.read_bytes() == b"x" * 5000 and len(digest) == 64


def test_paging_loop_is_detected(server):
    server.routes["/a"] = Reply.json({"next": "/b"})
    server.routes["/b"] = Reply.json({"next": "/a"})
    c, _ = client()
    pages = c.iter_pages(server.url + "/a", None, lambda payload, _url: payload.get("next"))
    with pytest.raises(RemoteError, match="loops back"):
        list(pages)


def test_page_cap(server):
    server.routes["/p"] = lambda q: Reply.json({"n": int(q["page"][0])})
    c, _ = client(max_pages=3)
    pages = c.iter_pages(server.url + "/p", {"page": 1},
                         lambda payload, _url: {"page": payload["n"] + 1})
    with pytest.raises(RemoteError, match="more than 3 pages"):
        list(pages)


def test_redirect_to_a_forbidden_host_is_refused(server):
    server.routes["/r"] = Reply(302, b"", {"Location": "http://10.0.0.1/secret"})
    c, _ = client()
    with pytest.raises(RemoteError, match="non-public"):
        c.get_json(server.url + "/r")
