"""demo.credentials: the admin login is generated once, kept private, and reused."""
from __future__ import annotations

import json
import re
import stat
from dataclasses import replace

import pytest

from demo.config import ConfigError
from demo.credentials import generate, load, load_or_create, save


def test_the_admin_is_created_once_with_mode_0600_and_reused(tmp_path):
    path = tmp_path / "demo" / "admin.json"
    first = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path) == first == load(path)
    assert first.email == "admin@example.com"
    assert re.fullmatch(r"[0-9a-f]{40}", first.token)


def test_generated_passwords_are_random_and_never_look_like_an_option():
    passwords = {generate().password for _ in range(200)}
    assert len(passwords) == 200
    assert all(len(p) == 20 and p.isalnum() for p in passwords)


def test_no_file_is_no_admin(tmp_path):
    assert load(tmp_path / "admin.json") is None


@pytest.mark.parametrize("content", ["not json", json.dumps({"email": "a@b"}),
                                     json.dumps({"email": "a@b", "password": "p", "token": "short"})])
def test_an_unusable_file_is_named_with_the_way_out(tmp_path, content):
    path = tmp_path / "admin.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_or_create(path)
    assert str(path) in str(info.value) and f"remove {tmp_path}" in str(info.value)


def test_the_personal_token_is_kept_with_the_login(tmp_path):
    path = tmp_path / "admin.json"
    admin = load_or_create(path)
    assert admin.personal_token == ""
    save(path, replace(admin, personal_token="a.b.c"))
    assert load(path) == replace(admin, personal_token="a.b.c")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_backend_login_is_generated_kept_and_added_to_older_files(tmp_path):
    path = tmp_path / "admin.json"
    admin = load_or_create(path)
    assert admin.backend_user == "modelpicker" and len(admin.backend_password) == 32
    assert admin.backend_password.isalnum() and admin.backend_password != admin.password
    assert load_or_create(path).backend_password == admin.backend_password
    older = {"email": "a@b.c", "password": "pw", "token": "0" * 40}  # a file written before issue 11
    path.write_text(json.dumps(older))
    upgraded = load_or_create(path)
    assert len(upgraded.backend_password) == 32 and json.loads(path.read_text())["backend_password"] == \
        upgraded.backend_password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
