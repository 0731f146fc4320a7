"""Request-level limits, checked before a view reads anything: Host, body size, content type, origin.

Why each exists (issue 11):

* **Body size, chunked included.**  Werkzeug 2.0 applies ``MAX_CONTENT_LENGTH``
  to form parsing only, and a body sent with ``Transfer-Encoding: chunked``
  has no ``Content-Length`` to compare: 600 MB drove the process to 2.5 GB.
  :class:`CappedInput` wraps the WSGI input stream, so whoever reads the body
  (``request.get_data``) gets a 413 naming ``MODELPICKER_MAX_BODY_MB`` as soon
  as more than the limit arrived; memory stays bounded by the limit.
* **JSON bodies only.**  A browser may post ``text/plain``, forms and multipart
  to any address without a CORS preflight; ``application/json`` needs one, which
  this backend never grants.  So any web page a Label Studio user visits could
  post webhooks unless such bodies are refused (415).
* **Host allow-list.**  DNS rebinding makes an attacker's host name resolve to
  this backend, so the browser treats it as the attacker's origin; the
  ``Host`` header then carries the attacker's name.  IP literals cannot be
  rebound (the page's origin is then the backend itself), so they pass.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from .errors import RequestError

#: read size of the capped stream when the caller asks for "everything"
_CHUNK = 64 * 1024
#: host names accepted in the Host header whatever MODELPICKER_ALLOWED_HOSTS says
DEFAULT_HOSTS = ("localhost", "backend")
#: bind addresses that mean "every interface" (not a name a client would send)
_ANY = ("0.0.0.0", "::", "[::]", "")
#: body methods whose body must be JSON
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def too_large(limit_mb: int) -> RequestError:
    return RequestError(413, f"Request Entity Too Large: the body exceeds {limit_mb} MB (MODELPICKER_MAX_BODY_MB)")


def _read_error(exc: BaseException) -> RequestError:
    """What a failed read of the body means for the client (never a 500: the client caused it)."""
    if isinstance(exc, (BlockingIOError, TimeoutError, socket.timeout)):
        # SO_RCVTIMEO (backend.gunicorn_conf) expired: the client stopped sending mid-body
        return RequestError(408, "Request Timeout: the body stopped arriving (MODELPICKER_CLIENT_TIMEOUT)")
    return RequestError(400, f"the request body could not be read ({type(exc).__name__}: broken chunked "
                             f"framing or a client that went away)")


def _guarded(read):
    """``read`` with every transport failure turned into :func:`_read_error`'s 4xx."""
    def call(*args):
        try:
            return read(*args)
        except RequestError:
            raise
        except Exception as exc:  # gunicorn's ParseException subclasses, OSError, Werkzeug's IOError/ValueError
            raise _read_error(exc) from None
    return call


class CappedInput:
    """A WSGI input stream that raises a 413 :class:`RequestError` once more than ``limit`` bytes were read.

    Reads of "everything" (``read()``, ``read(-1)``) go in 64 kB chunks, so at
    most ``limit`` + 64 kB is ever held, however the client frames the body.
    """

    def __init__(self, stream, limit_mb: int):
        self._stream, self._limit_mb = stream, limit_mb
        self._limit, self._seen = limit_mb * 2**20, 0

    def _raw_read(self, size: int) -> bytes:
        return _guarded(self._stream.read)(size)

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._limit:
            raise too_large(self._limit_mb)
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self._count(self._raw_read(min(size, self._limit - self._seen + 1)))
        parts = []
        while True:
            chunk = self._count(self._raw_read(_CHUNK))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def readline(self, size: int | None = -1) -> bytes:
        room = self._limit - self._seen + 1
        return self._count(_guarded(self._stream.readline)(room if size is None or size < 0 else min(size, room)))

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class LimitBody:
    """WSGI middleware: every request's ``wsgi.input`` becomes a :class:`CappedInput`.

    Wrapping the stream (rather than checking ``Content-Length``) is what makes
    the limit hold for chunked bodies, under Werkzeug's server and gunicorn alike.
    """

    def __init__(self, app, limit_mb):
        """``limit_mb``: the limit in MB, or a function returning it (read per request, so a
        re-created app with other settings needs no second wrapper)."""
        self.app, self.limit_mb = app, limit_mb

    def __call__(self, environ, start_response):
        limit = self.limit_mb() if callable(self.limit_mb) else self.limit_mb
        environ["wsgi.input"] = CappedInput(environ["wsgi.input"], limit)
        return self.app(environ, start_response)


def has_body(method: str, content_length: int | None, transfer_encoding: str | None) -> bool:
    """Whether a request carries a body: a non-zero length, or chunked framing."""
    if method not in BODY_METHODS:
        return False
    if content_length is not None:
        return content_length > 0
    return bool(transfer_encoding and "chunked" in transfer_encoding.lower())


def check_content_type(method: str, mimetype: str, content_length: int | None,
                       transfer_encoding: str | None) -> None:
    """A 415 unless a request with a body declares ``application/json`` (any charset)."""
    if not has_body(method, content_length, transfer_encoding):
        return
    if mimetype != "application/json":
        shown = mimetype or "none"
        raise RequestError(415, f"Unsupported Media Type: request bodies must be application/json, "
                                f"got Content-Type {shown}")


def host_name(host_header: str) -> str:
    """The host of a ``Host`` header, without its port, lower case (IPv6 literals keep their brackets off)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_hosts(configured: Iterable[str], bind_host: str) -> frozenset[str]:
    """The host names accepted: the defaults, this machine's name, the bind name and the configured ones."""
    names = set(DEFAULT_HOSTS) | {h.lower() for h in configured}
    try:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    except OSError:  # pragma: no cover - a machine without a name
        pass
    if bind_host.lower() not in _ANY:
        names.add(host_name(bind_host))
    return frozenset(n for n in names if n)


def check_host(host_header: str | None, allowed: frozenset[str]) -> None:
    """A 400 naming ``MODELPICKER_ALLOWED_HOSTS`` unless the Host header names an allowed host or an IP."""
    if "*" in allowed:
        return
    name = host_name(host_header or "")
    if not name:
        raise RequestError(400, "the request has no Host header")
    if _is_ip(name) or name in allowed:
        return
    raise RequestError(400, f"Host {name[:100]!r} is not allowed: add it to MODELPICKER_ALLOWED_HOSTS "
                            f"(comma-separated; '*' turns the check off)")
