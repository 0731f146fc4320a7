"""Request-level limits (issue 11): JSON-only bodies, the Host allow-list, body size with and without
Content-Length, and a stalled client, the last two against real servers (python -m backend, gunicorn)."""
from __future__ import annotations

import select
import socket
import time

import pytest
import requests

from backend.errors import RequestError
from backend.request_limits import CappedInput, allowed_hosts, check_host, host_name
from tests.support import backend_process


# ------------------------------------------------------------------ JSON only
@pytest.mark.parametrize("kw, shown", [
    ({"data": '{"action": "ANNOTATION_CREATED"}', "content_type": "text/plain"}, "text/plain"),
    ({"data": {"action": "ANNOTATION_CREATED"}}, "application/x-www-form-urlencoded"),
    ({"data": b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\n{}\r\n--b--\r\n',
      "content_type": "multipart/form-data; boundary=b"}, "multipart/form-data"),
    ({"data": b'{"action": "x"}'}, "none"),
])
def test_bodies_that_are_not_json_get_415_and_change_nothing(backend, events, kw, shown):
    before = backend.labels()
    for path in ("/webhook", "/setup", "/predict", "/sync", "/rounds?project=1"):
        r = backend.client.post(path, **kw)
        assert r.status_code == 415, (path, r.get_json())
        assert r.get_json()["error"] == ("Unsupported Media Type: request bodies must be application/json, "
                                         f"got Content-Type {shown}")
    assert backend.labels() == before


def test_json_with_a_charset_and_empty_bodies_where_allowed_pass(backend, events):
    r = backend.client.post("/webhook", data=__import__("json").dumps(events.created(1, 1, "one")),
                            content_type="application/json; charset=utf-8")
    assert r.status_code == 200, r.get_json()
    assert backend.labels() == [(1, 1, "one")]
    assert backend.client.post("/rounds?project=1").status_code == 200  # empty body, no content type


# ------------------------------------------------------------------ Host allow-list
def test_host_names_are_parsed_without_port():
    assert host_name("Example.org:9090") == "example.org"
    assert host_name("[::1]:9090") == "::1" and host_name("127.0.0.1") == "127.0.0.1"


def test_a_foreign_host_name_gets_400_naming_the_setting(backend, events):
    before = backend.labels()
    r = backend.client.post("/webhook", json=events.created(1, 1, "one"), headers={"Host": "evil.example:9090"})
    assert r.status_code == 400
    assert r.get_json()["error"] == ("Host 'evil.example' is not allowed: add it to MODELPICKER_ALLOWED_HOSTS "
                                     "(comma-separated; '*' turns the check off)")
    assert backend.labels() == before
    for host in ("localhost:9090", "127.0.0.1:9090", "10.1.2.3", "[::1]:9090", "backend:9090"):
        assert backend.client.get("/rankings?project=1", headers={"Host": host}).status_code == 200, host


def test_configured_hosts_and_the_wildcard(backend_factory):
    b = backend_factory(MODELPICKER_ALLOWED_HOSTS="ml.example.org")
    assert b.client.get("/health", headers={"Host": "ml.example.org"}).status_code == 200
    assert b.client.get("/health", headers={"Host": "other.example.org"}).status_code == 400
    b = backend_factory(MODELPICKER_ALLOWED_HOSTS="*")
    assert b.client.get("/health", headers={"Host": "other.example.org"}).status_code == 200


def test_check_host_defaults():
    allowed = allowed_hosts((), "0.0.0.0")
    assert {"localhost", "backend"} <= allowed and "0.0.0.0" not in allowed
    check_host("ml.internal", allowed_hosts(("ml.internal",), "127.0.0.1"))
    with pytest.raises(RequestError):
        check_host("", allowed)


# ------------------------------------------------------------------ size
class _Stream:
    def __init__(self, total: int):
        self.left = total

    def read(self, size=-1):
        n = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= n
        return b"x" * n


def test_capped_input_reads_at_most_the_limit_plus_a_chunk():
    stream = _Stream(10 * 2**20)
    with pytest.raises(RequestError) as caught:
        CappedInput(stream, 1).read()
    assert caught.value.status == 413 and "MODELPICKER_MAX_BODY_MB" in caught.value.message
    assert 10 * 2**20 - stream.left <= 2**20 + 64 * 1024
    assert CappedInput(_Stream(2**20), 1).read() == b"x" * 2**20  # exactly the limit passes


def _chunked_post(url: str, total_mb: int, extra_headers: str = "") -> tuple[int | None, int, bytes]:
    """POST ``total_mb`` MB as chunked JSON-ish bytes over a raw socket; stop sending once the server answers.

    Returns (status or None, bytes sent, answer bytes).
    """
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  f"Transfer-Encoding: chunked\r\n{extra_headers}\r\n").encode())
    chunk = b"[" + b"1," * 32767 + b"1"  # 64 kB of a JSON array
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    answer = b""
    try:
        while sent < total_mb * 2**20:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(frame)
            sent += len(chunk)
        else:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        while b"\r\n\r\n" not in answer or len(answer) < 200:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    except (TimeoutError, ConnectionResetError):
        pass
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return status, sent, answer


