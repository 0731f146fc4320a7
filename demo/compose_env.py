"""``make compose-env``: write ``.env`` with the secrets docker-compose.yml requires and never defaults.

docker-compose.yml uses ``${NAME:?...}`` for each of :data:`SECRETS`, so
``docker compose up`` stops with a message until they are set: a shared
default password (the compose file once had ``change-me-please`` and a fixed
token) would open every installation that kept it.  This writes random values
for the ones missing from ``.env`` (created with mode 0600; values already
there are kept, so running it again changes nothing) and prints which it
added, never the values.

The three database passwords are set in PostgreSQL on the first start only
(deploy/postgres/create-databases.sh, on an empty volume): adding one later
does not change a role that already exists.  ``BACKEND_DB_PASSWORD`` is
written into ``DATABASE_URL`` as it is, so a value of one's own must be
letters and digits (this warns otherwise).
"""
from __future__ import annotations

import os
import secrets
import string
import sys
from pathlib import Path

from .config import REPO_ROOT

_ALPHABET = string.ascii_letters + string.digits

#: every secret docker-compose.yml requires, and what it is
SECRETS = {
    "LS_PASSWORD": "Label Studio's admin password",
    "LS_TOKEN": "Label Studio's admin API token (40 hex characters), also the backend's",
    "BACKEND_PASSWORD": "the backend's basic auth password",
    "POSTGRES_PASSWORD": "PostgreSQL's superuser password",
    "LS_DB_PASSWORD": "the password of Label Studio's database role",
    "BACKEND_DB_PASSWORD": "the password of the backend's database role (in DATABASE_URL)",
}
#: secrets that end up inside a URL unencoded
URL_SAFE = ("BACKEND_DB_PASSWORD",)


def _password(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generators() -> dict[str, str]:
    """A fresh value for each required variable (Label Studio's API token is 40 hex characters)."""
    return {"LS_PASSWORD": _password(24),
            "LS_TOKEN": secrets.token_hex(20),
            "BACKEND_PASSWORD": _password(32),
            "POSTGRES_PASSWORD": _password(32),
            "LS_DB_PASSWORD": _password(32),
            "BACKEND_DB_PASSWORD": _password(32)}


def values_in(text: str) -> dict[str, str]:
    """``NAME=value`` lines of a .env text (comments skipped; the last assignment wins, as compose's)."""
    found = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            found[name.strip()] = value.strip()
    return found


def names_in(text: str) -> set[str]:
    return set(values_in(text))


def unsafe_in_url(text: str) -> list[str]:
    """The :data:`URL_SAFE` secrets of ``text`` holding anything but letters and digits."""
    values = values_in(text)
    return [name for name in URL_SAFE if name in values and not values[name].strip("'\"").isalnum()]


def ensure(path: Path) -> list[str]:
    """Add the missing secrets to ``path`` (mode 0600); the names added."""
    text = path.read_text() if path.exists() else ""
    missing = {k: v for k, v in generators().items() if k not in names_in(text)}
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{k}={v}\n" for k, v in missing.items())
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    return sorted(missing)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else REPO_ROOT / ".env"
    added = ensure(path)
    outcome = "added " + ", ".join(added) if added else "already holds " + ", ".join(SECRETS)
    print(f"{path}: {outcome}"
          f" (mode 0600). Connect the model to http://backend:9090 with Authentication Basic, user modelpicker "
          f"and BACKEND_PASSWORD from that file.")
    for name in unsafe_in_url(path.read_text()):
        print(f"{path}: warning: {name} holds characters other than letters and digits; it is written into "
              f"DATABASE_URL as it is, so the backend may not log in (delete the line and run make compose-env "
              f"again, before the first docker compose up)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
