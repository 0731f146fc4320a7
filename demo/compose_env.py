"""``make compose-env``: write ``.env`` with the secrets docker-compose.yml requires and never defaults.

docker-compose.yml uses ``${LS_PASSWORD:?...}``, ``${LS_TOKEN:?...}`` and
``${BACKEND_PASSWORD:?...}``, so ``docker compose up`` stops with a message
until they are set: a shared default password (the compose file once had
``change-me-please`` and a fixed token) would open every installation that kept
it.  This writes random values for the ones missing from ``.env`` (created with
mode 0600; values already there are kept, so running it again changes nothing)
and prints which it added, never the values.
"""
from __future__ import annotations

import os
import secrets
import string
import sys
from pathlib import Path

from .config import REPO_ROOT

_ALPHABET = string.ascii_letters + string.digits


def generators() -> dict[str, str]:
    """A fresh value for each required variable (Label Studio's API token is 40 hex characters)."""
    return {"LS_PASSWORD": "".join(secrets.choice(_ALPHABET) for _ in range(24)),
            "LS_TOKEN": secrets.token_hex(20),
            "BACKEND_PASSWORD": "".join(secrets.choice(_ALPHABET) for _ in range(32))}


def names_in(text: str) -> set[str]:
    return {line.split("=", 1)[0].strip() for line in text.splitlines()
            if "=" in line and not line.lstrip().startswith("#")}


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
    outcome = 'added ' + ', '.join(added) if added else 'already holds LS_PASSWORD, LS_TOKEN and BACKEND_PASSWORD'
    print(f"{path}: {outcome}"
          f" (mode 0600). Connect the model to http://backend:9090 with Authentication Basic, user modelpicker "
          f"and BACKEND_PASSWORD from that file.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
