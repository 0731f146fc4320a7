"""The demo admin's login and API tokens: generated on the first run, kept for the next ones.

Label Studio creates its admin (and fixes the admin's legacy API token) only on
the first start of a data directory, so the password and token must survive
between runs: they live in ``<demo dir>/admin.json``, readable by this user
only, next to the Label Studio data they belong to.  The admin's Personal
Access Token (the kind of token Label Studio 1.23.2 hands out by default, which
the backend is given) is made through Label Studio's API on the first run and
kept there too, and so is the backend's basic-auth login (``backend_user``,
``backend_password``): the demo's backend asks every caller for it, Label
Studio included (issue 11: anyone reaching an open backend could forge labels).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import string
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .config import ADMIN_EMAIL, ConfigError

_ALPHABET = string.ascii_letters + string.digits
_TOKEN = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Admin:
    """Label Studio's demo admin: ``email``/``password`` for the browser, the legacy ``token`` for the
    demo's own set-up calls, ``personal_token`` (a Personal Access Token; '' until made) for the backend."""

    email: str
    password: str
    token: str
    personal_token: str = ""
    backend_user: str = "modelpicker"
    backend_password: str = ""


def generate(email: str = ADMIN_EMAIL) -> Admin:
    """A fresh admin: 20 random letters and digits (never a leading '-', which ``label-studio start``'s
    argument parser would read as an option) and a 40-hex-character token (Label Studio's format)."""
    password = "".join(secrets.choice(_ALPHABET) for _ in range(20))
    return Admin(email=email, password=password, token=secrets.token_hex(20), backend_password=_password(32))


def _password(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def load(path: Path) -> Admin | None:
    """The admin kept in ``path``, None when the file does not exist; :class:`ConfigError` when unusable."""
    if not path.exists():
        return None
    hint = f"remove {path.parent} to start the demo over with a new Label Studio"
    try:
        data = json.loads(path.read_text())
        admin = Admin(email=str(data["email"]), password=str(data["password"]), token=str(data["token"]),
                      personal_token=str(data.get("personal_token") or ""),
                      backend_user=str(data.get("backend_user") or "modelpicker"),
                      backend_password=str(data.get("backend_password") or ""))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the demo admin from {path} ({exc}); {hint}") from None
    if not admin.password or not _TOKEN.fullmatch(admin.token) or "@" not in admin.email:
        raise ConfigError(f"{path} holds no usable admin (email, password, 40-hex token); {hint}")
    return admin


def save(path: Path, admin: Admin) -> None:
    """Replace ``path`` with ``admin`` atomically, mode 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(admin), handle, indent=2)
    os.replace(tmp, path)


def load_or_create(path: Path) -> Admin:
    """The kept admin, or a new one written to ``path`` with mode 0600 (the file is created that way,
    so the password is never readable by others, not even briefly).  A file from before the backend
    had a login gets one."""
    admin = load(path)
    if admin is not None:
        if not admin.backend_password:
            admin = replace(admin, backend_password=_password(32))
            save(path, admin)
        return admin
    admin = generate()
    save(path, admin)
    return admin