@pytest.mark.parametrize("kind", ["python", "gunicorn"])
def test_a_chunked_body_over_the_limit_gets_413_with_bounded_memory(kind, pool_dir, tmp_path, capsys):
    env = {"MODELPICKER_POOL": str(pool_dir / "pool.yaml"), "MODEL_DIR": str(tmp_path / "state"),
           "MODELPICKER_STRATEGY": "modelpicker", "MODELPICKER_MAX_BODY_MB": "1",
           "MODELPICKER_WORKERS": "1", "MODELPICKER_THREADS": "2"}
    with backend_process.running(kind, env, tmp_path / f"{kind}.log") as server:
        before = server.peak_rss_kb()
        status, sent, answer = _chunked_post(server.url, 200)
        after = server.peak_rss_kb()
        # the server still answers afterwards
        assert requests.get(server.url + "/health", timeout=30).status_code == 200
    with capsys.disabled():
        print(f"\n[chunked {kind}] status {status}, sent {sent / 2**20:.1f} MB of 200 MB before the answer, "
              f"peak RSS {before / 1024:.0f} MB -> {after / 1024:.0f} MB")
    assert status == 413, answer[:300]
    assert b"MODELPICKER_MAX_BODY_MB" in answer
    assert sent < 200 * 2**20  # the server answered before the body ended
    assert after - before < 20 * 1024  # the 1 MB cap holds: not the 200 MB sent


def test_a_chunked_body_under_the_limit_is_read(pool_dir, tmp_path):
    env = {"MODELPICKER_POOL": str(pool_dir / "pool.yaml"), "MODEL_DIR": str(tmp_path / "state"),
           "MODELPICKER_STRATEGY": "modelpicker"}
    with backend_process.running("gunicorn", env, tmp_path / "g.log") as server:
        def body():
            yield b'{"project": "1.1700000000", '
            yield b'"schema": "<View><Text name=\\"text\\" value=\\"$key\\"/><Choices name=\\"label\\" '
            yield b'toName=\\"text\\"><Choice value=\\"zero\\"/><Choice value=\\"one\\"/><Choice value=\\"two\\"/>'
            yield b'</Choices></View>"}'
        r = requests.post(server.url + "/setup", data=body(), headers={"Content-Type": "application/json"},
                          timeout=60)
        assert r.status_code == 200, r.text


# ------------------------------------------------------------------ stalled client
def _stall(port: int, path: str = "/webhook") -> socket.socket:
    """A client that announces 1,000 bytes, sends half and stops."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 1000\r\n\r\n").encode() + b"{" + b" " * 499)
    return sock


def _answer_line(sock: socket.socket) -> bytes:
    data = b""
    try:
        while True:
            part = sock.recv(4096)
            if not part:
                break
            data += part
    except (TimeoutError, ConnectionResetError):
        pass
    sock.close()
    return data.split(b"\r\n", 1)[0]


def test_clients_stalled_mid_body_do_not_freeze_gunicorn(pool_dir, tmp_path, capsys):
    env = {"MODELPICKER_POOL": str(pool_dir / "pool.yaml"), "MODEL_DIR": str(tmp_path / "state"),
           "MODELPICKER_STRATEGY": "modelpicker", "MODELPICKER_WORKERS": "1", "MODELPICKER_THREADS": "2",
           "MODELPICKER_CLIENT_TIMEOUT": "3"}
    with backend_process.running("gunicorn", env, tmp_path / "g.log") as server:
        # one stalled client: another request is answered while the stalled one still waits
        stalled = _stall(server.port)
        time.sleep(0.5)  # let the server pick it up
        started = time.monotonic()
        r = requests.get(server.url + "/rankings?project=1", timeout=60)
        one_wait = time.monotonic() - started
        still_waiting = not select.select([stalled], [], [], 0)[0]
        one_answer = _answer_line(stalled)
        # more stalled clients than threads: each is cut off after the client timeout, then others are served
        many = [_stall(server.port) for _ in range(4)]
        time.sleep(0.5)
        started = time.monotonic()
        r_many = requests.get(server.url + "/health", timeout=60)
        many_wait = time.monotonic() - started
        answers = [_answer_line(sock) for sock in many]
    with capsys.disabled():
        print(f"\n[slow client] gunicorn 1 worker x 2 threads, client timeout 3 s: with 1 client stalled mid-body "
              f"another request answered {r.status_code} after {one_wait:.3f} s (stalled one then got "
              f"{one_answer!r}); with 4 stalled, /health answered {r_many.status_code} after {many_wait:.2f} s, "
              f"the stalled got {answers}")
    assert r.status_code == 404 and still_waiting  # 404: project 1 unknown, answered by the app
    assert one_answer == b"HTTP/1.1 408 REQUEST TIMEOUT"
    assert r_many.status_code == 200
    assert answers == [b"HTTP/1.1 408 REQUEST TIMEOUT"] * 4
