"""``DATABASE_URL``: checked, shown without its password, and scrubbed from messages.

The URL is libpq's (``postgresql://user:password@host:port/database?sslmode=require``).
It holds a password, so it never leaves the process whole: :func:`public_url`
is what /health and the logs show, :func:`scrub` cleans any message that might
quote it (a driver's error, an exception text).
"""
from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from .redact import REDACTED, redact_text

SCHEMES = ("postgresql", "postgres")
EXAMPLE = "postgresql://user:password@host:5432/database"


def public_url(url: str) -> str:
    """``postgresql://host:port/database``: no user, password or query (a query may hold a password too)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{urlsplit(url).scheme or 'postgresql'}://{REDACTED}"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _secrets(url: str) -> list[str]:
    """The password of ``url`` (as written and decoded), from its user info and its query."""
    found = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found += [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    except ValueError:
        pass
    return [s for p in found for s in {p, unquote(p)} if s]


def scrub(text: str, url: str | None) -> str:
    """``text`` without the password of ``url`` (and without the user info of any URL in it)."""
    text = redact_text(str(text))
    for secret in sorted(_secrets(url or ""), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def check_url(url: str, name: str = "DATABASE_URL") -> str:
    """``url`` when it is a usable PostgreSQL URL; ValueError naming ``name`` (with no password) otherwise."""
    shown = public_url(url)
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"{name} must be a PostgreSQL URL like {EXAMPLE}, got {shown!r}")
    try:
        _ = parts.port  # urllib checks it on access
    except ValueError:
        raise ValueError(f"{name} has a port that is not a number between 0 and 65535 (like {EXAMPLE})") from None
    if not parts.path.strip("/"):
        raise ValueError(f"{name} must name the database after the host (like {EXAMPLE}), got {shown!r}")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(f"{name} must name the host (like {EXAMPLE}), got {shown!r}")
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: libpq cannot parse it
        reason = scrub(str(exc).strip(), url)
        raise ValueError(f"{name} is not a valid PostgreSQL URL ({reason}), got {shown!r}") from None
    return url
