"""make compose-env: the secrets docker-compose.yml requires, random, kept, mode 0600, never printed."""
from __future__ import annotations

import re
import stat

from demo.compose_env import ensure, main, names_in


def test_the_three_secrets_are_written_once_with_mode_0600(tmp_path, capsys):
    path = tmp_path / ".env"
    assert ensure(path) == ["BACKEND_PASSWORD", "LS_PASSWORD", "LS_TOKEN"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert re.fullmatch(r"[0-9a-f]{40}", values["LS_TOKEN"]) and len(values["BACKEND_PASSWORD"]) == 32
    before = path.read_text()
    assert main([str(path)]) == 0 and path.read_text() == before
    out = capsys.readouterr().out
    assert "already holds" in out and not any(v in out for v in values.values())


def test_values_already_there_are_kept(tmp_path):
    path = tmp_path / ".env"
    path.write_text("# mine\nLS_PASSWORD=my-own\nPOOL=x")
    assert ensure(path) == ["BACKEND_PASSWORD", "LS_TOKEN"]
    text = path.read_text()
    assert "LS_PASSWORD=my-own\n" in text and text.startswith("# mine\n")
    assert names_in(text) == {"LS_PASSWORD", "POOL", "LS_TOKEN", "BACKEND_PASSWORD"}
