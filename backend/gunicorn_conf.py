"""gunicorn settings of the production server: ``gunicorn -c python:backend.gunicorn_conf backend.wsgi:app``.

Why each value (issue 11: the README's one sync worker answered 85% of
webhooks after Label Studio's 1 s timeout, and one client stalled mid-body
froze it for 33 s):

* ``gthread`` workers, :func:`workers` processes (2 x cores, at most 8) with
  :func:`threads` threads each: a request waiting on SQLite or Label Studio
  holds a thread, not a process.  ``MODELPICKER_WORKERS`` / ``MODELPICKER_THREADS``
  override them.
* Slow clients: the listening sockets get ``SO_RCVTIMEO`` =
  ``MODELPICKER_CLIENT_TIMEOUT`` seconds (default 10), which Linux copies to
  every accepted connection; a client that stops sending mid-headers or
  mid-body frees its thread after that long (the body reader answers 408,
  :class:`backend.request_limits.CappedInput`) while other requests are served;
  ``SO_SNDTIMEO`` likewise bounds a client that stops reading its answer.
  gunicorn 27's gthread worker only bounds the wait for a request's first byte.
* ``timeout`` 120 s (a worker whose main loop is stuck that long is replaced),
  ``graceful_timeout`` 30 s (requests in flight finish on SIGTERM), ``keepalive`` 5 s.
* The access log has no header fields (no ``Authorization``, no cookies) and
  the request line only.
* It refuses to bind beyond loopback without credentials, exactly like
  ``python -m backend`` (:func:`backend.settings.check_bind`), whatever
  ``--bind`` says.

``HOST``/``PORT`` give the bind address as for ``python -m backend``.
"""
from __future__ import annotations

import os
import socket
import struct
import sys

from backend.settings import SettingsError, check_bind, from_env

_settings = from_env()


def _positive_int(name: str, default: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        sys.exit(f"gunicorn: {name} must be an integer from 1 to {high}, got {raw!r}")
    return int(raw)


def workers_for(cores: int) -> int:
    """Two processes per core, at most 8: SQLite and the GIL make more pay nothing on one machine."""
    return max(1, min(2 * cores, 8))


def _host_port(host: str, port: int) -> str:
    return f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"


bind = [_host_port(_settings.host, _settings.port)]
worker_class = "gthread"
workers = _positive_int("MODELPICKER_WORKERS", workers_for(os.cpu_count() or 1), 64)
threads = _positive_int("MODELPICKER_THREADS", 4, 64)
#: seconds a client may stay silent mid-request before its connection is dropped
client_timeout = _positive_int("MODELPICKER_CLIENT_TIMEOUT", 10, 3600)
timeout = 120
graceful_timeout = 30
keepalive = 5
# request line and header limits (gunicorn's defaults, stated): a longer line or header gets 400
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
loglevel = _settings.log_level.lower()
accesslog = "-"
errorlog = "-"
# remote address, request line (path and query: no secrets), status, size, duration; never a header
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# the backend answers for itself; no proxy headers are trusted
forwarded_allow_ips = ""
# gunicorn 27's run-time control socket (~/.gunicorn/gunicorn.ctl) is not used: several servers on one
# machine (tests, a demo next to production) would share its path
control_socket_disable = True


def on_starting(server) -> None:
    """Stop before binding when an address is beyond loopback and the backend has no credentials."""
    for address in server.cfg.address:
        if isinstance(address, tuple):
            try:
                check_bind(_settings, str(address[0]))
            except SettingsError as exc:
                print(f"backend: {exc}", file=sys.stderr, flush=True)
                sys.exit(2)
    if not _settings.auth_enabled:
        server.log.info("authentication: off (no BASIC_AUTH_USER/BASIC_AUTH_PASS)%s",
                        "" if _settings.loopback_only else ", MODELPICKER_ALLOW_UNAUTHENTICATED=true")
    else:
        server.log.info("authentication: HTTP basic auth required on every route (user %r)",
                        _settings.basic_auth_user)


def when_ready(server) -> None:
    """Give the listening sockets receive and send timeouts; accepted connections inherit them (Linux).

    Receive: a client silent mid-request; send: a client that stops reading its answer.
    """
    value = struct.pack("ll", client_timeout, 0)
    for listener in server.LISTENERS:
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        listener.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
